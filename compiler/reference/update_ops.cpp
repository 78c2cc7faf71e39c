// The reference update kernels: PyTorch's torch.optim.SGD (dampening 0, no Nesterov, weight
// decay added to the gradient) and BatchNorm2d's running-statistics update.
#include "compiler/reference/ops.h"

namespace resnetc::reference::ops {

void sgd_update(Buffer& param, const TensorRef& grad, double lr, double weight_decay) {
  for (size_t i = 0; i < param.size(); ++i) param[i] -= lr * (grad.data[i] + weight_decay * param[i]);
}

void sgd_momentum_update(Buffer& param, const TensorRef& grad, double lr, Buffer& velocity, double momentum,
                         double weight_decay) {
  // PyTorch sets the buffer to the first step's gradient; with dampening 0 that is the same as
  // starting from a zero velocity.
  for (size_t i = 0; i < param.size(); ++i) {
    velocity[i] = momentum * velocity[i] + grad.data[i] + weight_decay * param[i];
    param[i] -= lr * velocity[i];
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
