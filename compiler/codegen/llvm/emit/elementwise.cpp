// relu, relu_grad, add, flatten, reshape, global_avgpool_grad: flat loops over the elements
// (split over the thread pool by element ranges when large), copies as memcpy, and
// global_avgpool_grad as each plane filled with its one gradient value.
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

// global_avgpool_grad: dy [N, C, 1, 1] -> dx (attrs.shape): dy / (H*W) everywhere in the plane.
void emit_global_avgpool_grad(KernelBody& k) {
  const ir::Dims& x = k.out_shape();
  const int64_t planes = x[0] * x[1], hw = x[2] * x[3];
  for_range(k, "planes", planes, planes * hw, {k.in[0], k.out},
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              emit_for(b, "plane", begin, end, i64(b, 1), [&](llvm::Value* plane) {
                llvm::Value* v = b.CreateFDiv(load_f32(b, a[0], plane), f32(b, static_cast<float>(hw)));
                llvm::Value* dst = gep_f32(b, a[1], b.CreateMul(plane, i64(b, hw)), "dx");
                emit_for(b, "p", 0, hw, 1, [&](llvm::Value* p) { store_f32(b, v, dst, p); }, kVector);
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
    case OpKind::GlobalAvgPoolGrad: return emit_global_avgpool_grad(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_elementwise: {} is not an elementwise op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
