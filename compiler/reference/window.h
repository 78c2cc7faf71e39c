#pragma once
// Sliding-window geometry shared by the reference convolution and pooling kernels.
#include <algorithm>
#include <cstdint>

#include "compiler/ir/graph.h"

namespace resnetc::reference::ops {

// A window op reading x [N, C, H, W] and writing y [N, K, OH, OW].
struct Window {
  int64_t batch, in_channels, in_h, in_w;
  int64_t out_channels, out_h, out_w;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;

  Window(const ir::Dims& x, const ir::Dims& y, const ir::Attrs& a)
      : batch(x[0]), in_channels(x[1]), in_h(x[2]), in_w(x[3]),
        out_channels(y[1]), out_h(y[2]), out_w(y[3]),
        kh(a.kernel[0]), kw(a.kernel[1]), sh(a.stride[0]), sw(a.stride[1]), ph(a.padding[0]), pw(a.padding[1]),
        dh(a.dilation[0]), dw(a.dilation[1]) {}

  // The input row (column) that kernel row i (column j) of output row oh (column ow) reads;
  // outside [0, in_h) ([0, in_w)) in the padding.
  int64_t row(int64_t oh, int64_t i) const { return oh * sh - ph + i * dh; }
  int64_t col(int64_t ow, int64_t j) const { return ow * sw - pw + j * dw; }
  bool inside(int64_t r, int64_t c) const { return r >= 0 && r < in_h && c >= 0 && c < in_w; }

  // avgpool's divisor for output (oh, ow), as PyTorch's: the window clipped to the padded
  // input (count_include_pad; kh*kw unless a ceil_mode window hangs past it) or to the input.
  double avg_divisor(int64_t oh, int64_t ow, bool count_include_pad) const {
    const int64_t r0 = row(oh, 0), c0 = col(ow, 0);
    if (count_include_pad)
      return static_cast<double>((std::min(r0 + kh, in_h + ph) - r0) * (std::min(c0 + kw, in_w + pw) - c0));
    return static_cast<double>((std::min(r0 + kh, in_h) - std::max<int64_t>(r0, 0)) *
                               (std::min(c0 + kw, in_w) - std::max<int64_t>(c0, 0)));
  }

  int64_t x_index(int64_t n, int64_t c, int64_t r, int64_t q) const { return ((n * in_channels + c) * in_h + r) * in_w + q; }
  int64_t y_index(int64_t n, int64_t k, int64_t oh, int64_t ow) const {
    return ((n * out_channels + k) * out_h + oh) * out_w + ow;
  }
};

}  // namespace resnetc::reference::ops
