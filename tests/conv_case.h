#pragma once
// One convolution test case, shared by the CPU backend and CUDA emulation suites: the input
// shape, the conv's attributes, and a name for test output.
#include <cstdint>
#include <string>

#include "compiler/ir/graph.h"

namespace resnetc::testing {

struct ConvCase {
  ir::Dims x;  // [N, C, H, W]
  int64_t out = 1;
  int64_t kh = 3, kw = 3, sh = 1, sw = 1, ph = 0, pw = 0, groups = 1;
  bool bias = false;
  int64_t dh = 1, dw = 1;  // dilation

  ir::Attrs attrs() const {
    ir::Attrs a;
    a.out_channels = out;
    a.kernel[0] = kh;
    a.kernel[1] = kw;
    a.stride[0] = sh;
    a.stride[1] = sw;
    a.padding[0] = ph;
    a.padding[1] = pw;
    a.dilation[0] = dh;
    a.dilation[1] = dw;
    a.groups = groups;
    a.bias = bias;
    return a;
  }
  std::string describe() const {
    return ir::format_dims(x) + " -> " + std::to_string(out) + " k" + std::to_string(kh) + "x" + std::to_string(kw) +
           " s" + std::to_string(sh) + "," + std::to_string(sw) + " p" + std::to_string(ph) + "," + std::to_string(pw) +
           " g" + std::to_string(groups) + (bias ? " bias" : "") +
           (dh != 1 || dw != 1 ? " d" + std::to_string(dh) + "," + std::to_string(dw) : "");
  }
};

// A square kernel, stride and padding.
inline ConvCase square_conv(ir::Dims x, int64_t out, int64_t k, int64_t stride, int64_t pad, int64_t groups = 1,
                            bool bias = false) {
  return {std::move(x), out, k, k, stride, stride, pad, pad, groups, bias};
}

}  // namespace resnetc::testing
