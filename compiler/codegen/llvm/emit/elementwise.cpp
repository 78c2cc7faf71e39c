// flatten, reshape, bias_grad: copies as memcpy over element ranges (split over the thread pool
// when large), and bias_grad as a per channel sum over contiguous planes. (relu, add and
// relu_grad are fused maps at every level: passes/lower_maps.cpp.)
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/kernel_emitter.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::OpKind;

// out = in0, element for element (flatten, reshape).
void emit_copy(KernelBody& k) {
  const int64_t n = ir::numel(k.out_shape());
  for_range(k, "copy", n, n, {k.in[0], k.out},
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              llvm::Value* bytes = b.CreateMul(b.CreateSub(end, begin), i64(b, 4));
              b.CreateMemCpy(gep_f32(b, a[1], begin), llvm::MaybeAlign(4), gep_f32(b, a[0], begin),
                             llvm::MaybeAlign(4), bytes);
            });
}

// out[c] = the sum of dy[n, c, ...] over every axis but 1.
void emit_bias_grad(KernelBody& k) {
  const ir::Dims& dy = k.in_shape(0);
  const int64_t batch = dy[0], channels = dy[1];
  int64_t inner = 1;
  for (size_t axis = 2; axis < dy.size(); ++axis) inner *= dy[axis];
  const int64_t total = batch * channels * inner;
  Builder& b0 = k.b;
  if (inner == 1) {
    // [N, C]: rows added into the output, vectorized over channels.
    emit_for(b0, "c", 0, channels, 1, [&](llvm::Value* c) { store_f32(b0, f32(b0, 0), k.out, c); }, kVector);
    emit_for(b0, "n", 0, batch, 1, [&](llvm::Value* n) {
      llvm::Value* row = gep_f32(b0, k.in[0], b0.CreateMul(n, i64(b0, channels)));
      emit_for(
          b0, "c", 0, channels, 1,
          [&](llvm::Value* c) { store_f32(b0, b0.CreateFAdd(load_f32(b0, k.out, c), load_f32(b0, row, c)), k.out, c); },
          kVector);
    }, kOuter);
    return;
  }
  // Per channel: each plane summed in float (vectorized), the planes added in double.
  for_range(k, "channels", channels, total, {k.in[0], k.out},
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              llvm::AllocaInst* total_sum = local(b, b.getDoubleTy(), "total");
              llvm::AllocaInst* plane_sum = local(b, b.getFloatTy(), "plane");
              emit_for(b, "c", begin, end, i64(b, 1), [&](llvm::Value* c) {
                b.CreateStore(f64(b, 0), total_sum);
                emit_for(b, "n", 0, batch, 1, [&](llvm::Value* n) {
                  llvm::Value* plane =
                      gep_f32(b, a[0], b.CreateMul(b.CreateAdd(b.CreateMul(n, i64(b, channels)), c), i64(b, inner)));
                  b.CreateStore(f32(b, 0), plane_sum);
                  emit_for(
                      b, "p", 0, inner, 1,
                      [&](llvm::Value* p) {
                        b.CreateStore(reduce_add(b, b.CreateLoad(b.getFloatTy(), plane_sum), load_f32(b, plane, p)),
                                      plane_sum);
                      },
                      kReduce);
                  b.CreateStore(b.CreateFAdd(b.CreateLoad(b.getDoubleTy(), total_sum),
                                             to_f64(b, b.CreateLoad(b.getFloatTy(), plane_sum))),
                                total_sum);
                }, kOuter);
                store_f32(b, to_f32(b, b.CreateLoad(b.getDoubleTy(), total_sum)), a[1], c);
              }, kOuter);
            });
}

}  // namespace

void emit_elementwise(KernelBody& k) {
  switch (k.kernel.kind) {
    case OpKind::Flatten:
    case OpKind::Reshape: return emit_copy(k);
    case OpKind::BiasGrad: return emit_bias_grad(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_elementwise: {} is not an elementwise op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
