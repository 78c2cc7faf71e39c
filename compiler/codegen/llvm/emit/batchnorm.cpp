// BatchNorm, inference and training: batchnorm (running statistics), bn_apply, bn_grad_input.
// The pure per-channel reductions (bn_stats, bn_grad_weight, bias_grad) are data
// (ir::ChannelReduction), rendered by channel_reduction.cpp. x is [N, C, H, W]: a channel is N
// contiguous planes of H*W.
//
// - The per-element passes (batchnorm, bn_apply) run over N*C planes, the per-channel scale
//   computed once per plane in double, the plane loop vectorized.
// - bn_grad_input runs over channels: per channel sum(dy) and sum(dy * (x - mean)), accumulated
//   in double (vector lanes of doubles), then one pass for dx = a*dy + b*(x - mean) + c.
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
  double count() const { return static_cast<double>(batch * hw); }
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

// For each channel c of [begin, end): zeroes the double accumulators, calls start(c), then
// element(plane_offset, p) for every element plane_offset + p of the channel (plane by plane,
// the plane loop vectorized as a reduction), then finish(c).
void channel_loop(Builder& b, llvm::Value* begin, llvm::Value* end, const Geometry& g,
                  llvm::ArrayRef<llvm::AllocaInst*> accumulators, llvm::function_ref<void(llvm::Value* c)> start,
                  llvm::function_ref<void(llvm::Value* plane_offset, llvm::Value* p)> element,
                  llvm::function_ref<void(llvm::Value* c)> finish) {
  emit_for(b, "c", begin, end, i64(b, 1), [&](llvm::Value* c) {
    for (auto* acc : accumulators) b.CreateStore(f64(b, 0), acc);
    start(c);
    emit_for(b, "n", 0, g.batch, 1, [&](llvm::Value* n) {
      llvm::Value* offset = b.CreateMul(b.CreateAdd(b.CreateMul(n, i64(b, g.channels)), c), i64(b, g.hw), "offset");
      emit_for(b, "p", 0, g.hw, 1, [&](llvm::Value* p) { element(offset, p); }, kReduce);
    }, kOuter);
    finish(c);
  }, kOuter);
}

void accumulate(Builder& b, llvm::AllocaInst* acc, llvm::Value* v) {
  b.CreateStore(reduce_add(b, b.CreateLoad(b.getDoubleTy(), acc), v), acc);
}

// bn_grad_input: dy, x, stats, weight -> dx. With n = N*H*W, invstd = 1/sqrt(var + eps),
// a = weight * invstd:
//   dx = a*dy - a*sum(dy)/n - a*invstd^2*sum(dy*(x-mean))/n * (x - mean).
void emit_grad_input(KernelBody& k) {
  const Geometry g = geometry(k.in_shape(1));
  const double eps = k.attrs().eps;
  for_range(
      k, "channels", g.channels, 3 * g.total(), {k.in[0], k.in[1], k.in[2], k.in[3], k.out},
      [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
        llvm::AllocaInst* s_dy = local(b, b.getDoubleTy(), "sum_dy");
        llvm::AllocaInst* s_dyx = local(b, b.getDoubleTy(), "sum_dy_xmu");
        llvm::AllocaInst* mean = local(b, b.getDoubleTy(), "mean");
        channel_loop(
            b, begin, end, g, {s_dy, s_dyx},
            [&](llvm::Value* c) { b.CreateStore(to_f64(b, load_f32(b, a[2], c)), mean); },
            [&](llvm::Value* offset, llvm::Value* p) {
              llvm::Value* i = b.CreateAdd(offset, p);
              llvm::Value* dy = to_f64(b, load_f32(b, a[0], i));
              llvm::Value* d = b.CreateFSub(to_f64(b, load_f32(b, a[1], i)), b.CreateLoad(b.getDoubleTy(), mean));
              accumulate(b, s_dy, dy);
              accumulate(b, s_dyx, b.CreateFMul(dy, d));
            },
            [&](llvm::Value* c) {
              llvm::Value* invstd = inv_std(b, load_f32(b, a[2], b.CreateAdd(c, i64(b, g.channels))), eps);
              llvm::Value* scale = b.CreateFMul(to_f64(b, load_f32(b, a[3], c)), invstd);  // a
              llvm::Value* inv_n = f64(b, 1.0 / g.count());
              llvm::Value* shift =
                  b.CreateFNeg(b.CreateFMul(b.CreateFMul(scale, b.CreateLoad(b.getDoubleTy(), s_dy)), inv_n));
              llvm::Value* slope = b.CreateFNeg(b.CreateFMul(
                  b.CreateFMul(b.CreateFMul(scale, b.CreateFMul(invstd, invstd)), b.CreateLoad(b.getDoubleTy(), s_dyx)),
                  inv_n));
              llvm::Value* a_f = to_f32(b, scale);
              llvm::Value* shift_f = to_f32(b, shift);
              llvm::Value* slope_f = to_f32(b, slope);
              llvm::Value* mean_f = load_f32(b, a[2], c);
              emit_for(b, "n", 0, g.batch, 1, [&](llvm::Value* n) {
                llvm::Value* offset =
                    b.CreateMul(b.CreateAdd(b.CreateMul(n, i64(b, g.channels)), c), i64(b, g.hw), "offset");
                llvm::Value* dy = gep_f32(b, a[0], offset);
                llvm::Value* x = gep_f32(b, a[1], offset);
                llvm::Value* dx = gep_f32(b, a[4], offset);
                emit_for(
                    b, "p", 0, g.hw, 1,
                    [&](llvm::Value* p) {
                      llvm::Value* v = b.CreateFMul(a_f, load_f32(b, dy, p));
                      v = b.CreateFAdd(v, b.CreateFMul(slope_f, b.CreateFSub(load_f32(b, x, p), mean_f)));
                      store_f32(b, b.CreateFAdd(v, shift_f), dx, p);
                    },
                    kVector);
              }, kOuter);
            });
      });
}

}  // namespace

void emit_batchnorm(KernelBody& k) {
  switch (k.kernel.kind) {
    case OpKind::BatchNorm: return emit_inference(k);
    case OpKind::BnApply: return emit_apply(k);
    case OpKind::BnGradInput: return emit_grad_input(k);
    case OpKind::BnStats:
    case OpKind::BnGradWeight:
    case OpKind::BiasGrad: return emit_channel_reduction(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_batchnorm: {} is not a BatchNorm op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
