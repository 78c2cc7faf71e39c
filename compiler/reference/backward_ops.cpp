// The reference backward kernels (see ops.h for each op's meaning). Each window kernel walks
// the same loops as its forward kernel and scatters where the forward gathers.
#include <cmath>

#include "compiler/reference/ops.h"
#include "compiler/reference/window.h"

namespace resnetc::reference::ops {

// Calls visit(y, x, w) with the flat indices of every multiply-add of a convolution: output
// element y, input element x and weight element w; taps that fall on padding are skipped.
template <class Visit>
void for_each_conv_tap(const Window& g, const ir::Attrs& a, Visit visit) {
  const int64_t cin_per_group = g.in_channels / a.groups;
  const int64_t cout_per_group = g.out_channels / a.groups;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t k = 0; k < g.out_channels; ++k) {
      const int64_t c0 = (k / cout_per_group) * cin_per_group;
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const int64_t y = g.y_index(n, k, oh, ow);
          for (int64_t c = 0; c < cin_per_group; ++c)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t r = g.row(oh, i), q = g.col(ow, j);
                if (g.inside(r, q))
                  visit(y, g.x_index(n, c0 + c, r, q), ((k * cin_per_group + c) * g.kh + i) * g.kw + j);
              }
        }
    }
}

Buffer conv2d_grad_input(const TensorRef& dy, const TensorRef& w, const ir::Attrs& a) {
  Buffer dx(static_cast<size_t>(ir::numel(a.shape)));
  for_each_conv_tap(Window(a.shape, dy.shape, a), a,
                    [&](int64_t y, int64_t x, int64_t wi) { dx[static_cast<size_t>(x)] += dy[y] * w[wi]; });
  return dx;
}

Buffer conv2d_grad_weight(const TensorRef& dy, const TensorRef& x, const ir::Attrs& a, const ir::Dims& w_shape) {
  Buffer dw(static_cast<size_t>(ir::numel(w_shape)));
  for_each_conv_tap(Window(x.shape, dy.shape, a), a,
                    [&](int64_t y, int64_t xi, int64_t wi) { dw[static_cast<size_t>(wi)] += dy[y] * x[xi]; });
  return dw;
}

Buffer maxpool_grad(const TensorRef& dy, const TensorRef& x, const ir::Attrs& a) {
  const Window g(x.shape, dy.shape, a);
  Buffer dx(x.data.size());
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t c = 0; c < g.out_channels; ++c)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow)
          dx[static_cast<size_t>(window_argmax(x, g, n, c, oh, ow))] += dy[g.y_index(n, c, oh, ow)];
  return dx;
}

Buffer avgpool_grad(const TensorRef& dy, const ir::Attrs& a) {
  const Window g(a.shape, dy.shape, a);
  Buffer dx(static_cast<size_t>(ir::numel(a.shape)));
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t c = 0; c < g.out_channels; ++c)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const double share = dy[g.y_index(n, c, oh, ow)] / g.avg_divisor(oh, ow, a.count_include_pad);
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t r = g.row(oh, i), q = g.col(ow, j);
              if (g.inside(r, q)) dx[static_cast<size_t>(g.x_index(n, c, r, q))] += share;
            }
        }
  return dx;
}

Buffer linear_grad_input(const TensorRef& dy, const TensorRef& w) {
  const int64_t batch = dy.dim(0), out = w.dim(0), in = w.dim(1);
  Buffer dx(static_cast<size_t>(batch * in));
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) dx[static_cast<size_t>(n * in + i)] += dy[n * out + o] * w[o * in + i];
  return dx;
}

Buffer linear_grad_weight(const TensorRef& dy, const TensorRef& x) {
  const int64_t batch = dy.dim(0), out = dy.dim(1), in = x.dim(1);
  Buffer dw(static_cast<size_t>(out * in));
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) dw[static_cast<size_t>(o * in + i)] += dy[n * out + o] * x[n * in + i];
  return dw;
}

}  // namespace resnetc::reference::ops
