// flatten, reshape, global_avgpool_grad: flat loops over the elements (split over the thread
// pool by element ranges when large), copies as memcpy, and global_avgpool_grad as each plane
// filled with its one gradient value. (relu, add and relu_grad are fused maps at every level:
// passes/lower_maps.cpp.)
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
    case OpKind::Flatten:
    case OpKind::Reshape: return emit_copy(k);
    case OpKind::GlobalAvgPoolGrad: return emit_global_avgpool_grad(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_elementwise: {} is not an elementwise op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
