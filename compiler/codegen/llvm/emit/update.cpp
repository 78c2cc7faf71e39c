// The optimizer's updates, in place: sgd_update (param), sgd_momentum_update (param and
// velocity, input 3) and bn_running_update (running mean and variance), and their groups made
// by the passes (one kernel for many parameters). The learning rate is read from its [1]
// buffer at run time (the schedule changes it between steps); momentum and weight decay are
// constants of the kernel.
//
// A group's members are laid end to end as one index space, split over the thread pool like
// a single update's elements: each range runs every member's loop over the part of the range
// that falls in that member, so small and large members balance across threads.
#include <stdexcept>
#include <string_view>

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
          g = b.CreateFAdd(b.CreateFMul(f32(b, mu), load_f32(b, m.velocity, i)), g);
          store_f32(b, g, m.velocity, i);
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
    case OpKind::BnRunningUpdate: return emit_running_update(k);
    case OpKind::SgdUpdateGroup: return emit_sgd_group(k, false);
    case OpKind::SgdMomentumUpdateGroup: return emit_sgd_group(k, true);
    case OpKind::BnRunningUpdateGroup: return emit_running_group(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_update: {} is not an update op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
