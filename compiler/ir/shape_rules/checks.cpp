#include "compiler/ir/shape_rules/checks.h"

#include <fmt/format.h>

#include "compiler/ir/ops.h"

namespace resnetc::ir::shape_rules {
namespace {

// Output extent of a sliding window along one axis; explains itself when it does not fit.
ShapeResult window_extent(const Dims& x, int axis, const Attrs& a, std::string_view what) {
  const char* axis_name = axis == 0 ? "height" : "width";
  int64_t in = x[static_cast<size_t>(2 + axis)];
  int64_t k = a.kernel[axis], s = a.stride[axis], p = a.padding[axis], d = a.dilation[axis];
  if (k < 1) return fail(fmt::format("{} kernel must be at least 1, got {}", what, k));
  if (s < 1) return fail(fmt::format("{} stride must be at least 1, got {}", what, s));
  if (p < 0) return fail(fmt::format("{} padding must not be negative, got {}", what, p));
  if (d < 1) return fail(fmt::format("{} dilation must be at least 1, got {}", what, d));
  if (k > kMaxDim || s > kMaxDim || p > kMaxDim || d > kMaxDim)
    return fail(fmt::format("{} kernel, stride, padding or dilation is larger than 2^31", what));
  // PyTorch's rule: the dilated kernel spans d*(k-1)+1 input rows.
  const int64_t extent = d * (k - 1) + 1;
  int64_t span = in + 2 * p - extent;
  if (span < 0) {
    const std::string kernel = d == 1 ? fmt::format("kernel {}", k) : fmt::format("kernel {} dilated by {}", k, d);
    return fail(fmt::format("{} {} with padding {} does not fit the input {} {} (input {}): "
                            "the output {} would be below 1",
                            what, kernel, p, axis_name, in, format_dims(x), axis_name));
  }
  if (!a.ceil_mode) return {{span / s + 1}, {}};
  // PyTorch's ceil_mode: round up, but the last window must start inside the input or the
  // left padding.
  int64_t out = (span + s - 1) / s + 1;
  if ((out - 1) * s >= in + p) --out;
  return {{out}, {}};
}

ShapeResult infer_window(const Dims& x, const Attrs& a, int64_t channels, std::string_view what) {
  ShapeResult h = window_extent(x, 0, a, what);
  if (!h.ok()) return h;
  ShapeResult w = window_extent(x, 1, a, what);
  if (!w.ok()) return w;
  return {{x[0], channels, h.dims[0], w.dims[0]}, {}};
}

}  // namespace

ShapeResult fail(std::string message) { return {{}, std::move(message)}; }

ShapeResult expect_rank(const Dims& x, size_t rank, std::string_view what) {
  if (x.size() == rank) return {x, {}};
  return fail(fmt::format("{} expects a {}-d input, got {}", what, rank, format_dims(x)));
}

ShapeResult same(const Dims& a, const Dims& b, std::string_view what) {
  if (a == b) return {a, {}};
  return fail(fmt::format("{}: shapes {} and {} differ", what, format_dims(a), format_dims(b)));
}

ShapeResult expect(const Dims& actual, const Dims& wanted, std::string_view what) {
  if (actual == wanted) return {actual, {}};
  return fail(fmt::format("{} has shape {}, expected {}", what, format_dims(actual), format_dims(wanted)));
}

ShapeResult grad_matches(const ShapeResult& forward, const Dims& dy, const Dims& x) {
  if (!forward.ok()) return forward;
  if (forward.dims != dy) return expect(dy, forward.dims, "the incoming gradient");
  return {x, {}};
}

ShapeResult channel_vector(const Dims& v, const Dims& x, std::string_view what) {
  if (x.size() < 2) return fail(fmt::format("{} expects an input with channels, got {}", what, format_dims(x)));
  return expect(v, Dims{x[1]}, what);
}

ShapeResult channel_gate(const Dims& x) {
  if (auto r = expect_rank(x, 4, "a channel gate's input"); !r.ok()) return r;
  return {{x[0], x[1], 1, 1}, {}};
}

ShapeResult conv_output(const Dims& x, const Attrs& a) {
  if (auto r = expect_rank(x, 4, "conv"); !r.ok()) return r;
  int64_t cin = x[1], cout = a.out_channels, g = a.groups;
  if (cout < 1) return fail(fmt::format("conv needs at least 1 output channel, got {}", cout));
  if (cout > kMaxDim) return fail(fmt::format("conv output channels {} are larger than 2^31", cout));
  if (g < 1) return fail(fmt::format("conv groups must be at least 1, got {}", g));
  if (cin % g != 0)
    return fail(fmt::format("conv input channels {} (input {}) do not divide into {} groups", cin,
                            format_dims(x), g));
  if (cout % g != 0)
    return fail(fmt::format("conv output channels {} do not divide into {} groups", cout, g));
  return infer_window(x, a, cout, "conv");
}

ShapeResult pool_output(const Dims& x, const Attrs& a, std::string_view what) {
  if (auto r = expect_rank(x, 4, what); !r.ok()) return r;
  for (int axis = 0; axis < 2; ++axis)
    if (a.padding[axis] > a.kernel[axis] / 2)
      return fail(fmt::format("{} padding {} is more than half the kernel {}", what, a.padding[axis],
                              a.kernel[axis]));
  return infer_window(x, a, x[1], what);
}

// x[:, :, ::s, ::s] keeps ceil(H / s) rows and ceil(W / s) columns, then zero channels follow.
ShapeResult pad_shortcut_output(const Dims& x, const Attrs& a) {
  if (auto r = expect_rank(x, 4, "pad_shortcut"); !r.ok()) return r;
  for (int axis = 0; axis < 2; ++axis)
    if (a.stride[axis] < 1 || a.stride[axis] > kMaxDim)
      return fail(fmt::format("pad_shortcut stride must be 1 to 2^31, got {}", a.stride[axis]));
  if (a.out_channels < x[1] || a.out_channels > kMaxDim)
    return fail(fmt::format("pad_shortcut pads {} input channels (input {}) with zeros, so it needs {} to 2^31 "
                            "output channels, got {}",
                            x[1], format_dims(x), x[1], a.out_channels));
  return {{x[0], a.out_channels, (x[2] + a.stride[0] - 1) / a.stride[0], (x[3] + a.stride[1] - 1) / a.stride[1]}, {}};
}

// The probability of dropping an element or a sample: [0, 1), so 1 / (1 - rate) is finite.
ShapeResult drop_rate(const Dims& x, const Attrs& a, std::string_view what) {
  if (!(a.rate >= 0 && a.rate < 1))
    return fail(fmt::format("{} rate must be in [0, 1), got {}", what, a.rate));
  return {x, {}};
}

ShapeResult batch_statistics(OpKind kind, const Dims& x, const Dims& stats) {
  if (auto r = expect_rank(x, 4, op_kind_name(kind)); !r.ok()) return r;
  return expect(stats, Dims{2, x[1]}, "the batch statistics");
}

ShapeResult logits_and_labels(std::span<const Dims> d) {
  if (auto r = expect_rank(d[0], 2, "softmax cross entropy"); !r.ok()) return r;
  if (auto r = expect(d[1], Dims{d[0][0]}, "the labels"); !r.ok()) return r;
  return {d[0], {}};
}

}  // namespace resnetc::ir::shape_rules
