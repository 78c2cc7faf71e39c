#pragma once
// What a pooling kind computes over each window, as data over the scalar instruction set: the
// accumulator's start, the opcode that folds each element of the window into it, and what is
// done to it at the end. Each backend has one window renderer that renders this
// (codegen/llvm/emit/pooling.cpp, codegen/cuda/emit/pooling.cpp) and the reference interprets it
// (reference/forward_ops.cpp), so none of them names a pooling kind; the kinds' descriptions are
// the family's, compiler/ops/window.cpp.
#include <cstdint>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

struct WindowReduction {
  enum class Finalize : uint8_t {
    None,           // y = the accumulator
    DivideByArea,   // y = it / (kernel height * width): every window counts its whole area
    DivideByCount,  // y = it / the window's count, PyTorch's: the window clipped to the padded
                    // image (count_include_pad) or to the image
  };
  double init;          // the accumulator before the window: -inf (a max) or 0 (a sum)
  FusedOpcode combine;  // acc = combine(acc, x), x each element of the window inside the image,
                        // in row-major order: Max (PyTorch's rule: a NaN wins) or Add
  Finalize finalize;
  bool count_include_pad;  // DivideByCount: clipped to the padded image
  // The window over [N, C, H, W] (a global pooling's: the whole plane, stride 1, no padding).
  int64_t kernel[2], stride[2], padding[2];
  // The window is the whole plane (global pooling): a renderer may reduce each plane as a whole.
  bool whole_plane;
  // The kind is the gradient of this reduction (dy [, x] -> dx): a max's flows to the first
  // maximum of each window, a sum's to every element, divided as `finalize` says.
  bool gradient;
};

// The reduction of an op of a kind whose skeleton is Window, `x` the shape of its input 0 (a
// global pooling's window is that input's plane); throws std::logic_error for any other kind.
WindowReduction window_reduction(OpKind kind, const Attrs& attrs, const Dims& x);

}  // namespace resnetc::ir
