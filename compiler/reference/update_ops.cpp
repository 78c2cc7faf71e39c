// The reference update kernels: PyTorch's torch.optim.SGD (dampening 0, weight decay added to
// the gradient, Nesterov or not), torch.optim.AdamW (single-tensor form) and BatchNorm2d's
// running-statistics update.
#include <cmath>

#include "compiler/reference/ops.h"

namespace resnetc::reference::ops {

void sgd_update(Buffer& param, const TensorRef& grad, double lr, double weight_decay) {
  for (size_t i = 0; i < param.size(); ++i) param[i] -= lr * (grad.data[i] + weight_decay * param[i]);
}

void sgd_momentum_update(Buffer& param, const TensorRef& grad, double lr, Buffer& velocity, const ir::Attrs& a) {
  // PyTorch sets the buffer to the first step's gradient; with dampening 0 that is the same as
  // starting from a zero velocity.
  for (size_t i = 0; i < param.size(); ++i) {
    const double d = grad.data[i] + a.weight_decay * param[i];
    velocity[i] = a.momentum * velocity[i] + d;
    param[i] -= lr * (a.nesterov ? d + a.momentum * velocity[i] : velocity[i]);
  }
}

void adamw_update(Buffer& param, const TensorRef& grad, double lr, double t, Buffer& exp_avg, Buffer& exp_avg_sq,
                  const ir::Attrs& a) {
  const double b1 = a.momentum, b2 = a.beta2;
  const double step_size = lr / (1 - std::pow(b1, t));
  const double bias_correction2_sqrt = std::sqrt(1 - std::pow(b2, t));
  for (size_t i = 0; i < param.size(); ++i) {
    const double g = grad.data[i];
    param[i] *= 1 - lr * a.weight_decay;
    exp_avg[i] = b1 * exp_avg[i] + (1 - b1) * g;
    exp_avg_sq[i] = b2 * exp_avg_sq[i] + (1 - b2) * g * g;
    param[i] -= step_size * exp_avg[i] / (std::sqrt(exp_avg_sq[i]) / bias_correction2_sqrt + a.eps);
  }
}

void bn_running_update(Buffer& running_mean, Buffer& running_var, const TensorRef& stats, double momentum,
                       int64_t count) {
  const auto channels = static_cast<int64_t>(running_mean.size());
  const auto n = static_cast<double>(count);
  const double unbias = n / (n - 1);
  for (int64_t c = 0; c < channels; ++c) {
    const auto i = static_cast<size_t>(c);
    running_mean[i] = (1 - momentum) * running_mean[i] + momentum * stats[c];
    running_var[i] = (1 - momentum) * running_var[i] + momentum * stats[channels + c] * unbias;
  }
}

}  // namespace resnetc::reference::ops
