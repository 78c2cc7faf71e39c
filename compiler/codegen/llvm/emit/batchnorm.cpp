// BatchNorm's per-channel affine maps: batchnorm (running statistics) and bn_apply, over N*C
// planes of x [N, C, H, W], the per-channel scale computed once per plane in double, the plane
// loop vectorized. The per-channel reductions (bn_stats, bn_grad_weight, bn_grad_input,
// bias_grad) are data (ir::ChannelReduction), rendered by channel_reduction.cpp.
#include <stdexcept>

#include <fmt/format.h>
#include <llvm/IR/Intrinsics.h>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/kernel_emitter.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::OpKind;

struct Geometry {
  int64_t batch, channels, hw;
  int64_t total() const { return batch * channels * hw; }
};

Geometry geometry(const ir::Dims& x) { return {x[0], x[1], x[2] * x[3]}; }

llvm::Value* sqrt_f64(Builder& b, llvm::Value* v) { return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, v); }

// 1 / sqrt(var + eps) in double, var a float.
llvm::Value* inv_std(Builder& b, llvm::Value* var, double eps) {
  return b.CreateFDiv(f64(b, 1.0), sqrt_f64(b, b.CreateFAdd(to_f64(b, var), f64(b, eps))));
}

// The first element of plane n*C + c of a flat [N, C, H*W] array.
llvm::Value* plane_ptr(Builder& b, llvm::Value* base, llvm::Value* plane_index, int64_t hw) {
  return gep_f32(b, base, b.CreateMul(plane_index, i64(b, hw)), "plane");
}

// y = (x - mean) * scale + shift over every plane, where channel(b, arrays, c) gives the
// channel's float mean, scale and shift.
struct ChannelAffine {
  llvm::Value *mean, *scale, *shift;
};
using ChannelFn = llvm::function_ref<ChannelAffine(Builder&, llvm::ArrayRef<llvm::Value*>, llvm::Value* c)>;

void emit_affine(KernelBody& k, std::vector<llvm::Value*> arrays, ChannelFn channel) {
  const Geometry g = geometry(k.in_shape(0));
  arrays.push_back(k.out);
  // arrays[0] is x, the last the output.
  for_range(k, "planes", g.batch * g.channels, g.total(), arrays,
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              emit_for(b, "plane", begin, end, i64(b, 1), [&](llvm::Value* plane) {
                llvm::Value* c = b.CreateURem(plane, i64(b, g.channels), "c");
                ChannelAffine ch = channel(b, a, c);
                llvm::Value* x = plane_ptr(b, a[0], plane, g.hw);
                llvm::Value* y = plane_ptr(b, a.back(), plane, g.hw);
                emit_for(
                    b, "p", 0, g.hw, 1,
                    [&](llvm::Value* p) {
                      llvm::Value* v = b.CreateFSub(load_f32(b, x, p), ch.mean);
                      store_f32(b, b.CreateFAdd(b.CreateFMul(v, ch.scale), ch.shift), y, p);
                    },
                    kVector);
              }, kOuter);
            });
}

// batchnorm: x, weight, bias, running_mean, running_var.
void emit_inference(KernelBody& k) {
  const double eps = k.attrs().eps;
  emit_affine(k, {k.in[0], k.in[1], k.in[2], k.in[3], k.in[4]},
              [&](Builder& b, llvm::ArrayRef<llvm::Value*> a, llvm::Value* c) {
                llvm::Value* invstd = inv_std(b, load_f32(b, a[4], c), eps);
                llvm::Value* scale = b.CreateFMul(to_f64(b, load_f32(b, a[1], c)), invstd);
                return ChannelAffine{load_f32(b, a[3], c), to_f32(b, scale), load_f32(b, a[2], c)};
              });
}

// bn_apply: x, stats [2, C], weight, bias.
void emit_apply(KernelBody& k) {
  const double eps = k.attrs().eps;
  const int64_t channels = k.in_shape(0)[1];
  emit_affine(k, {k.in[0], k.in[1], k.in[2], k.in[3]}, [&](Builder& b, llvm::ArrayRef<llvm::Value*> a, llvm::Value* c) {
    llvm::Value* var = load_f32(b, a[1], b.CreateAdd(c, i64(b, channels)));
    llvm::Value* scale = b.CreateFMul(to_f64(b, load_f32(b, a[2], c)), inv_std(b, var, eps));
    return ChannelAffine{load_f32(b, a[1], c), to_f32(b, scale), load_f32(b, a[3], c)};
  });
}

}  // namespace

void emit_batchnorm(KernelBody& k) {
  switch (k.kernel.kind) {
    case OpKind::BatchNorm: return emit_inference(k);
    case OpKind::BnApply: return emit_apply(k);
    case OpKind::BnStats:
    case OpKind::BnGradInput:
    case OpKind::BnGradWeight:
    case OpKind::BiasGrad: return emit_channel_reduction(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_batchnorm: {} is not a BatchNorm op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
