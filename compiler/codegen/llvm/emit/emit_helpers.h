// Small IR-building helpers shared by the memory-bound emitters (batchnorm, elementwise,
// pooling, loss, update): work split over the thread pool or run inline, ifs, scalar locals,
// and the fast-math flags that let the vectorizer reorder a reduction.
#pragma once

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>

#include <string>
#include <string_view>
#include <vector>

#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/codegen/llvm/loops.h"

namespace resnetc::codegen::llvm_backend::emit_helpers {

// Below this many elements touched, a kernel runs on the calling thread: waking the pool
// costs more than the work.
inline constexpr int64_t kParallelMinElements = 16 * 1024;

using RangeBody = llvm::function_ref<void(Builder& b, llvm::Value* begin, llvm::Value* end,
                                          llvm::ArrayRef<llvm::Value*> arrays)>;

// Runs body over [0, n): split over the thread pool when `work` (elements touched) is large
// enough and n > 1, else inline in the kernel with begin = 0, end = n. `arrays` are the values
// the body needs (the kernel's arrays); it gets its own copies of them.
inline void for_range(KernelBody& k, std::string_view name, int64_t n, int64_t work,
                      std::vector<llvm::Value*> arrays, RangeBody body) {
  if (n <= 0) return;
  if (n == 1 || work < kParallelMinElements) {
    body(k.b, i64(k.b, 0), i64(k.b, n), arrays);
    return;
  }
  std::string full = std::string(k.b.GetInsertBlock()->getParent()->getName()) + "." + std::string(name);
  emit_parallel_for(k.b, k.pool, full, i64(k.b, n), arrays, body);
}

// if (cond) then(); at the builder's insertion point; afterwards the builder is after the if.
inline void emit_if(Builder& b, llvm::Value* cond, llvm::function_ref<void()> then) {
  llvm::BasicBlock* here = b.GetInsertBlock();
  llvm::Function* fn = here->getParent();
  auto& ctx = b.getContext();
  llvm::BasicBlock* after = nullptr;
  if (b.GetInsertPoint() != here->end()) {
    after = here->splitBasicBlock(b.GetInsertPoint(), "if.end");
    here->getTerminator()->eraseFromParent();
    b.SetInsertPoint(here);
  } else {
    after = llvm::BasicBlock::Create(ctx, "if.end", fn);
  }
  auto* then_block = llvm::BasicBlock::Create(ctx, "if.then", fn, after);
  b.CreateCondBr(cond, then_block, after);
  b.SetInsertPoint(then_block);
  then();
  b.CreateBr(after);
  after->moveAfter(b.GetInsertBlock());
  b.SetInsertPoint(after, after->getFirstInsertionPt());
}

// A scalar local (an alloca in the entry block, promoted to a register by SROA).
inline llvm::AllocaInst* local(Builder& b, llvm::Type* type, const llvm::Twine& name = "") {
  llvm::BasicBlock& entry = b.GetInsertBlock()->getParent()->getEntryBlock();
  Builder at(&entry, entry.getFirstInsertionPt());
  return at.CreateAlloca(type, nullptr, name);
}

// Flags for the adds of a reduction: reassociation lets the vectorizer keep one partial sum
// per lane.
inline llvm::FastMathFlags reduction_flags() {
  llvm::FastMathFlags flags;
  flags.setAllowReassoc();
  flags.setAllowContract();
  return flags;
}

// a + b with the reduction flags.
inline llvm::Value* reduce_add(Builder& b, llvm::Value* acc, llvm::Value* v) {
  auto* sum = b.CreateFAdd(acc, v);
  if (auto* inst = llvm::dyn_cast<llvm::Instruction>(sum)) inst->setFastMathFlags(reduction_flags());
  return sum;
}

// fpext / fptrunc between float and double.
inline llvm::Value* to_f64(Builder& b, llvm::Value* v) { return b.CreateFPExt(v, b.getDoubleTy()); }
inline llvm::Value* to_f32(Builder& b, llvm::Value* v) { return b.CreateFPTrunc(v, b.getFloatTy()); }
inline llvm::Constant* f64(Builder& b, double v) { return llvm::ConstantFP::get(b.getDoubleTy(), v); }

// Contiguous inner loops: vectorized and interleaved, but not unrolled further (a constant
// trip count would otherwise be unrolled whole, for code size and compile time, not speed).
inline constexpr LoopHints kVector{.vectorize = true, .no_unroll = true};
// Reductions: also four partial sums per lane, so the adds' latency does not bound them.
inline constexpr LoopHints kReduce{.vectorize = true, .interleave = 4, .no_unroll = true};
// Loops over planes, channels, samples and rows: never unrolled (their bodies are loops).
inline constexpr LoopHints kOuter{.no_unroll = true};

}  // namespace resnetc::codegen::llvm_backend::emit_helpers
