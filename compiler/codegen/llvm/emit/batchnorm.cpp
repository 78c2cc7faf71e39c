// BatchNorm, inference and training: batchnorm (running statistics), bn_stats, bn_apply,
// bn_grad_weight, bn_grad_input; and bias_grad, a per-channel sum like theirs. x is
// [N, C, H, W]: a channel is N contiguous planes of H*W.
//
// - The per-element passes (batchnorm, bn_apply) run over N*C planes, the per-channel scale
//   computed once per plane in double, the plane loop vectorized.
// - The reductions (bn_stats, bn_grad_weight, bn_grad_input) run over channels and accumulate
//   in double (vector lanes of doubles): memory-bound either way, and exact enough that the
//   variance of activations with a large mean keeps its digits. bn_stats also shifts by the
//   channel's first element, so sum(d^2) - sum(d)^2/n does not cancel.
// - bn_grad_input: per channel sum(dy) and sum(dy * (x - mean)), then one pass for
//   dx = a*dy + b*(x - mean) + c.
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

// bn_stats: x -> [2, C] mean and biased variance.
void emit_stats(KernelBody& k) {
  const Geometry g = geometry(k.in_shape(0));
  for_range(k, "channels", g.channels, g.total(), {k.in[0], k.out},
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              llvm::AllocaInst* s1 = local(b, b.getDoubleTy(), "sum");
              llvm::AllocaInst* s2 = local(b, b.getDoubleTy(), "squares");
              llvm::AllocaInst* shift = local(b, b.getDoubleTy(), "shift");
              channel_loop(
                  b, begin, end, g, {s1, s2},
                  [&](llvm::Value* c) {  // shift by the channel's first element: x[0, c, 0, 0]
                    b.CreateStore(to_f64(b, load_f32(b, a[0], b.CreateMul(c, i64(b, g.hw)))), shift);
                  },
                  [&](llvm::Value* offset, llvm::Value* p) {
                    llvm::Value* d = b.CreateFSub(to_f64(b, load_f32(b, a[0], b.CreateAdd(offset, p))),
                                                  b.CreateLoad(b.getDoubleTy(), shift));
                    accumulate(b, s1, d);
                    accumulate(b, s2, b.CreateFMul(d, d));
                  },
                  [&](llvm::Value* c) {
                    llvm::Value* mean_d = b.CreateFDiv(b.CreateLoad(b.getDoubleTy(), s1), f64(b, g.count()));
                    llvm::Value* var = b.CreateFSub(b.CreateFDiv(b.CreateLoad(b.getDoubleTy(), s2), f64(b, g.count())),
                                                    b.CreateFMul(mean_d, mean_d));
                    var = b.CreateSelect(b.CreateFCmpOLT(var, f64(b, 0)), f64(b, 0), var);
                    llvm::Value* mean = b.CreateFAdd(b.CreateLoad(b.getDoubleTy(), shift), mean_d);
                    store_f32(b, to_f32(b, mean), a[1], c);
                    store_f32(b, to_f32(b, var), a[1], b.CreateAdd(c, i64(b, g.channels)));
                  });
            });
}

// bn_grad_weight: dy, x, stats -> [C] sum(dy * xhat).
void emit_grad_weight(KernelBody& k) {
  const Geometry g = geometry(k.in_shape(1));
  const double eps = k.attrs().eps;
  for_range(k, "channels", g.channels, 2 * g.total(), {k.in[0], k.in[1], k.in[2], k.out},
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              llvm::AllocaInst* s = local(b, b.getDoubleTy(), "sum");
              llvm::AllocaInst* mean = local(b, b.getDoubleTy(), "mean");
              channel_loop(
                  b, begin, end, g, {s},
                  [&](llvm::Value* c) { b.CreateStore(to_f64(b, load_f32(b, a[2], c)), mean); },
                  [&](llvm::Value* offset, llvm::Value* p) {
                    llvm::Value* i = b.CreateAdd(offset, p);
                    llvm::Value* d = b.CreateFSub(to_f64(b, load_f32(b, a[1], i)), b.CreateLoad(b.getDoubleTy(), mean));
                    accumulate(b, s, b.CreateFMul(to_f64(b, load_f32(b, a[0], i)), d));
                  },
                  [&](llvm::Value* c) {
                    llvm::Value* invstd = inv_std(b, load_f32(b, a[2], b.CreateAdd(c, i64(b, g.channels))), eps);
                    store_f32(b, to_f32(b, b.CreateFMul(b.CreateLoad(b.getDoubleTy(), s), invstd)), a[3], c);
                  });
            });
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

void emit_batchnorm(KernelBody& k) {
  switch (k.kernel.kind) {
    case OpKind::BatchNorm: return emit_inference(k);
    case OpKind::BnStats: return emit_stats(k);
    case OpKind::BnApply: return emit_apply(k);
    case OpKind::BnGradWeight: return emit_grad_weight(k);
    case OpKind::BnGradInput: return emit_grad_input(k);
    case OpKind::BiasGrad: return emit_bias_grad(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_batchnorm: {} is not a BatchNorm op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
