// The optimizer's updates, in place: sgd_update (param), sgd_momentum_update (param and
// velocity, input 3) and bn_running_update (running mean and variance). The learning rate is
// read from its [1] buffer at run time (the schedule changes it between steps); momentum and
// weight decay are constants of the kernel.
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/kernel_emitter.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::OpKind;

// param, grad, lr[, velocity]:
//   plain:    param -= lr * (grad + weight_decay * param)
//   momentum: v = momentum * v + grad + weight_decay * param; param -= lr * v
void emit_sgd(KernelBody& k, bool momentum) {
  const int64_t n = ir::numel(k.in_shape(0));
  const float weight_decay = static_cast<float>(k.attrs().weight_decay);
  const float mu = static_cast<float>(k.attrs().momentum);
  std::vector<llvm::Value*> arrays{k.in[0], k.in[1], k.in[2]};
  if (momentum) arrays.push_back(k.in[3]);
  for_range(k, "params", n, n, arrays,
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              llvm::Value* lr = load_f32(b, a[2], 0, 64);
              emit_for(
                  b, "i", begin, end, i64(b, 1),
                  [&](llvm::Value* i) {
                    llvm::Value* p = load_f32(b, a[0], i);
                    llvm::Value* g = load_f32(b, a[1], i);
                    if (weight_decay != 0) g = b.CreateFAdd(g, b.CreateFMul(f32(b, weight_decay), p));
                    if (momentum) {
                      g = b.CreateFAdd(b.CreateFMul(f32(b, mu), load_f32(b, a[3], i)), g);
                      store_f32(b, g, a[3], i);
                    }
                    store_f32(b, b.CreateFSub(p, b.CreateFMul(lr, g)), a[0], i);
                  },
                  kVector);
            });
}

// running_mean, running_var, stats [2, C]: PyTorch's update, the batch variance made
// unbiased by n / (n - 1), n = N*H*W of attrs.shape.
void emit_running_update(KernelBody& k) {
  const ir::Dims& x = k.attrs().shape;
  const int64_t channels = x[1];
  const int64_t count = x[0] * x[2] * x[3];
  if (count < 2)
    throw std::invalid_argument(fmt::format(
        "{}: the running variance needs more than 1 value per channel, but the input {} has 1", k.kernel.name,
        ir::format_dims(x)));
  const double m = k.attrs().momentum;
  const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  Builder& b = k.b;
  llvm::Value* keep = f32(b, static_cast<float>(1 - m));
  llvm::Value* take_mean = f32(b, static_cast<float>(m));
  llvm::Value* take_var = f32(b, static_cast<float>(m * unbias));
  emit_for(
      b, "c", 0, channels, 1,
      [&](llvm::Value* c) {
        llvm::Value* mean = load_f32(b, k.in[2], c);
        llvm::Value* var = load_f32(b, k.in[2], b.CreateAdd(c, i64(b, channels)));
        store_f32(b, b.CreateFAdd(b.CreateFMul(keep, load_f32(b, k.in[0], c)), b.CreateFMul(take_mean, mean)), k.in[0],
                  c);
        store_f32(b, b.CreateFAdd(b.CreateFMul(keep, load_f32(b, k.in[1], c)), b.CreateFMul(take_var, var)), k.in[1],
                  c);
      },
      kVector);
}

}  // namespace

void emit_update(KernelBody& k) {
  switch (k.kernel.kind) {
    case OpKind::SgdUpdate: return emit_sgd(k, false);
    case OpKind::SgdMomentumUpdate: return emit_sgd(k, true);
    case OpKind::BnRunningUpdate: return emit_running_update(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_update: {} is not an update op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
