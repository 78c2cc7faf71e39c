#include "compiler/ir/shape_inference.h"

#include <fmt/format.h>

#include <limits>

#include "compiler/ir/ops.h"

namespace resnetc::ir {
namespace {

// Bounds that keep every later size computation (bytes, MACs) inside int64.
constexpr int64_t kMaxDim = int64_t{1} << 31;
constexpr int64_t kMaxElements = int64_t{1} << 40;

ShapeResult fail(std::string message) { return {{}, std::move(message)}; }

std::string check_size(const Dims& dims) {
  int64_t total = 1;
  for (int64_t d : dims) {
    if (d < 1) return fmt::format("shape {} has a dimension below 1", format_dims(dims));
    if (d > kMaxDim) return fmt::format("shape {} has a dimension larger than 2^31", format_dims(dims));
    if (total > kMaxElements / d) return fmt::format("shape {} has more than 2^40 elements", format_dims(dims));
    total *= d;
  }
  return {};
}

ShapeResult expect_rank(const Dims& x, size_t rank, std::string_view what) {
  if (x.size() == rank) return {x, {}};
  return fail(fmt::format("{} expects a {}-d input, got {}", what, rank, format_dims(x)));
}

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

ShapeResult infer_conv(const Dims& x, const Attrs& a) {
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

ShapeResult infer_pool(const Dims& x, const Attrs& a, std::string_view what) {
  if (auto r = expect_rank(x, 4, what); !r.ok()) return r;
  for (int axis = 0; axis < 2; ++axis)
    if (a.padding[axis] > a.kernel[axis] / 2)
      return fail(fmt::format("{} padding {} is more than half the kernel {}", what, a.padding[axis],
                              a.kernel[axis]));
  return infer_window(x, a, x[1], what);
}

// x[:, :, ::s, ::s] keeps ceil(H / s) rows and ceil(W / s) columns, then zero channels follow.
ShapeResult infer_pad_shortcut(const Dims& x, const Attrs& a) {
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

ShapeResult same(const Dims& a, const Dims& b, std::string_view what) {
  if (a == b) return {a, {}};
  return fail(fmt::format("{}: shapes {} and {} differ", what, format_dims(a), format_dims(b)));
}

ShapeResult expect(const Dims& actual, const Dims& wanted, std::string_view what) {
  if (actual == wanted) return {actual, {}};
  return fail(fmt::format("{} has shape {}, expected {}", what, format_dims(actual), format_dims(wanted)));
}

// A backward op's gradient input must be what the forward op would produce from `x`.
ShapeResult grad_matches(const ShapeResult& forward, const Dims& dy, const Dims& x) {
  if (!forward.ok()) return forward;
  if (forward.dims != dy) return expect(dy, forward.dims, "the incoming gradient");
  return {x, {}};
}

ShapeResult channel_vector(const Dims& v, const Dims& x, std::string_view what) {
  if (x.size() < 2) return fail(fmt::format("{} expects an input with channels, got {}", what, format_dims(x)));
  return expect(v, Dims{x[1]}, what);
}

// The [N, C, 1, 1] gate that scales each (n, c) plane of x.
ShapeResult infer_channel_gate(const Dims& x) {
  if (auto r = expect_rank(x, 4, "a channel gate's input"); !r.ok()) return r;
  return {{x[0], x[1], 1, 1}, {}};
}

// A fused program must be straight-line code over registers defined before their use, loading
// inputs that exist and fit the iteration space.
ShapeResult infer_fused(std::span<const Dims> d, const Attrs& a) {
  const Dims& space = a.shape;
  const FusedProgram& p = a.program;
  if (space.size() < 2) return fail(fmt::format("fused: the iteration space {} has no channel axis", format_dims(space)));
  const int64_t channels = space[1];
  const auto count = static_cast<int32_t>(p.instrs.size());
  for (int32_t i = 0; i < count; ++i) {
    const FusedInstr& in = p.instrs[static_cast<size_t>(i)];
    auto bad = [&](std::string_view why) { return fail(fmt::format("fused: instruction r{}: {}", i, why)); };
    if (static_cast<uint8_t>(in.code) > static_cast<uint8_t>(kLastFusedOpcode)) return bad("unknown opcode");
    if ((reads_register_a(in.code) && (in.a < 0 || in.a >= i)) || (reads_register_b(in.code) && (in.b < 0 || in.b >= i)))
      return bad("reads a register not defined before it");
    if (in.code == FusedOpcode::Load || in.code == FusedOpcode::LoadChannel || in.code == FusedOpcode::LoadPlane) {
      if (in.a < 0 || static_cast<size_t>(in.a) >= d.size()) return bad(fmt::format("loads input {}, of {}", in.a, d.size()));
      const Dims& src = d[static_cast<size_t>(in.a)];
      if (in.code == FusedOpcode::Load && numel(src) != numel(space))
        return bad(fmt::format("loads {} elementwise over the space {}", format_dims(src), format_dims(space)));
      if (in.code == FusedOpcode::LoadChannel) {
        const bool row_ok = (src.size() == 1 && src[0] == channels && in.b == 0) ||
                            (src.size() == 2 && src[1] == channels && in.b >= 0 && in.b < src[0]);
        if (!row_ok)
          return bad(fmt::format("loads row {} of {} per channel of {}", in.b, format_dims(src), format_dims(space)));
      }
      if (in.code == FusedOpcode::LoadPlane) {
        const bool plane_ok = (src.size() == 2 || (src.size() == 4 && src[2] == 1 && src[3] == 1)) &&
                              src[0] == space[0] && src[1] == channels;
        if (!plane_ok) return bad(fmt::format("loads {} per sample and channel of {}", format_dims(src), format_dims(space)));
      }
    }
  }
  if (p.results.empty() || (!p.reduce && p.results.size() != 1))
    return fail(fmt::format("fused: a {} has {} results", p.reduce ? "reduction" : "map", p.results.size()));
  for (int32_t r : p.results)
    if (r < 0 || r >= count) return fail(fmt::format("fused: result r{} is not a register", r));
  if (p.reduce) return {{static_cast<int64_t>(p.results.size()), channels}, {}};
  return {space, {}};
}

ShapeResult infer_training(OpKind kind, std::span<const Dims> d, const Attrs& a) {
  switch (kind) {
    case OpKind::DropoutMask:
    case OpKind::DropPathMask:
      if (auto r = expect(d[1], Dims{2}, "the masks' seed and step"); !r.ok()) return r;
      return drop_rate(d[0], a, op_kind_name(kind));
    case OpKind::BnStats:
      if (auto r = expect_rank(d[0], 4, "bn_stats"); !r.ok()) return r;
      return {{2, d[0][1]}, {}};
    case OpKind::BnApply:
    case OpKind::BnGradInput:
    case OpKind::BnGradWeight: {
      const Dims& x = kind == OpKind::BnApply ? d[0] : d[1];
      const Dims& stats = kind == OpKind::BnApply ? d[1] : d[2];
      if (auto r = expect_rank(x, 4, op_kind_name(kind)); !r.ok()) return r;
      if (auto r = expect(stats, Dims{2, x[1]}, "the batch statistics"); !r.ok()) return r;
      if (kind == OpKind::BnApply) {
        for (size_t k = 2; k < 4; ++k)
          if (auto r = channel_vector(d[k], x, "the scale and shift"); !r.ok()) return r;
        return {x, {}};
      }
      if (auto r = same(d[0], x, "gradient and input"); !r.ok()) return r;
      if (kind == OpKind::BnGradWeight) return {{x[1]}, {}};
      if (auto r = channel_vector(d[3], x, "the scale"); !r.ok()) return r;
      return {x, {}};
    }
    case OpKind::SoftmaxCrossEntropy:
    case OpKind::SoftmaxCrossEntropyGrad:
      if (auto r = expect_rank(d[0], 2, "softmax cross entropy"); !r.ok()) return r;
      if (auto r = expect(d[1], Dims{d[0][0]}, "the labels"); !r.ok()) return r;
      return {kind == OpKind::SoftmaxCrossEntropy ? Dims{1} : d[0], {}};
    case OpKind::ConvGradInput: {
      ShapeResult fwd = infer_conv(a.shape, a);
      if (!fwd.ok()) return fwd;
      if (auto r = expect(d[1], param_specs(OpKind::Conv2d, a.shape, a)[0].shape, "the weight"); !r.ok()) return r;
      return grad_matches(fwd, d[0], a.shape);
    }
    case OpKind::ConvGradWeight: {
      ShapeResult fwd = grad_matches(infer_conv(d[1], a), d[0], d[1]);
      if (!fwd.ok()) return fwd;
      return {param_specs(OpKind::Conv2d, d[1], a)[0].shape, {}};
    }
    case OpKind::BiasGrad:
      if (d[0].size() < 2) return fail(fmt::format("bias_grad expects at least 2 axes, got {}", format_dims(d[0])));
      return {{d[0][1]}, {}};
    case OpKind::ReluGrad: return same(d[0], d[1], "relu_grad");
    case OpKind::SigmoidGrad: return same(d[0], d[1], "sigmoid_grad");
    case OpKind::SiluGrad: return same(d[0], d[1], "silu_grad");
    case OpKind::ChannelMulGradGate:
      if (auto r = same(d[0], d[1], "channel_mul_grad_gate"); !r.ok()) return r;
      return infer_channel_gate(d[1]);
    case OpKind::MaxPoolGrad: return grad_matches(infer_pool(d[1], a, "maxpool"), d[0], d[1]);
    case OpKind::AvgPoolGrad: return grad_matches(infer_pool(a.shape, a, "avgpool"), d[0], a.shape);
    case OpKind::GlobalAvgPoolGrad:
      if (auto r = expect_rank(a.shape, 4, "global_avgpool_grad"); !r.ok()) return r;
      return grad_matches({{a.shape[0], a.shape[1], 1, 1}, {}}, d[0], a.shape);
    case OpKind::PadShortcutGrad: {
      if (auto r = expect_rank(d[0], 4, "pad_shortcut_grad"); !r.ok()) return r;
      Attrs forward = a;
      forward.out_channels = d[0][1];
      return grad_matches(infer_pad_shortcut(a.shape, forward), d[0], a.shape);
    }
    case OpKind::Reshape:
      if (numel(d[0]) != numel(a.shape))
        return fail(fmt::format("cannot reshape {} to {}", format_dims(d[0]), format_dims(a.shape)));
      return {a.shape, {}};
    case OpKind::LinearGradInput:
      if (auto r = expect_rank(d[1], 2, "linear_grad_input"); !r.ok()) return r;
      if (auto r = expect(d[0], Dims{d[0].empty() ? 0 : d[0][0], d[1][0]}, "the incoming gradient"); !r.ok()) return r;
      return {{d[0][0], d[1][1]}, {}};
    case OpKind::LinearGradWeight:
      if (auto r = expect_rank(d[0], 2, "linear_grad_weight"); !r.ok()) return r;
      if (auto r = expect_rank(d[1], 2, "linear_grad_weight"); !r.ok()) return r;
      if (d[0][0] != d[1][0]) return fail("linear_grad_weight: gradient and input batch sizes differ");
      return {{d[0][1], d[1][1]}, {}};
    case OpKind::SgdUpdate:
    case OpKind::SgdMomentumUpdate:
      if (auto r = same(d[0], d[1], "parameter and gradient"); !r.ok()) return r;
      if (auto r = expect(d[2], Dims{1}, "the learning rate"); !r.ok()) return r;
      if (kind == OpKind::SgdMomentumUpdate)
        if (auto r = same(d[0], d[3], "parameter and velocity"); !r.ok()) return r;
      return {{}, {}};
    case OpKind::BnRunningUpdate:
      if (auto r = expect_rank(a.shape, 4, "bn_running_update"); !r.ok()) return r;
      // The unbiased variance divides by n - 1 (as its group's rule says too).
      if (const int64_t n = a.shape[0] * a.shape[2] * a.shape[3]; n < 2)
        return fail(fmt::format("a running update needs more than 1 value per channel, got n = {}", n));
      if (auto r = expect(d[0], Dims{a.shape[1]}, "the running mean"); !r.ok()) return r;
      if (auto r = expect(d[1], Dims{a.shape[1]}, "the running variance"); !r.ok()) return r;
      if (auto r = expect(d[2], Dims{2, a.shape[1]}, "the batch statistics"); !r.ok()) return r;
      return {{}, {}};
    case OpKind::Fused: return infer_fused(d, a);
    case OpKind::View:
      if (a.offset < 0 || a.offset + numel(a.shape) > numel(d[0]))
        return fail(fmt::format("view of {} elements at element {} is outside {}", numel(a.shape), a.offset,
                                format_dims(d[0])));
      return {a.shape, {}};
    case OpKind::SgdUpdateGroup:
    case OpKind::SgdMomentumUpdateGroup: {
      const size_t stride = kind == OpKind::SgdUpdateGroup ? 2 : 3;
      if (d.size() < 1 + stride || (d.size() - 1) % stride != 0)
        return fail(fmt::format("{} takes the learning rate then groups of {} inputs, got {} inputs",
                                op_kind_name(kind), stride, d.size()));
      if (auto r = expect(d[0], Dims{1}, "the learning rate"); !r.ok()) return r;
      for (size_t m = 1; m < d.size(); m += stride) {
        if (auto r = same(d[m], d[m + 1], "parameter and gradient"); !r.ok()) return r;
        if (stride == 3)
          if (auto r = same(d[m], d[m + 2], "parameter and velocity"); !r.ok()) return r;
      }
      return {{}, {}};
    }
    case OpKind::BnRunningUpdateGroup: {
      if (d.empty() || d.size() % 3 != 0 || a.counts.size() != d.size() / 3)
        return fail(fmt::format("bn_running_update_group takes groups of 3 inputs and one count each, got {} "
                                "inputs and {} counts",
                                d.size(), a.counts.size()));
      for (size_t m = 0; m < d.size(); m += 3) {
        if (auto r = expect_rank(d[m], 1, "the running mean"); !r.ok()) return r;
        if (auto r = same(d[m], d[m + 1], "running mean and variance"); !r.ok()) return r;
        if (auto r = expect(d[m + 2], Dims{2, d[m][0]}, "the batch statistics"); !r.ok()) return r;
        if (a.counts[m / 3] < 2)
          return fail(fmt::format("a running update needs more than 1 value per channel, got n = {}", a.counts[m / 3]));
      }
      return {{}, {}};
    }
    default: return fail("unknown op kind");
  }
}

ShapeResult infer_unchecked(OpKind kind, std::span<const Dims> data, const Attrs& a) {
  const Dims& x = data[0];
  switch (kind) {
    case OpKind::Conv2d: return infer_conv(x, a);
    case OpKind::BatchNorm: return expect_rank(x, 4, "bn");
    case OpKind::Relu: return {x, {}};
    case OpKind::Sigmoid:
    case OpKind::Silu: return {x, {}};
    case OpKind::ChannelMul: {
      ShapeResult gate = infer_channel_gate(x);
      if (!gate.ok()) return gate;
      if (data[1] != gate.dims)
        return fail(fmt::format("a channel gate of {} must be {} (one value per sample and channel), got {}",
                                format_dims(x), format_dims(gate.dims), format_dims(data[1])));
      return {x, {}};
    }
    case OpKind::Add:
      if (data[0] != data[1])
        return fail(fmt::format("residual add of two different shapes: {} and {}", format_dims(data[0]),
                                format_dims(data[1])));
      return {x, {}};
    case OpKind::MaxPool: return infer_pool(x, a, "maxpool");
    case OpKind::AvgPool: return infer_pool(x, a, "avgpool");
    case OpKind::GlobalAvgPool:
      if (auto r = expect_rank(x, 4, "global avgpool"); !r.ok()) return r;
      return {{x[0], x[1], 1, 1}, {}};
    case OpKind::GlobalMaxPool:
      if (auto r = expect_rank(x, 4, "global maxpool"); !r.ok()) return r;
      return {{x[0], x[1], 1, 1}, {}};
    case OpKind::Flatten: {
      if (x.size() < 2) return fail(fmt::format("flatten expects at least a 2-d input, got {}", format_dims(x)));
      Dims out{x[0], 1};
      for (size_t i = 1; i < x.size(); ++i) out[1] *= x[i];  // bounded: x passed check_size
      return {out, {}};
    }
    case OpKind::Linear:
      if (x.size() != 2)
        return fail(fmt::format("fc expects a 2-d input [N, features], got {}; add `flatten` first",
                                format_dims(x)));
      if (a.out_features < 1) return fail(fmt::format("fc needs at least 1 output, got {}", a.out_features));
      if (a.out_features > kMaxDim) return fail(fmt::format("fc outputs {} are larger than 2^31", a.out_features));
      return {{x[0], a.out_features}, {}};
    case OpKind::PadShortcut: return infer_pad_shortcut(x, a);
    case OpKind::Dropout: return drop_rate(x, a, "dropout");
    case OpKind::DropPath: return drop_rate(x, a, "droppath");
    default: return infer_training(kind, data, a);
  }
  return fail("unknown op kind");
}

}  // namespace

size_t data_input_count(OpKind kind, size_t input_count) {
  if (!is_known_op_kind(kind) || is_variadic(kind)) return input_count;
  return op_info(kind).lead;
}

ShapeResult infer_shape(OpKind kind, std::span<const Dims> data, const Attrs& attrs) {
  if (data.size() != data_input_count(kind, data.size()))
    return fail(fmt::format("{} takes {} data inputs, got {}", op_kind_name(kind), data_input_count(kind, data.size()),
                            data.size()));
  if (data.empty()) return fail(fmt::format("{} takes at least one input", op_kind_name(kind)));
  for (const Dims& d : data)
    if (std::string e = check_size(d); !e.empty()) return fail(e);
  ShapeResult r = infer_unchecked(kind, data, attrs);
  if (r.ok())
    if (std::string e = check_size(r.dims); !e.empty()) return fail(e);
  if (r.ok()) {
    // Parameters must be representable too (a 2^20-channel 1x1 conv has 2^40 weights).
    for (const ParamSpec& p : param_specs(kind, data[0], attrs))
      if (std::string e = check_size(p.shape); !e.empty()) return fail(fmt::format("{} {}", p.suffix, e));
  }
  return r;
}

std::vector<ParamSpec> param_specs(OpKind kind, const Dims& x, const Attrs& a) {
  std::vector<ParamSpec> specs;
  switch (kind) {
    case OpKind::Conv2d:
      specs.push_back({"weight", {a.out_channels, x[1] / a.groups, a.kernel[0], a.kernel[1]}, ValueRole::Parameter});
      if (a.bias) specs.push_back({"bias", {a.out_channels}, ValueRole::Parameter});
      break;
    case OpKind::BatchNorm:
      specs.push_back({"weight", {x[1]}, ValueRole::Parameter});
      specs.push_back({"bias", {x[1]}, ValueRole::Parameter});
      specs.push_back({"running_mean", {x[1]}, ValueRole::State});
      specs.push_back({"running_var", {x[1]}, ValueRole::State});
      break;
    case OpKind::Linear:
      specs.push_back({"weight", {a.out_features, x[1]}, ValueRole::Parameter});
      if (a.bias) specs.push_back({"bias", {a.out_features}, ValueRole::Parameter});
      break;
    default: break;
  }
  return specs;
}

}  // namespace resnetc::ir
