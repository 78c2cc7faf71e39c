// Small helpers over llvm::IRBuilder<> that keep kernel emitters readable: counted loops,
// constants, float-array access, kernel signatures with the attributes the optimizer needs,
// and parallel loops that call back into the CPU thread pool.
//
//   auto* f = make_kernel(module, "saxpy", {{"y", Param::F32Array, n}, {"x", Param::ConstF32Array, n},
//                                           {"a", Param::F32}});
//   llvm::IRBuilder<> b(&f->getEntryBlock());
//   emit_for(b, "i", 0, n, 1, [&](llvm::Value* i) {
//     store_f32(b, b.CreateFAdd(b.CreateFMul(f->getArg(2), load_f32(b, f->getArg(1), i)),
//                               load_f32(b, f->getArg(0), i)), f->getArg(0), i);
//   }, LoopHints{.vectorize = true});
//   b.CreateRetVoid();
//
// LLVM 14 still has typed pointers: an array parameter is `float*`.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <llvm/ADT/ArrayRef.h>
#include <llvm/ADT/STLFunctionalExtras.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

namespace resnetc::codegen::llvm_backend {

using Builder = llvm::IRBuilder<>;

// ---- constants ----
llvm::ConstantInt* i64(Builder& b, int64_t value);
llvm::ConstantInt* i32(Builder& b, int32_t value);
llvm::Constant* f32(Builder& b, float value);

// ---- float arrays ----
// &ptr[index] for a float* ptr; index is any integer Value (i64 preferred) or a C++ integer
// (a constant). inbounds.
llvm::Value* gep_f32(Builder& b, llvm::Value* ptr, llvm::Value* index, const llvm::Twine& name = "");
// ptr[index]. `align` is the alignment in bytes known for that element (4 unless the emitter
// knows better, e.g. 64 for the first element of a 64-byte aligned argument).
llvm::LoadInst* load_f32(Builder& b, llvm::Value* ptr, llvm::Value* index, uint64_t align = 4);
llvm::StoreInst* store_f32(Builder& b, llvm::Value* value, llvm::Value* ptr, llvm::Value* index, uint64_t align = 4);

// Constant-index forms (templates, so that a literal 0 is an index, not a null Value*).
template <std::integral I>
llvm::Value* gep_f32(Builder& b, llvm::Value* ptr, I index, const llvm::Twine& name = "") {
  return gep_f32(b, ptr, i64(b, static_cast<int64_t>(index)), name);
}
template <std::integral I>
llvm::LoadInst* load_f32(Builder& b, llvm::Value* ptr, I index, uint64_t align = 4) {
  return load_f32(b, ptr, i64(b, static_cast<int64_t>(index)), align);
}
template <std::integral I>
llvm::StoreInst* store_f32(Builder& b, llvm::Value* value, llvm::Value* ptr, I index, uint64_t align = 4) {
  return store_f32(b, value, ptr, i64(b, static_cast<int64_t>(index)), align);
}

// ---- kernel signatures ----
// A pointer argument that does not alias any other argument, is not kept after the call, is
// `align` aligned and, when `bytes` > 0, valid for `bytes` bytes (lets LLVM hoist loads out of
// loops and vectorize without runtime checks). readonly for inputs.
void mark_array_arg(llvm::Function* function, unsigned arg, uint64_t bytes, bool readonly, uint64_t align = 64);

struct Param {
  enum Kind {
    F32Array,       // float* noalias nocapture align 64, written (and maybe read)
    ConstF32Array,  // float* noalias nocapture readonly align 64
    F32,            // float
    I64,            // i64
    Opaque,         // i8* (a context, e.g. the thread pool)
  };
  std::string name;
  Kind kind;
  uint64_t elements = 0;  // arrays: the element count (dereferenceable(4 * elements)); 0: unknown
};

// An externally visible `void name(params...)`, nounwind, with the parameters named and
// marked as above, and an empty "entry" block to emit into.
llvm::Function* make_kernel(llvm::Module& module, std::string_view name, std::initializer_list<Param> params);
llvm::Function* make_kernel(llvm::Module& module, std::string_view name, llvm::ArrayRef<Param> params);

// ---- loops ----
struct LoopHints {
  bool vectorize = false;     // llvm.loop.vectorize.enable: vectorize even where the cost model hesitates
  bool no_vectorize = false;  // llvm.loop.vectorize.width 1: keep it scalar
  unsigned vector_width = 0;  // llvm.loop.vectorize.width (implies vectorize); 0: the vectorizer picks
  unsigned interleave = 0;    // llvm.loop.interleave.count; 0: the vectorizer picks
  bool no_unroll = false;     // llvm.loop.unroll.disable
  unsigned unroll = 0;        // llvm.loop.unroll.count; 0: the unroller picks
};

// Emits `for (index = begin; index < end; index += step) body(index)` at the builder's
// insertion point, in the canonical form clang emits (preheader → header with the index phi
// and the exit test → body → latch with the increment and the llvm.loop metadata → exit),
// which LoopRotate, SCEV and the vectorizer understand. The index is an i64; `step` must be
// positive. The body may create blocks and nested loops. Afterwards the builder is at the
// loop's exit block. With constant bounds and begin >= end nothing is emitted.
void emit_for(Builder& b, std::string_view name, llvm::Value* begin, llvm::Value* end, llvm::Value* step,
              llvm::function_ref<void(llvm::Value* index)> body, const LoopHints& hints = {});
void emit_for(Builder& b, std::string_view name, int64_t begin, int64_t end, int64_t step,
              llvm::function_ref<void(llvm::Value* index)> body, const LoopHints& hints = {});

// ---- parallel loops on the CPU thread pool ----
// `declare void @resnetc_parallel_for(i8* pool, i64 n, void (i8*, i64, i64)* fn, i8* ctx)`
// (runtime/cpu/thread_pool.h), which the CPU backend defines for its kernels
// (backends/cpu/cpu_program.cpp); code generation only declares it.
llvm::FunctionCallee declare_parallel_for(llvm::Module& module);

// Runs body over [0, n) in parallel: emits a call to resnetc_parallel_for at the builder's
// insertion point. The body is outlined into `internal void <name>(captured..., i64 begin,
// i64 end)`, emitted by `body` with its own builder, which gets the outlined function's copies
// of `captured` (arguments of the enclosing function keep their noalias/readonly/align/
// dereferenceable attributes there, so the vectorizer sees the same guarantees); a
// `<name>.task(i8* ctx, i64 begin, i64 end)` trampoline unpacks them from a stack struct.
// `pool` is an i8* (null: the global pool).
void emit_parallel_for(Builder& b, llvm::Value* pool, std::string_view name, llvm::Value* n,
                       llvm::ArrayRef<llvm::Value*> captured,
                       llvm::function_ref<void(Builder& body_builder, llvm::Value* begin, llvm::Value* end,
                                               llvm::ArrayRef<llvm::Value*> captured)>
                           body);

}  // namespace resnetc::codegen::llvm_backend
