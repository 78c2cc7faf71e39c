// The optimizer's updates, in place: sgd_update (param), sgd_momentum_update (param and
// velocity, input 3, Nesterov or not), adamw_update (param and its two moments) and
// bn_running_update (running mean and variance), and their groups made by the passes (one
// kernel for many parameters). The learning rate (and AdamW's step count) is read from its [1]
// buffer at run time (the schedule changes it between steps); momentum, weight decay and
// AdamW's betas and eps are constants of the kernel.
//
// A group's members are laid end to end as one index space, split over the thread pool like
// a single update's elements: each range runs every member's loop over the part of the range
// that falls in that member, so small and large members balance across threads.
#include <cmath>
#include <stdexcept>
#include <string_view>

#include <llvm/IR/Intrinsics.h>

#include <fmt/format.h>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/kernel_emitter.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::OpKind;

// One parameter's arrays; velocity is null for plain SGD.
struct SgdMember {
  llvm::Value *param, *grad, *velocity;
};

// Elements [begin, end) of one parameter:
//   plain:    param -= lr * (grad + weight_decay * param)
//   momentum: v = momentum * v + grad + weight_decay * param; param -= lr * v
//   Nesterov: the same v; param -= lr * (grad + weight_decay * param + momentum * v)
void emit_sgd_elements(Builder& b, const ir::Attrs& attrs, llvm::Value* lr, const SgdMember& m, llvm::Value* begin,
                       llvm::Value* end) {
  const float weight_decay = static_cast<float>(attrs.weight_decay);
  const float mu = static_cast<float>(attrs.momentum);
  emit_for(
      b, "i", begin, end, i64(b, 1),
      [&](llvm::Value* i) {
        llvm::Value* p = load_f32(b, m.param, i);
        llvm::Value* g = load_f32(b, m.grad, i);
        if (weight_decay != 0) g = b.CreateFAdd(g, b.CreateFMul(f32(b, weight_decay), p));
        if (m.velocity) {
          llvm::Value* v = b.CreateFAdd(b.CreateFMul(f32(b, mu), load_f32(b, m.velocity, i)), g);
          store_f32(b, v, m.velocity, i);
          g = attrs.nesterov ? b.CreateFAdd(g, b.CreateFMul(f32(b, mu), v)) : v;
        }
        store_f32(b, b.CreateFSub(p, b.CreateFMul(lr, g)), m.param, i);
      },
      kVector);
}

// param, grad, lr[, velocity].
void emit_sgd(KernelBody& k, bool momentum) {
  const int64_t n = ir::numel(k.in_shape(0));
  std::vector<llvm::Value*> arrays{k.in[0], k.in[1], k.in[2]};
  if (momentum) arrays.push_back(k.in[3]);
  for_range(k, "params", n, n, arrays,
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              emit_sgd_elements(b, k.attrs(), load_f32(b, a[2], 0), {a[0], a[1], momentum ? a[3] : nullptr}, begin,
                                end);
            });
}

// Runs member(m, lo, hi) for the part [lo, hi) of [begin, end) that falls in member m, whose
// elements are [offsets[m], offsets[m + 1]) of the group's index space; lo, hi are relative to
// the member (an empty part runs no iteration).
void for_each_member(Builder& b, llvm::Value* begin, llvm::Value* end, const std::vector<int64_t>& offsets,
                     llvm::function_ref<void(size_t m, llvm::Value* lo, llvm::Value* hi)> member) {
  for (size_t m = 0; m + 1 < offsets.size(); ++m) {
    llvm::Value* first = i64(b, offsets[m]);
    llvm::Value* last = i64(b, offsets[m + 1]);
    llvm::Value* lo = b.CreateSelect(b.CreateICmpSGT(begin, first), begin, first);
    llvm::Value* hi = b.CreateSelect(b.CreateICmpSLT(end, last), end, last);
    member(m, b.CreateSub(lo, first), b.CreateSub(hi, first));
  }
}

// lr, then (param, grad[, velocity]) per member.
void emit_sgd_group(KernelBody& k, bool momentum) {
  const size_t stride = momentum ? 3 : 2;
  std::vector<int64_t> offsets{0};
  for (size_t i = 1; i < k.in.size(); i += stride) offsets.push_back(offsets.back() + ir::numel(k.in_shape(i)));
  const int64_t n = offsets.back();
  for_range(k, "params", n, n, k.in,
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              llvm::Value* lr = load_f32(b, a[0], 0);
              for_each_member(b, begin, end, offsets, [&](size_t m, llvm::Value* lo, llvm::Value* hi) {
                const size_t i = 1 + m * stride;
                emit_sgd_elements(b, k.attrs(), lr, {a[i], a[i + 1], momentum ? a[i + 2] : nullptr}, lo, hi);
              });
            });
}

