// The reference forward kernels (see ops.h for each op's meaning).
#include <cmath>
#include <limits>

#include "compiler/reference/ops.h"
#include "compiler/reference/window.h"

namespace resnetc::reference::ops {

Buffer conv2d(const TensorRef& x, const TensorRef& w, const TensorRef* bias, const ir::Attrs& a,
              const ir::Dims& y_shape) {
  const Window g(x.shape, y_shape, a);
  const int64_t cin_per_group = g.in_channels / a.groups;
  const int64_t cout_per_group = g.out_channels / a.groups;
  Buffer y(static_cast<size_t>(ir::numel(y_shape)));
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t k = 0; k < g.out_channels; ++k) {
      const int64_t c0 = (k / cout_per_group) * cin_per_group;  // the group's first input channel
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          double sum = bias ? (*bias)[k] : 0.0;
          for (int64_t c = 0; c < cin_per_group; ++c)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t r = g.row(oh, i), q = g.col(ow, j);
                if (g.inside(r, q)) sum += x[g.x_index(n, c0 + c, r, q)] * w[((k * cin_per_group + c) * g.kh + i) * g.kw + j];
              }
          y[static_cast<size_t>(g.y_index(n, k, oh, ow))] = sum;
        }
    }
  return y;
}

int64_t window_argmax(const TensorRef& x, const Window& g, int64_t n, int64_t c, int64_t oh, int64_t ow) {
  int64_t best = -1;
  double best_value = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < g.kw; ++j) {
      const int64_t r = g.row(oh, i), q = g.col(ow, j);
      if (!g.inside(r, q)) continue;  // padding is -inf
      const int64_t index = g.x_index(n, c, r, q);
      if (best < 0 || x[index] > best_value || std::isnan(x[index])) {
        best = index;
        best_value = x[index];
      }
    }
  return best;  // never -1: the shape rules keep padding at most half the kernel, and a
                // ceil_mode window starts inside the input
}

Buffer window_reduce(const TensorRef& x, const ir::WindowReduction& r, const ir::Dims& y_shape) {
  using F = ir::WindowReduction::Finalize;
  ir::Attrs window;
  for (int d = 0; d < 2; ++d)
    window.kernel[d] = r.kernel[d], window.stride[d] = r.stride[d], window.padding[d] = r.padding[d];
  const Window g(x.shape, y_shape, window);
  Buffer y(static_cast<size_t>(ir::numel(y_shape)));
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t c = 0; c < g.out_channels; ++c)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          double acc = r.init;
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t row = g.row(oh, i), col = g.col(ow, j);
              if (g.inside(row, col)) acc = scalar_op(r.combine, acc, x[g.x_index(n, c, row, col)]);
            }
          if (r.finalize == F::DivideByArea) acc /= static_cast<double>(g.kh * g.kw);
          if (r.finalize == F::DivideByCount) acc /= g.avg_divisor(oh, ow, r.count_include_pad);
          y[static_cast<size_t>(g.y_index(n, c, oh, ow))] = acc;
        }
  return y;
}

Buffer copy(const TensorRef& x) { return Buffer(x.data.begin(), x.data.end()); }

Buffer linear(const TensorRef& x, const TensorRef& w, const TensorRef* bias) {
  const int64_t batch = x.dim(0), in = x.dim(1), out = w.dim(0);
  Buffer y(static_cast<size_t>(batch * out));
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t o = 0; o < out; ++o) {
      double sum = bias ? (*bias)[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) sum += x[n * in + i] * w[o * in + i];
      y[static_cast<size_t>(n * out + o)] = sum;
    }
  return y;
}

}  // namespace resnetc::reference::ops
