#pragma once
// The reference kernels: plain functions in double precision, NCHW row-major, which each kind's
// run function (run.h) calls. Internal to the reference executor; the executor has checked
// every shape before calling.
// Each function's comment gives the op's meaning; compiler/ir/graph.h is the specification.
#include <functional>
#include <span>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/ir/channel_reduction.h"
#include "compiler/ir/update_rule.h"
#include "compiler/ir/row_reduction.h"
#include "compiler/ir/window_reduction.h"

namespace resnetc::reference::ops {

using Buffer = std::vector<double>;

// A read-only view of one value's data with its shape.
struct TensorRef {
  std::span<const double> data;
  const ir::Dims& shape;
  double operator[](int64_t i) const { return data[static_cast<size_t>(i)]; }
  int64_t dim(size_t axis) const { return shape[axis]; }
};

struct Window;

// ---- Helpers shared by forward and backward kernels (forward_ops.cpp) ----
// The index into x of the maximum of max-pooling window (n, c, oh, ow): the first maximum in
// row-major scan order, padding never chosen; a NaN wins (the last NaN), as in PyTorch.
int64_t window_argmax(const TensorRef& x, const Window& g, int64_t n, int64_t c, int64_t oh, int64_t ow);

// ---- Forward (forward_ops.cpp) ----
// y[n,k,oh,ow] = bias[k] + sum over the k's group of channels c and the window (i,j) of
//   x[n, c, oh*sh - ph + i, ow*sw - pw + j] * w[k, c - group start, i, j]; zero padding.
Buffer conv2d(const TensorRef& x, const TensorRef& w, const TensorRef* bias, const ir::Attrs& a,
              const ir::Dims& y_shape);
// A pooling: each output the fold of its window's elements inside the image (padding never takes
// part: a max never sees it, a sum counts it as zero), then finalized, as `r` describes.
Buffer window_reduce(const TensorRef& x, const ir::WindowReduction& r, const ir::Dims& y_shape);
// The same elements in the same order (dropout and drop-path outside training).
Buffer copy(const TensorRef& x);
// y = x W^T + b, W [out, in].
Buffer linear(const TensorRef& x, const TensorRef& w, const TensorRef* bias);

// ---- Backward (backward_ops.cpp) ----
// dx of conv2d, x's shape in a.shape.
Buffer conv2d_grad_input(const TensorRef& dy, const TensorRef& w, const ir::Attrs& a);
// dweight of conv2d, with the weight's shape `w_shape`.
Buffer conv2d_grad_weight(const TensorRef& dy, const TensorRef& x, const ir::Attrs& a, const ir::Dims& w_shape);
// Each window's gradient goes to the first maximum in row-major scan order (as PyTorch).
Buffer maxpool_grad(const TensorRef& dy, const TensorRef& x, const ir::Attrs& a);
Buffer avgpool_grad(const TensorRef& dy, const ir::Attrs& a);
// dx = dy W.
Buffer linear_grad_input(const TensorRef& dy, const TensorRef& w);
// dW = dy^T x.
Buffer linear_grad_weight(const TensorRef& dy, const TensorRef& x);

// ---- Updates (update_rule.cpp): write into their inputs ----
// An update (ir::update_rule) in double: `inputs` read, `written(i)` the buffer of input i that
// the rule stores into.
void update(std::span<const TensorRef> inputs, const std::function<Buffer&(int32_t input)>& written,
            const ir::UpdateRule& rule);

// ---- Pass-made kinds (fused_ops.cpp; the map table's kinds run here too) ----
// The program evaluated at every element of `space` (a map), or summed per channel (a reduce).
Buffer fused(std::span<const TensorRef> inputs, const ir::FusedProgram& program, const ir::Dims& space);
// A per-channel reduction or map (the BatchNorm family's kinds and bias_grad; channel_reduce.cpp):
// [rows, C], or with a map the space's shape.
Buffer channel_reduce(std::span<const TensorRef> inputs, const ir::ChannelReduction& r);
// A loss or its gradient (softmax_cross_entropy, softmax_cross_entropy_grad; row_reduce.cpp):
// [1], or with a map the rows' shape; a label that is no class index throws std::runtime_error.
Buffer row_reduce(std::span<const TensorRef> inputs, const ir::RowReduction& r);
// An arithmetic opcode of the scalar instruction set on a = r[a], b = r[b] and c = r[c] (select's
// third register; a combining opcode has none), in double.
double scalar_op(ir::FusedOpcode code, double a, double b, double c = 0);
// `count` elements of x from element `offset`.
Buffer view(const TensorRef& x, int64_t offset, int64_t count);

}  // namespace resnetc::reference::ops
