// The reference kernels of the gating ops (sigmoid, silu, channel_mul: squeeze-excitation's
// pieces) and their gradients, in double.
#include <cmath>

#include "compiler/reference/ops.h"

namespace resnetc::reference::ops {

double sigmoid(double x) {
  const double e = std::exp(-std::abs(x));  // never overflows
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

Buffer sigmoid(const TensorRef& x) {
  Buffer y(x.data.size());
  for (size_t i = 0; i < y.size(); ++i) y[i] = sigmoid(x.data[i]);
  return y;
}

Buffer silu(const TensorRef& x) {
  Buffer y(x.data.size());
  for (size_t i = 0; i < y.size(); ++i) y[i] = x.data[i] * sigmoid(x.data[i]);
  return y;
}

Buffer channel_mul(const TensorRef& x, const TensorRef& gate) {
  const int64_t planes = x.dim(0) * x.dim(1), inner = x.dim(2) * x.dim(3);
  Buffer y(x.data.size());
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t e = 0; e < inner; ++e) y[static_cast<size_t>(p * inner + e)] = x[p * inner + e] * gate[p];
  return y;
}

Buffer sigmoid_grad(const TensorRef& dy, const TensorRef& y) {
  Buffer dx(dy.data.size());
  for (size_t i = 0; i < dx.size(); ++i) dx[i] = dy.data[i] * y.data[i] * (1 - y.data[i]);
  return dx;
}

Buffer silu_grad(const TensorRef& dy, const TensorRef& x) {
  Buffer dx(dy.data.size());
  for (size_t i = 0; i < dx.size(); ++i) {
    const double s = sigmoid(x.data[i]);
    dx[i] = dy.data[i] * s * (1 + x.data[i] * (1 - s));
  }
  return dx;
}

Buffer channel_mul_grad_gate(const TensorRef& dy, const TensorRef& x) {
  const int64_t planes = x.dim(0) * x.dim(1), inner = x.dim(2) * x.dim(3);
  Buffer dg(static_cast<size_t>(planes), 0.0);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t e = 0; e < inner; ++e) dg[static_cast<size_t>(p)] += dy[p * inner + e] * x[p * inner + e];
  return dg;
}

}  // namespace resnetc::reference::ops
