// dropout_mask and droppath_mask: x * keep / (1 - rate) with keep drawn by the counter-based
// hash of compiler/ir/random_mask.h, emitted here as the same 32-bit integer operations (so
// the CPU draws the reference's and the GPU's masks); the key is computed once per kernel.
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/ir/random_mask.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::OpKind;
namespace rm = ir::random_mask;

llvm::Value* u32(Builder& b, uint32_t v) { return b.getInt32(v); }

llvm::Value* mix(Builder& b, llvm::Value* x) {
  x = b.CreateXor(x, b.CreateLShr(x, 16));
  x = b.CreateMul(x, u32(b, rm::kMul1));
  x = b.CreateXor(x, b.CreateLShr(x, 15));
  x = b.CreateMul(x, u32(b, rm::kMul2));
  return b.CreateXor(x, b.CreateLShr(x, 16));
}

// Whether counter `index` (an i64) keeps its element or sample.
llvm::Value* keeps(Builder& b, llvm::Value* key, llvm::Value* index, const ir::Attrs& a) {
  llvm::Value* lo = b.CreateTrunc(index, b.getInt32Ty());
  llvm::Value* hi = b.CreateTrunc(b.CreateLShr(index, 32), b.getInt32Ty());
  llvm::Value* bits = mix(b, b.CreateXor(mix(b, b.CreateXor(key, lo)), hi));
  return b.CreateICmpUGE(b.CreateLShr(bits, 8), u32(b, rm::threshold(a.rate)));
}

llvm::Value* masked(Builder& b, llvm::Value* keep, llvm::Value* x, const ir::Attrs& a) {
  return b.CreateSelect(keep, b.CreateFMul(x, f32(b, rm::scale(a.rate))), f32(b, 0));
}

}  // namespace

void emit_random_mask(KernelBody& k) {
  const bool per_sample = k.kernel.kind == OpKind::DropPathMask;
  if (!per_sample && k.kernel.kind != OpKind::DropoutMask)
    throw std::logic_error(fmt::format("emit_random_mask: {} is not a mask op", ir::op_kind_name(k.kernel.kind)));
  const ir::Attrs& a = k.attrs();
  Builder& b0 = k.b;
  llvm::Value* words = b0.CreateBitCast(k.in[1], b0.getInt32Ty()->getPointerTo(), "rng");
  auto word = [&](int i) {
    return b0.CreateAlignedLoad(b0.getInt32Ty(), b0.CreateConstInBoundsGEP1_64(b0.getInt32Ty(), words, i),
                                llvm::Align(4));
  };
  llvm::Value* key = mix(b0, b0.CreateXor(word(0), mix(b0, b0.CreateXor(word(1), mix(b0, u32(b0, static_cast<uint32_t>(a.salt)))))));

  const ir::Dims& shape = k.out_shape();
  const int64_t total = ir::numel(shape);
  const int64_t per = per_sample ? total / shape[0] : 1;  // elements per counter
  const int64_t rows = total / per;
  for_range(k, "rows", rows, total, {k.in[0], k.out, key},
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> arr) {
              llvm::Value* row_key = arr[2];  // the key, captured by value
              if (per == 1) {
                emit_for(b, "i", begin, end, i64(b, 1), [&](llvm::Value* i) {
                  store_f32(b, masked(b, keeps(b, row_key, i, a), load_f32(b, arr[0], i), a), arr[1], i);
                }, kVector);
                return;
              }
              emit_for(b, "n", begin, end, i64(b, 1), [&](llvm::Value* n) {
                llvm::Value* keep = keeps(b, row_key, n, a);
                llvm::Value* src = gep_f32(b, arr[0], b.CreateMul(n, i64(b, per)), "x");
                llvm::Value* dst = gep_f32(b, arr[1], b.CreateMul(n, i64(b, per)), "y");
                emit_for(b, "i", 0, per, 1, [&](llvm::Value* i) {
                  store_f32(b, masked(b, keep, load_f32(b, src, i), a), dst, i);
                }, kVector);
              }, kOuter);
            });
}

}  // namespace resnetc::codegen::llvm_backend
