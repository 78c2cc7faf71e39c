// relu, relu_grad, add, flatten, reshape, bias_grad: flat loops over the elements (split over
// the thread pool by element ranges when large), copies as memcpy, and bias_grad as a per
// channel sum over contiguous planes.
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/kernel_emitter.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::OpKind;

// out[i] = f(in0[i], in1[i]...) for every element, in parallel element ranges when large.
void emit_map(KernelBody& k, llvm::function_ref<llvm::Value*(Builder&, llvm::ArrayRef<llvm::Value*> x)> f) {
  const int64_t n = ir::numel(k.out_shape());
  std::vector<llvm::Value*> arrays(k.in.begin(), k.in.end());
  arrays.push_back(k.out);
  for_range(k, "map", n, n, arrays,
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              emit_for(
                  b, "i", begin, end, i64(b, 1),
                  [&](llvm::Value* i) {
                    std::vector<llvm::Value*> x;
                    for (size_t j = 0; j + 1 < a.size(); ++j) x.push_back(load_f32(b, a[j], i));
                    store_f32(b, f(b, x), a.back(), i);
                  },
                  kVector);
            });
}

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
    case OpKind::Relu:
      return emit_map(k, [](Builder& b, llvm::ArrayRef<llvm::Value*> x) {
        return b.CreateSelect(b.CreateFCmpOGT(x[0], f32(b, 0)), x[0], f32(b, 0));
      });
    case OpKind::ReluGrad:  // dy, y -> dy where y > 0
      return emit_map(k, [](Builder& b, llvm::ArrayRef<llvm::Value*> x) {
        return b.CreateSelect(b.CreateFCmpOGT(x[1], f32(b, 0)), x[0], f32(b, 0));
      });
    case OpKind::Add:
      return emit_map(k, [](Builder& b, llvm::ArrayRef<llvm::Value*> x) { return b.CreateFAdd(x[0], x[1]); });
    case OpKind::Flatten:
    case OpKind::Reshape: return emit_copy(k);
    case OpKind::BiasGrad: return emit_bias_grad(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_elementwise: {} is not an elementwise op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