// One parameter's AdamW arrays.
struct AdamwMember {
  llvm::Value *param, *grad, *exp_avg, *exp_avg_sq;
};

// AdamW's per-step scalars from lr and the step count t (float buffers), computed in double once
// per range as PyTorch computes them in Python: step_size = lr / (1 - beta1^t) and
// 1 / sqrt(1 - beta2^t).
struct AdamwScalars {
  llvm::Value *step_size, *inv_bias_correction2_sqrt;  // float
};
AdamwScalars emit_adamw_scalars(Builder& b, const ir::Attrs& a, llvm::Value* lr_array, llvm::Value* step_array) {
  llvm::Value* t = to_f64(b, load_f32(b, step_array, 0));
  auto power = [&](double beta) {  // beta^t = exp(t ln beta), beta in (0, 1)
    return b.CreateUnaryIntrinsic(llvm::Intrinsic::exp, b.CreateFMul(t, f64(b, std::log(beta))));
  };
  llvm::Value* bc1 = b.CreateFSub(f64(b, 1), power(a.momentum));
  llvm::Value* bc2 = b.CreateFSub(f64(b, 1), power(a.beta2));
  llvm::Value* step_size = b.CreateFDiv(to_f64(b, load_f32(b, lr_array, 0)), bc1);
  llvm::Value* inv_sqrt = b.CreateFDiv(f64(b, 1), b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, bc2));
  return {to_f32(b, step_size), to_f32(b, inv_sqrt)};
}

// Elements [begin, end) of one parameter: param *= 1 - lr * weight_decay; m = b1 m + (1 - b1) g;
// v = b2 v + (1 - b2) g^2; param -= step_size * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
void emit_adamw_elements(Builder& b, const ir::Attrs& a, llvm::Value* lr, const AdamwScalars& s, const AdamwMember& m,
                         llvm::Value* begin, llvm::Value* end) {
  llvm::Value* keep = a.weight_decay != 0 ? b.CreateFSub(f32(b, 1), b.CreateFMul(lr, f32(b, static_cast<float>(a.weight_decay))))
                                          : nullptr;
  const float b1 = static_cast<float>(a.momentum), b2 = static_cast<float>(a.beta2);
  emit_for(
      b, "i", begin, end, i64(b, 1),
      [&](llvm::Value* i) {
        llvm::Value* p = load_f32(b, m.param, i);
        if (keep) p = b.CreateFMul(p, keep);
        llvm::Value* g = load_f32(b, m.grad, i);
        llvm::Value* avg = b.CreateFAdd(b.CreateFMul(f32(b, b1), load_f32(b, m.exp_avg, i)),
                                        b.CreateFMul(f32(b, 1 - b1), g));
        llvm::Value* avg_sq = b.CreateFAdd(b.CreateFMul(f32(b, b2), load_f32(b, m.exp_avg_sq, i)),
                                           b.CreateFMul(f32(b, 1 - b2), b.CreateFMul(g, g)));
        store_f32(b, avg, m.exp_avg, i);
        store_f32(b, avg_sq, m.exp_avg_sq, i);
        llvm::Value* denom = b.CreateFAdd(
            b.CreateFMul(b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, avg_sq), s.inv_bias_correction2_sqrt),
            f32(b, static_cast<float>(a.eps)));
        store_f32(b, b.CreateFSub(p, b.CreateFDiv(b.CreateFMul(s.step_size, avg), denom)), m.param, i);
      },
      kVector);
}

// param, grad, lr, step, exp_avg, exp_avg_sq.
void emit_adamw(KernelBody& k) {
  const int64_t n = ir::numel(k.in_shape(0));
  for_range(k, "params", n, 4 * n, {k.in[0], k.in[1], k.in[2], k.in[3], k.in[4], k.in[5]},
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              const AdamwScalars s = emit_adamw_scalars(b, k.attrs(), a[2], a[3]);
              emit_adamw_elements(b, k.attrs(), load_f32(b, a[2], 0), s, {a[0], a[1], a[4], a[5]}, begin, end);
            });
}

// lr, step, then (param, grad, exp_avg, exp_avg_sq) per member.
void emit_adamw_group(KernelBody& k) {
  std::vector<int64_t> offsets{0};
  for (size_t i = 2; i < k.in.size(); i += 4) offsets.push_back(offsets.back() + ir::numel(k.in_shape(i)));
  const int64_t n = offsets.back();
  for_range(k, "params", n, 4 * n, k.in,
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              const AdamwScalars s = emit_adamw_scalars(b, k.attrs(), a[0], a[1]);
              llvm::Value* lr = load_f32(b, a[0], 0);
              for_each_member(b, begin, end, offsets, [&](size_t m, llvm::Value* lo, llvm::Value* hi) {
                const size_t i = 2 + m * 4;
                emit_adamw_elements(b, k.attrs(), lr, s, {a[i], a[i + 1], a[i + 2], a[i + 3]}, lo, hi);
              });
            });
}

// Channels [begin, end) of running_mean, running_var from stats [2, C]: PyTorch's update,
// the batch variance made unbiased by n / (n - 1). `what` names the input in the error for n < 2.
void emit_running_channels(Builder& b, const KernelBody& k, int64_t count, std::string_view what,
                           llvm::Value* mean_out, llvm::Value* var_out, llvm::Value* stats, int64_t channels,
                           llvm::Value* begin, llvm::Value* end) {
  if (count < 2)
    throw std::invalid_argument(fmt::format(
        "{}: the running variance needs more than 1 value per channel, but {} has {}", k.kernel.name, what, count));
  const double m = k.attrs().momentum;
  const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  llvm::Value* keep = f32(b, static_cast<float>(1 - m));
  llvm::Value* take_mean = f32(b, static_cast<float>(m));
  llvm::Value* take_var = f32(b, static_cast<float>(m * unbias));
  emit_for(
      b, "c", begin, end, i64(b, 1),
      [&](llvm::Value* c) {
        llvm::Value* mean = load_f32(b, stats, c);
        llvm::Value* var = load_f32(b, stats, b.CreateAdd(c, i64(b, channels)));
        store_f32(b, b.CreateFAdd(b.CreateFMul(keep, load_f32(b, mean_out, c)), b.CreateFMul(take_mean, mean)),
                  mean_out, c);
        store_f32(b, b.CreateFAdd(b.CreateFMul(keep, load_f32(b, var_out, c)), b.CreateFMul(take_var, var)), var_out,
                  c);
      },
      kVector);
}

// running_mean, running_var, stats [2, C]; n = N*H*W of attrs.shape.
void emit_running_update(KernelBody& k) {
  const ir::Dims& x = k.attrs().shape;
  const int64_t channels = x[1];
  emit_running_channels(k.b, k, x[0] * x[2] * x[3], fmt::format("the input {}", ir::format_dims(x)), k.in[0],
                        k.in[1], k.in[2], channels, i64(k.b, 0), i64(k.b, channels));
}

// (running_mean, running_var, stats) per member; n = attrs.counts[member].
void emit_running_group(KernelBody& k) {
  std::vector<int64_t> offsets{0};
  for (size_t i = 0; i < k.in.size(); i += 3) offsets.push_back(offsets.back() + k.in_shape(i)[0]);
  const int64_t n = offsets.back();
  for_range(k, "channels", n, 6 * n, k.in,  // reads 4 floats per channel, writes 2
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              for_each_member(b, begin, end, offsets, [&](size_t m, llvm::Value* lo, llvm::Value* hi) {
                emit_running_channels(b, k, k.attrs().counts.at(m), fmt::format("member {}", m), a[3 * m],
                                      a[3 * m + 1], a[3 * m + 2], offsets[m + 1] - offsets[m], lo, hi);
              });
            });
}

}  // namespace

void emit_update(KernelBody& k) {
  switch (k.kernel.kind) {
    case OpKind::SgdUpdate: return emit_sgd(k, false);
    case OpKind::SgdMomentumUpdate: return emit_sgd(k, true);
    case OpKind::AdamwUpdate: return emit_adamw(k);
    case OpKind::BnRunningUpdate: return emit_running_update(k);
    case OpKind::SgdUpdateGroup: return emit_sgd_group(k, false);
    case OpKind::SgdMomentumUpdateGroup: return emit_sgd_group(k, true);
    case OpKind::AdamwUpdateGroup: return emit_adamw_group(k);
    case OpKind::BnRunningUpdateGroup: return emit_running_group(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_update: {} is not an update op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
