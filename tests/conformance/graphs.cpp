#include "tests/conformance/graphs.h"

#include <fmt/format.h>

#include <string>
#include <utility>

#include "compiler/ir/builder.h"
#include "compiler/ir/shape_inference.h"
#include "compiler/passes/pass.h"
#include "tests/tiny_network.h"

namespace resnetc::testing::conformance {

using ir::FusedOpcode;
using ir::OpKind;
using ir::ValueId;
using ir::ValueRole;

namespace {

ValueId input(ir::GraphBuilder& g, const std::string& name, ir::Dims shape) {
  return g.add_value(name, std::move(shape), ValueRole::Input);
}

// Appends instructions to a fused program; each call returns the register it defines.
struct Program {
  ir::FusedProgram p;
  int32_t emit(FusedOpcode code, int32_t a = 0, int32_t b = 0, double value = 0) {
    p.instrs.push_back({code, a, b, value});
    return static_cast<int32_t>(p.instrs.size() - 1);
  }
  int32_t load(int32_t in) { return emit(FusedOpcode::Load, in); }
  int32_t channel(int32_t in, int32_t row = 0) { return emit(FusedOpcode::LoadChannel, in, row); }
  int32_t constant(double v) { return emit(FusedOpcode::Const, 0, 0, v); }
  int32_t add(int32_t a, int32_t b) { return emit(FusedOpcode::Add, a, b); }
  int32_t sub(int32_t a, int32_t b) { return emit(FusedOpcode::Sub, a, b); }
  int32_t mul(int32_t a, int32_t b) { return emit(FusedOpcode::Mul, a, b); }
  int32_t relu(int32_t a) { return emit(FusedOpcode::Relu, a); }
  int32_t relu_mask(int32_t a, int32_t b) { return emit(FusedOpcode::ReluMask, a, b); }
  int32_t rsqrt(int32_t a) { return emit(FusedOpcode::Rsqrt, a); }
  int32_t max(int32_t a, int32_t b) { return emit(FusedOpcode::Max, a, b); }
  int32_t div(int32_t a, int32_t b) { return emit(FusedOpcode::Div, a, b); }
  int32_t sqrt(int32_t a) { return emit(FusedOpcode::Sqrt, a); }
  int32_t exp(int32_t a) { return emit(FusedOpcode::Exp, a); }
  int32_t mask_key(int32_t rng, uint32_t salt) { return emit(FusedOpcode::MaskKey, rng, 0, salt); }
  int32_t keep(int32_t x, int32_t key, double rate) { return emit(FusedOpcode::Keep, x, key, rate); }
  int32_t keep_sample(int32_t x, int32_t key, double rate) { return emit(FusedOpcode::KeepSample, x, key, rate); }
  // (x - mean) * rsqrt(var + eps), mean and var rows 0 and 1 of input `stats`.
  int32_t normalize(int32_t x, int32_t stats, double eps = 1e-5) {
    return mul(sub(x, channel(stats, 0)), rsqrt(add(channel(stats, 1), constant(eps))));
  }
  ir::Attrs attrs(const ir::Dims& space, std::vector<int32_t> results, bool reduce) const {
    ir::Attrs a;
    a.shape = space;
    a.program = p;
    a.program.results = std::move(results);
    a.program.reduce = reduce;
    return a;
  }
  ir::Attrs map(const ir::Dims& space, int32_t result) const { return attrs(space, {result}, false); }
  ir::Attrs reduce(const ir::Dims& space, std::vector<int32_t> results) const {
    return attrs(space, std::move(results), true);
  }
};

ir::Dims conv_output_shape(const ConvCase& c) {
  ir::Dims x = c.x;
  ir::ShapeResult r = ir::infer_shape(OpKind::Conv2d, std::span<const ir::Dims>(&x, 1), c.attrs());
  if (!r.ok()) throw std::invalid_argument("conformance: bad conv case " + c.describe());
  return r.dims;
}

ir::Dims conv_weight_shape(const ConvCase& c) { return {c.out, c.x[1] / c.groups, c.kh, c.kw}; }

}  // namespace

// --- elementwise ---------------------------------------------------------------------------

ir::Graph relu_add(const ir::Dims& shape) {
  ir::GraphBuilder b("elementwise", shape);
  ValueId other = input(b, "other", shape);
  ValueId r = b.add(OpKind::Relu, "relu", {b.input()}, {}, {});
  ValueId sum = b.add(OpKind::Add, "add", {r, other}, {}, {});
  ValueId dy = input(b, "dy", shape);
  ValueId grad = b.apply(OpKind::ReluGrad, "relu.grad", {dy, b.input()}, {}, {});
  ValueId total = b.add(OpKind::Add, "add2", {sum, grad}, {}, {});
  return std::move(b).finish(total);
}

ir::Graph copies(const ir::Dims& shape) {
  ir::GraphBuilder b("copies", shape);
  ValueId flat = b.add(OpKind::Flatten, "flatten", {b.input()}, {}, {});
  ir::Attrs back;
  back.shape = shape;
  ValueId again = b.apply(OpKind::Reshape, "reshape", {flat}, back, {});
  ValueId r = b.add(OpKind::Relu, "relu", {again}, {}, {});
  return std::move(b).finish(r);
}

ir::Graph bias_grad(const ir::Dims& shape) {
  ir::GraphBuilder b("bias_grad", shape);
  ValueId db = b.apply(OpKind::BiasGrad, "bias.grad", {b.input()}, {}, {});
  return std::move(b).finish(db);
}

ir::Graph elementwise_zoo() {
  ir::GraphBuilder g("elementwise_zoo", {3, 5, 7, 9});
  const ValueId x = g.input();
  const ir::Dims xs = g.shape(x);
  // Both the float4 (a multiple of 4 elements) and the scalar path (945 elements).
  const ValueId v4 = input(g, "v4", {2, 4, 4, 4});
  const ValueId relu = g.add(OpKind::Relu, "relu", {x}, {}, {});
  g.add(OpKind::Relu, "relu4", {v4}, {}, {});
  const ValueId b = input(g, "b", xs);
  g.add(OpKind::Add, "add", {x, b}, {}, {});
  g.apply(OpKind::ReluGrad, "relu.grad", {b, relu}, {}, {});
  g.add(OpKind::Flatten, "flatten", {x}, {}, {});
  ir::Attrs reshape;
  reshape.shape = {5, 3, 63};
  g.apply(OpKind::Reshape, "reshape", {x}, reshape, {});
  return std::move(g).finish(relu);
}

// --- GEMMs ---------------------------------------------------------------------------------

ir::Graph conv_forward(const ConvCase& c) {
  ir::GraphBuilder g("conv", c.x);
  ValueId y = g.add(OpKind::Conv2d, "conv", {g.input()}, c.attrs(), {});
  return std::move(g).finish(y);
}

ir::Graph conv_grad_input(const ConvCase& c) {
  ir::GraphBuilder g("conv_dx", c.x);
  ValueId dy = input(g, "dy", conv_output_shape(c));
  ValueId w = g.add_value("conv.weight", conv_weight_shape(c), ValueRole::Parameter);
  ir::Attrs a = c.attrs();
  a.bias = false;
  a.shape = c.x;
  ValueId dx = g.apply(OpKind::ConvGradInput, "conv.grad_input", {dy, w}, a, {});
  return std::move(g).finish(dx);
}

ir::Graph conv_grad_weight(const ConvCase& c) {
  ir::GraphBuilder g("conv_dw", c.x);
  ValueId dy = input(g, "dy", conv_output_shape(c));
  ir::Attrs a = c.attrs();
  a.bias = false;
  ValueId dw = g.apply(OpKind::ConvGradWeight, "conv.grad_weight", {dy, g.input()}, a, {});
  return std::move(g).finish(dw);
}

ir::Graph conv_all(const ConvCase& c) {
  ir::GraphBuilder g("conv_all", c.x);
  const ValueId y = g.add(OpKind::Conv2d, "conv", {g.input()}, c.attrs(), {});
  const ValueId w = g.graph().ops.back().inputs[1];
  const ValueId dy = input(g, "conv.dy", g.shape(y));
  ir::Attrs a = c.attrs();
  a.bias = false;
  a.shape = c.x;
  g.apply(OpKind::ConvGradInput, "conv.grad_input", {dy, w}, a, {});
  g.apply(OpKind::ConvGradWeight, "conv.grad_weight", {dy, g.input()}, a, {});
  return std::move(g).finish(y);
}

ir::Graph conv_stats(const ConvCase& c) {
  ir::GraphBuilder g("conv_stats", c.x);
  const ValueId y = g.add(OpKind::Conv2d, "conv", {g.input()}, c.attrs(), {});
  ir::Attrs stats;
  stats.epilogue = true;
  return std::move(g).finish(g.apply(OpKind::BnStats, "conv.stats", {y}, stats, {}));
}

ir::Graph linear_forward(int64_t n, int64_t in, int64_t out, bool bias) {
  ir::GraphBuilder g("fc", {n, in});
  ir::Attrs a;
  a.out_features = out;
  a.bias = bias;
  ValueId y = g.add(OpKind::Linear, "fc", {g.input()}, a, {});
  return std::move(g).finish(y);
}

ir::Graph linear_grad_input(int64_t n, int64_t in, int64_t out) {
  ir::GraphBuilder g("fc_dx", {n, in});
  ValueId dy = input(g, "dy", {n, out});
  ValueId w = g.add_value("fc.weight", {out, in}, ValueRole::Parameter);
  ValueId dx = g.apply(OpKind::LinearGradInput, "fc.grad_input", {dy, w}, {}, {});
  return std::move(g).finish(dx);
}

ir::Graph linear_grad_weight(int64_t n, int64_t in, int64_t out) {
  ir::GraphBuilder g("fc_dw", {n, in});
  ValueId dy = input(g, "dy", {n, out});
  ValueId dw = g.apply(OpKind::LinearGradWeight, "fc.grad_weight", {dy, g.input()}, {}, {});
  return std::move(g).finish(dw);
}

ir::Graph linear_all(int64_t n, int64_t in, int64_t out, bool bias) {
  ir::GraphBuilder g("fc_all", {n, in});
  ir::Attrs a;
  a.out_features = out;
  a.bias = bias;
  const ValueId y = g.add(OpKind::Linear, "fc", {g.input()}, a, {});
  const ValueId w = g.graph().ops.back().inputs[1];
  const ValueId dy = input(g, "fc.dy", g.shape(y));
  g.apply(OpKind::LinearGradInput, "fc.grad_input", {dy, w}, {}, {});
  g.apply(OpKind::LinearGradWeight, "fc.grad_weight", {dy, g.input()}, {}, {});
  g.apply(OpKind::BiasGrad, "fc.bias_grad", {dy}, {}, {});
  return std::move(g).finish(y);
}

// --- pooling -------------------------------------------------------------------------------

ir::Attrs window(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  ir::Attrs a;
  a.kernel[0] = kh;
  a.kernel[1] = kw;
  a.stride[0] = sh;
  a.stride[1] = sw;
  a.padding[0] = ph;
  a.padding[1] = pw;
  return a;
}

ir::Graph pool(OpKind kind, const ir::Dims& shape, const ir::Attrs& a) {
  ir::GraphBuilder b("pool", shape);
  ValueId y = b.add(kind, "pool", {b.input()}, a, {});
  ValueId dy = input(b, "dy", b.shape(y));
  ir::Attrs grad = a;
  grad.shape = shape;
  if (kind == OpKind::MaxPool) b.apply(OpKind::MaxPoolGrad, "pool.grad", {dy, b.input()}, grad, {});
  if (kind == OpKind::AvgPool) b.apply(OpKind::AvgPoolGrad, "pool.grad", {dy}, grad, {});
  return std::move(b).finish(y);
}

ir::Graph global_avgpool(const ir::Dims& shape) {
  ir::GraphBuilder b("gap", shape);
  ValueId y = b.add(OpKind::GlobalAvgPool, "gap", {b.input()}, {}, {});
  ValueId dy = input(b, "dy", b.shape(y));
  ir::Attrs grad;
  grad.shape = shape;
  b.apply(OpKind::GlobalAvgPoolGrad, "gap.grad", {dy}, grad, {});
  return std::move(b).finish(y);
}

ir::Graph global_maxpool(const ir::Dims& shape) {
  ir::GraphBuilder b("gmp", shape);
  ValueId y = b.add(OpKind::GlobalMaxPool, "gmp", {b.input()}, {}, {});
  ValueId dy = input(b, "dy", b.shape(y));
  // Its gradient is maxpool_grad with the plane as the window.
  b.apply(OpKind::MaxPoolGrad, "gmp.grad", {dy, b.input()}, window(shape[2], shape[3], 1, 1, 0, 0), {});
  return std::move(b).finish(y);
}

// --- gating ops, option-A shortcuts, dropout and drop-path ---------------------------------

ir::Graph gates(const ir::Dims& shape) {
  ir::GraphBuilder b("gates", shape);
  const ValueId x = b.input();
  const ValueId gate = input(b, "gate", {shape[0], shape[1], 1, 1});
  const ValueId dy = input(b, "dy", shape);
  const ValueId s = b.add(OpKind::Sigmoid, "sigmoid", {x}, {}, {});
  b.add(OpKind::Silu, "silu", {x}, {}, {});
  b.add(OpKind::ChannelMul, "scale", {x, gate}, {}, {});
  b.apply(OpKind::SigmoidGrad, "sigmoid.grad", {dy, s}, {}, {});
  b.apply(OpKind::SiluGrad, "silu.grad", {dy, x}, {}, {});
  b.apply(OpKind::ChannelMul, "scale.grad_input", {dy, gate}, {}, {});
  const ValueId dg = b.apply(OpKind::ChannelMulGradGate, "scale.grad_gate", {dy, x}, {}, {});
  // The activations over a gate's [N, C, 1, 1] space (maps along rows) and a 2-d [N, C] tensor.
  const ValueId gs = b.add(OpKind::Sigmoid, "gate.sigmoid", {dg}, {}, {});
  b.add(OpKind::Silu, "rows.silu", {input(b, "rows", {shape[0], shape[1]})}, {}, {});
  return std::move(b).finish(b.add(OpKind::Silu, "gate.silu", {gs}, {}, {}));
}

ir::Graph hardswish(const ir::Dims& shape) {
  ir::GraphBuilder b("hardswish", shape);
  const ValueId dy = input(b, "dy", shape);
  b.apply(OpKind::HardswishGrad, "hardswish.grad", {dy, b.input()}, {}, {});
  return std::move(b).finish(b.add(OpKind::Hardswish, "hardswish", {b.input()}, {}, {}));
}

ir::Graph leaky_relu(const ir::Dims& shape, std::optional<double> slope) {
  ir::GraphBuilder b("leaky_relu", shape);
  ir::Attrs a;
  if (slope) a.scalars = {*slope};
  const ValueId dy = input(b, "dy", shape);
  b.apply(OpKind::LeakyReluGrad, "leaky_relu.grad", {dy, b.input()}, a, {});
  return std::move(b).finish(b.add(OpKind::LeakyRelu, "leaky_relu", {b.input()}, a, {}));
}

ir::Graph pad_shortcut(const ir::Dims& shape, int64_t out_channels, int64_t sh, int64_t sw) {
  ir::GraphBuilder b("shortcut", shape);
  ir::Attrs a;
  a.out_channels = out_channels;
  a.stride[0] = sh, a.stride[1] = sw;
  const ValueId y = b.add(OpKind::PadShortcut, "pad", {b.input()}, a, {});
  const ValueId dy = input(b, "dy", b.shape(y));
  ir::Attrs grad;
  grad.stride[0] = sh, grad.stride[1] = sw;
  grad.shape = shape;
  b.apply(OpKind::PadShortcutGrad, "pad.grad", {dy}, grad, {});
  return std::move(b).finish(y);
}

ir::Graph dropout_evaluation(const ir::Dims& shape) {
  ir::GraphBuilder b("dropout", shape);
  ir::Attrs a;
  a.rate = 0.3;
  b.add(OpKind::Dropout, "dropout", {b.input()}, a, {});
  a.rate = 0.2;
  return std::move(b).finish(b.add(OpKind::DropPath, "droppath", {b.input()}, a, {}));
}

ir::Graph random_mask(OpKind kind, const ir::Dims& shape, double rate, int64_t salt) {
  ir::GraphBuilder b("mask", shape);
  const ValueId rng = b.add_value("rng", {2}, ValueRole::Input, ir::DType::I32);
  ir::Attrs a;
  a.rate = rate;
  a.salt = salt;
  const ValueId y = b.apply(kind, "mask", {b.input(), rng}, a, {});
  b.apply(kind, "mask.grad", {input(b, "dy", shape), rng}, a, {});  // the gradient draws the same mask
  return std::move(b).finish(y);
}

// --- BatchNorm -----------------------------------------------------------------------------

ir::Graph batchnorm_inference(const ir::Dims& shape, double eps) {
  ir::GraphBuilder b("bn", shape);
  ir::Attrs a;
  a.eps = eps;
  ValueId y = b.add(OpKind::BatchNorm, "bn", {b.input()}, a, {});
  return std::move(b).finish(y);
}

ir::Graph batchnorm_training(const ir::Dims& shape, double eps, double momentum) {
  const ir::Dims channel{shape[1]};
  ir::GraphBuilder b("bn_train", shape);
  ir::Attrs a;
  a.eps = eps;
  ValueId weight = b.add_value("bn.weight", channel, ValueRole::Parameter);
  ValueId bias = b.add_value("bn.bias", channel, ValueRole::Parameter);
  ValueId stats = b.apply(OpKind::BnStats, "bn.stats", {b.input()}, {}, {});
  ValueId y = b.apply(OpKind::BnApply, "bn.apply", {b.input(), stats, weight, bias}, a, {});
  ValueId dy = input(b, "dy", shape);
  b.apply(OpKind::BnGradWeight, "bn.grad_weight", {dy, b.input(), stats}, a, {});
  b.apply(OpKind::BnGradInput, "bn.grad_input", {dy, b.input(), stats, weight}, a, {});
  ValueId running_mean = b.add_value("bn.running_mean", channel, ValueRole::State);
  ValueId running_var = b.add_value("bn.running_var", channel, ValueRole::State);
  ir::Attrs update;
  update.momentum = momentum;
  update.shape = shape;
  b.apply(OpKind::BnRunningUpdate, "bn.running_update", {running_mean, running_var, stats}, update, {});
  return std::move(b).finish(y);
}

// --- the loss ------------------------------------------------------------------------------

ir::Graph loss(int64_t batch, int64_t classes, double label_smoothing) {
  ir::GraphBuilder b("loss", {batch, classes});
  ValueId labels = b.add_value("labels", {batch}, ValueRole::Input, ir::DType::I32);
  ir::Attrs a;
  a.label_smoothing = label_smoothing;
  ValueId loss = b.apply(OpKind::SoftmaxCrossEntropy, "loss", {b.input(), labels}, a, {});
  b.apply(OpKind::SoftmaxCrossEntropyGrad, "loss.grad", {b.input(), labels}, a, {});
  ir::Graph g = std::move(b).finish(b.input());
  g.labels = labels;
  g.loss = loss;
  return g;
}

// --- the optimizer -------------------------------------------------------------------------

// param -= lr * ...: the graph's input is the gradient; lr a [1] input read at run time.
ir::Graph sgd(const ir::Dims& shape, double momentum, double weight_decay, bool nesterov) {
  ir::GraphBuilder b("sgd", shape);
  ValueId param = b.add_value("w", shape, ValueRole::Parameter);
  ValueId lr = input(b, "lr", {1});
  ir::Attrs a;
  a.momentum = momentum;
  a.weight_decay = weight_decay;
  a.nesterov = nesterov;
  if (momentum != 0) {
    ValueId velocity = b.add_value("w.velocity", shape, ValueRole::State);
    b.apply(OpKind::SgdMomentumUpdate, "w.update", {param, b.input(), lr, velocity}, a, {});
  } else {
    b.apply(OpKind::SgdUpdate, "w.update", {param, b.input(), lr}, a, {});
  }
  ir::Graph g = std::move(b).finish(b.input());
  g.learning_rate = lr;
  return g;
}

ir::Graph running_update(const ir::Dims& shape, double momentum) {
  const ir::Dims channel{shape[1]};
  ir::GraphBuilder b("running", shape);
  ValueId stats = b.apply(OpKind::BnStats, "bn.stats", {b.input()}, {}, {});
  ValueId mean = b.add_value("bn.running_mean", channel, ValueRole::State);
  ValueId var = b.add_value("bn.running_var", channel, ValueRole::State);
  ir::Attrs a;
  a.momentum = momentum;
  a.shape = shape;
  b.apply(OpKind::BnRunningUpdate, "bn.running_update", {mean, var, stats}, a, {});
  return std::move(b).finish(stats);
}

// One group update over members of the given shapes: lr, then (param, grad[, velocity]) each.
ir::Graph sgd_group(const std::vector<ir::Dims>& shapes, double momentum, double weight_decay, bool nesterov) {
  ir::GraphBuilder b("sgd_group", shapes[0]);
  ValueId lr = input(b, "lr", {1});
  std::vector<ValueId> inputs{lr};
  for (size_t m = 0; m < shapes.size(); ++m) {
    inputs.push_back(b.add_value(fmt::format("w{}", m), shapes[m], ValueRole::Parameter));
    inputs.push_back(m == 0 ? b.input() : input(b, fmt::format("w{}.grad", m), shapes[m]));
    if (momentum != 0) inputs.push_back(b.add_value(fmt::format("w{}.velocity", m), shapes[m], ValueRole::State));
  }
  ir::Attrs a;
  a.momentum = momentum;
  a.weight_decay = weight_decay;
  a.nesterov = nesterov;
  b.apply(momentum != 0 ? OpKind::SgdMomentumUpdateGroup : OpKind::SgdUpdateGroup, "update", inputs, a, {});
  ir::Graph g = std::move(b).finish(b.input());
  g.learning_rate = lr;
  return g;
}

ir::Graph adamw(const ir::Dims& shape, double weight_decay, double beta1, double beta2) {
  ir::GraphBuilder b("adamw", shape);
  ValueId param = b.add_value("w", shape, ValueRole::Parameter);
  ValueId lr = input(b, "lr", {1});
  ValueId step = b.add_value("optimizer.step", {1}, ValueRole::State);
  ValueId avg = b.add_value("w.exp_avg", shape, ValueRole::State);
  ValueId avg_sq = b.add_value("w.exp_avg_sq", shape, ValueRole::State);
  ir::Attrs a;
  a.weight_decay = weight_decay;
  a.momentum = beta1;
  a.beta2 = beta2;
  a.eps = 1e-8;
  b.apply(OpKind::AdamwUpdate, "w.update", {param, b.input(), lr, step, avg, avg_sq}, a, {});
  ir::Graph g = std::move(b).finish(b.input());
  g.learning_rate = lr;
  return g;
}

// lr, step, then (param, grad, exp_avg, exp_avg_sq) per member.
ir::Graph adamw_group(const std::vector<ir::Dims>& shapes, double weight_decay, double beta1, double beta2) {
  ir::GraphBuilder b("adamw_group", shapes[0]);
  ValueId lr = input(b, "lr", {1});
  std::vector<ValueId> inputs{lr, b.add_value("optimizer.step", {1}, ValueRole::State)};
  for (size_t m = 0; m < shapes.size(); ++m) {
    inputs.push_back(b.add_value(fmt::format("w{}", m), shapes[m], ValueRole::Parameter));
    inputs.push_back(m == 0 ? b.input() : input(b, fmt::format("w{}.grad", m), shapes[m]));
    inputs.push_back(b.add_value(fmt::format("w{}.exp_avg", m), shapes[m], ValueRole::State));
    inputs.push_back(b.add_value(fmt::format("w{}.exp_avg_sq", m), shapes[m], ValueRole::State));
  }
  ir::Attrs a;
  a.weight_decay = weight_decay;
  a.momentum = beta1;
  a.beta2 = beta2;
  a.eps = 1e-8;
  b.apply(OpKind::AdamwUpdateGroup, "update", inputs, a, {});
  ir::Graph g = std::move(b).finish(b.input());
  g.learning_rate = lr;
  return g;
}

// (running_mean, running_var, stats) per member of `channels` channels, n = counts[m].
ir::Graph running_group(const std::vector<int64_t>& channels, const std::vector<int64_t>& counts, double momentum) {
  ir::GraphBuilder b("running_group", {2, channels[0]});
  std::vector<ValueId> inputs;
  for (size_t m = 0; m < channels.size(); ++m) {
    inputs.push_back(b.add_value(fmt::format("bn{}.running_mean", m), {channels[m]}, ValueRole::State));
    inputs.push_back(b.add_value(fmt::format("bn{}.running_var", m), {channels[m]}, ValueRole::State));
    inputs.push_back(m == 0 ? b.input() : input(b, fmt::format("bn{}.stats", m), {2, channels[m]}));
  }
  ir::Attrs a;
  a.momentum = momentum;
  a.counts = counts;
  b.apply(OpKind::BnRunningUpdateGroup, "running_update", inputs, a, {});
  return std::move(b).finish(b.input());
}

// --- fused programs ------------------------------------------------------------------------

// y = relu((x - mean) * rsqrt(var + eps) * weight + bias + residual), the statistics from bn_stats.
ir::Graph fused_bn_apply_add_relu(const ir::Dims& shape) {
  const ir::Dims channel{shape[1]};
  ir::GraphBuilder b("bn_add_relu", shape);
  ValueId stats = b.apply(OpKind::BnStats, "bn.stats", {b.input()}, {}, {});
  ValueId weight = b.add_value("bn.weight", channel, ValueRole::Parameter);
  ValueId bias = b.add_value("bn.bias", channel, ValueRole::Parameter);
  ValueId residual = input(b, "residual", shape);
  Program p;
  int32_t y = p.add(p.mul(p.normalize(p.load(0), 1), p.channel(2)), p.channel(3));
  y = p.relu(p.add(y, p.load(4)));
  ValueId out = b.apply(OpKind::Fused, "bn.apply_add_relu", {b.input(), stats, weight, bias, residual}, p.map(shape, y), {});
  return std::move(b).finish(out);
}

// y = max(max(x, other), bias[c]): the window renderers' combining opcode in a fused map.
ir::Graph fused_max(const ir::Dims& shape) {
  ir::GraphBuilder b("fused_max", shape);
  ValueId other = input(b, "other", shape);
  ValueId bias = b.add_value("bias", {shape[1]}, ValueRole::Parameter);
  Program p;
  const int32_t y = p.max(p.max(p.load(0), p.load(1)), p.channel(2));
  return std::move(b).finish(b.apply(OpKind::Fused, "max", {b.input(), other, bias}, p.map(shape, y), {}));
}

// y = exp(x) / (sqrt(o * o) + 1): the div, sqrt and exp opcodes in a fused map.
ir::Graph fused_div_sqrt_exp(const ir::Dims& shape) {
  ir::GraphBuilder b("fused_div_sqrt_exp", shape);
  ValueId other = input(b, "other", shape);
  Program p;
  const int32_t o = p.load(1);
  const int32_t root = p.sqrt(p.mul(o, o));
  const int32_t denom = p.add(root, p.constant(1));
  const int32_t y = p.div(p.exp(p.load(0)), denom);
  return std::move(b).finish(b.apply(OpKind::Fused, "div_sqrt_exp", {b.input(), other}, p.map(shape, y), {}));
}

// BatchNorm backward through a relu, g = relu_mask(dy, y), y a relu's output (exact zeros). The
// reduction [2, C] of sum(g * (x - mean) * rsqrt(var + eps)) and sum(g), or the input gradient
// map with four channel loads: dx = a * g + slope * (x - mean) + shift, rows of coef [3, C].
ir::Graph fused_bn_backward(const ir::Dims& shape, bool reduce) {
  ir::GraphBuilder b("bn_backward", shape);
  ValueId stats = b.apply(OpKind::BnStats, "bn.stats", {b.input()}, {}, {});
  ValueId dy = input(b, "dy", shape);
  ValueId y = b.apply(OpKind::Relu, "relu", {input(b, "z", shape)}, {}, {});
  ValueId coef = input(b, "coef", {3, shape[1]});
  Program p;
  int32_t g = p.relu_mask(p.load(1), p.load(2));
  ValueId out = ir::kNoValue;
  if (reduce) {
    int32_t xhat_g = p.mul(g, p.normalize(p.load(0), 3));
    out = b.apply(OpKind::Fused, "bn.grad_sums", {b.input(), dy, y, stats}, p.reduce(shape, {xhat_g, g}), {});
  } else {
    int32_t dx = p.add(p.mul(p.channel(4, 0), g), p.mul(p.channel(4, 1), p.sub(p.load(0), p.channel(3, 0))));
    dx = p.add(dx, p.channel(4, 2));
    out = b.apply(OpKind::Fused, "bn.grad_input", {b.input(), dy, y, stats, coef}, p.map(shape, dx), {});
  }
  return std::move(b).finish(out);
}

// BatchNorm training forward and backward as the fusion passes write them: apply + residual +
// relu; the two sums of the gradients through the relu; the input gradient from the sums; the
// gradient of an add feeding a relu.
ir::Graph fused_bn_training(const ir::Dims& xs) {
  ir::GraphBuilder g("bn_programs", xs);
  const int64_t c = xs[1];
  const ValueId x = g.input();
  const ValueId stats = g.apply(OpKind::BnStats, "bn.stats", {x}, {}, {});
  const ValueId weight = g.add_value("bn.weight", {c}, ValueRole::Parameter);
  const ValueId bias = g.add_value("bn.bias", {c}, ValueRole::Parameter);
  const ValueId residual = input(g, "bn.residual", xs);

  Program fwd;
  int32_t y = fwd.add(fwd.mul(fwd.mul(fwd.sub(fwd.load(0), fwd.channel(1, 0)),
                                      fwd.rsqrt(fwd.add(fwd.channel(1, 1), fwd.constant(1e-5)))),
                              fwd.channel(2)),
                      fwd.channel(3));
  y = fwd.add(y, fwd.load(4));
  const ValueId out =
      g.apply(OpKind::Fused, "bn.apply_add_relu", {x, stats, weight, bias, residual}, fwd.map(xs, fwd.relu(y)), {});

  const ValueId dy = input(g, "bn.dy", xs);
  Program sums;
  const int32_t masked = sums.relu_mask(sums.load(0), sums.load(1));
  const int32_t xhat = sums.mul(sums.sub(sums.load(2), sums.channel(3, 0)),
                                sums.rsqrt(sums.add(sums.channel(3, 1), sums.constant(1e-5))));
  const ValueId reduced =
      g.apply(OpKind::Fused, "bn.grad_sums", {dy, out, x, stats}, sums.reduce(xs, {sums.mul(masked, xhat), masked}), {});

  Program dx;
  const double inv_n = 1.0 / static_cast<double>(xs[0] * xs[2] * xs[3]);
  const int32_t g_ = dx.relu_mask(dx.load(0), dx.load(1));
  const int32_t invstd = dx.rsqrt(dx.add(dx.channel(3, 1), dx.constant(1e-5)));
  const int32_t xh = dx.mul(dx.sub(dx.load(2), dx.channel(3, 0)), invstd);
  const int32_t mean_g = dx.mul(dx.channel(4, 1), dx.constant(inv_n));
  const int32_t mean_gx = dx.mul(dx.channel(4, 0), dx.constant(inv_n));
  const int32_t inner = dx.sub(dx.sub(g_, mean_g), dx.mul(xh, mean_gx));
  g.apply(OpKind::Fused, "bn.grad_input", {dy, out, x, stats, reduced, weight},
          dx.map(xs, dx.mul(dx.mul(invstd, dx.channel(5)), inner)), {});

  Program add;
  g.apply(OpKind::Fused, "bn.add_relu_mask", {dy, residual, out},
          add.map(xs, add.relu_mask(add.add(add.load(0), add.load(1)), add.load(2))), {});
  return std::move(g).finish(out);
}

// A BatchNorm folded into a convolution's weights [O, I, kh, kw], over the space [1, O, I*kh*kw]:
//   w' = w * (gamma * rsqrt(running_var + eps)).
ir::Graph fused_fold_into_weights(const ir::Dims& weight_shape) {
  const int64_t o = weight_shape[0];
  const ir::Dims space{1, o, ir::numel(weight_shape) / o};
  ir::GraphBuilder b("fold", weight_shape);
  ValueId gamma = b.add_value("bn.weight", {o}, ValueRole::Parameter);
  ValueId var = b.add_value("bn.running_var", {o}, ValueRole::State);
  Program p;
  int32_t scale = p.mul(p.channel(1), p.rsqrt(p.add(p.channel(2), p.constant(1e-3))));
  ValueId out = b.apply(OpKind::Fused, "conv.fold_bn", {b.input(), gamma, var}, p.map(space, p.mul(p.load(0), scale)), {});
  return std::move(b).finish(out);
}

// The folded weight over [1, O, K], the folded bias over [1, O], and per output channel the
// weights' sum and sum of squares (a reduction over a [1, O, K] space).
ir::Graph fused_fold(const ir::Dims& weight_shape) {
  const int64_t out = weight_shape[0], k = ir::numel(weight_shape) / out;
  ir::GraphBuilder g("fold_zoo", {1, 1});
  const ValueId w = g.add_value("fold.conv.weight", weight_shape, ValueRole::Parameter);
  const ValueId gamma = g.add_value("fold.bn.weight", {out}, ValueRole::Parameter);
  const ValueId beta = g.add_value("fold.bn.bias", {out}, ValueRole::Parameter);
  const ValueId mean = g.add_value("fold.bn.running_mean", {out}, ValueRole::State);
  const ValueId var = g.add_value("fold.bn.running_var", {out}, ValueRole::State);
  Program p;
  const int32_t scale = p.mul(p.channel(1), p.rsqrt(p.add(p.channel(2), p.constant(1e-5))));
  const ValueId folded = g.apply(OpKind::Fused, "fold.weight", {w, gamma, var}, p.map({1, out, k}, p.mul(p.load(0), scale)), {});
  Program b;
  const int32_t s = b.mul(b.channel(1), b.rsqrt(b.add(b.channel(2), b.constant(1e-5))));
  g.apply(OpKind::Fused, "fold.bias", {beta, gamma, var, mean}, b.map({1, out}, b.sub(b.load(0), b.mul(b.channel(3), s))), {});
  Program r;
  const int32_t x = r.load(0);
  g.apply(OpKind::Fused, "fold.weight_sums", {w}, r.reduce({1, out, k}, {x, r.mul(x, x)}), {});
  return std::move(g).finish(folded);
}

// A 2-d [N, C] space: the map relu(x * w + rows[1]) or the reduction of (x * w, relu_mask(x, x - rows[0])).
ir::Graph fused_rows(const ir::Dims& shape, bool reduce) {
  ir::GraphBuilder b("rows", shape);
  ValueId w = b.add_value("w", {shape[1]}, ValueRole::Parameter);
  ValueId rows = b.add_value("rows", {2, shape[1]}, ValueRole::Parameter);
  Program p;
  int32_t x = p.load(0);
  int32_t xw = p.mul(x, p.channel(1));
  std::vector<int32_t> results{p.relu(p.add(xw, p.channel(2, 1)))};
  if (reduce) results = {xw, p.relu_mask(x, p.sub(x, p.channel(2, 0)))};
  ValueId out = b.apply(OpKind::Fused, reduce ? "reduce" : "map", {b.input(), w, rows}, p.attrs(shape, results, reduce), {});
  return std::move(b).finish(out);
}

// A fully connected layer's bias, relu and the gradient mask over [N, C], and its bias gradient
// (a reduction over N).
ir::Graph fused_bias_relu(const ir::Dims& space) {
  ir::GraphBuilder g("bias_relu", space);
  const ValueId h = g.input();
  const ValueId b = g.add_value("fc.bias", {space[1]}, ValueRole::Parameter);
  const ValueId mask = input(g, "fc.mask", space);
  Program p;
  const int32_t biased = p.relu(p.add(p.load(0), p.channel(1)));
  const ValueId out = g.apply(OpKind::Fused, "fc.bias_relu", {h, b, mask}, p.map(space, p.relu_mask(biased, p.load(2))), {});
  Program r;
  g.apply(OpKind::Fused, "fc.bias_grad", {h, mask}, r.reduce(space, {r.relu_mask(r.load(0), r.load(1))}), {});
  return std::move(g).finish(out);
}

// Every opcode: the element's registers (in float), the channel's (in double). As a map; as a
// reduction whose results include channel-uniform registers (one: the count of the channel's
// elements) and a Load; as a map whose result depends on the channel only.
ir::Graph fused_every_opcode(const ir::Dims& shape, Use use) {
  const ir::Dims channel{shape[1]};
  ir::GraphBuilder b("opcodes", shape);
  ValueId u = input(b, "u", shape);
  ValueId v = b.add_value("v", channel, ValueRole::Parameter);
  ValueId rows = b.add_value("rows", {3, shape[1]}, ValueRole::Parameter);
  Program p;
  int32_t x = p.load(0);
  // The channel-uniform chain: relu(v) - relu_mask(rows[2], v) + rsqrt(rows[0]^2 + 0.25) * 1.5
  int32_t cv = p.channel(2);
  int32_t r0 = p.channel(3, 0);
  int32_t uniform = p.sub(p.relu(cv), p.relu_mask(p.channel(3, 2), cv));
  uniform = p.add(uniform, p.mul(p.rsqrt(p.add(p.mul(r0, r0), p.constant(0.25))), p.constant(1.5)));
  // The element's: rsqrt(x^2 + 0.5) * uniform + relu_mask(u, relu(x)) - relu(x - rows[1]), the
  // mask's zeros exact ones as a relu's output has.
  int32_t e = p.mul(p.rsqrt(p.add(p.mul(x, x), p.constant(0.5))), uniform);
  e = p.add(e, p.relu_mask(p.load(1), p.relu(x)));
  e = p.sub(e, p.relu(p.sub(x, p.channel(3, 1))));
  ir::Attrs a = p.map(shape, e);
  if (use == Use::Reduce) a = p.reduce(shape, {e, p.constant(1), uniform, x});
  if (use == Use::Broadcast) a = p.map(shape, uniform);
  ValueId out = b.apply(OpKind::Fused, "fused", {b.input(), u, v, rows}, a, {});
  return std::move(b).finish(out);
}

// exp(x) / (log(u^2 + 0.5) + 2) - exp(v[c]) * log(v[c]^2 + 1): the exponential, logarithm and
// division of the scalar set (the loss's, ir/row_reduction.h) in a fused program, where both
// backends render them in float; as a map, and as a reduction of it and of each part.
ir::Graph fused_exp_log(const ir::Dims& shape, bool reduce) {
  ir::GraphBuilder b("exp_log", shape);
  const ValueId u = input(b, "u", shape);
  const ValueId v = b.add_value("v", {shape[1]}, ValueRole::Parameter);
  Program p;
  const int32_t x = p.load(0), y = p.load(1), c = p.channel(2);
  const int32_t e = p.emit(FusedOpcode::Exp, x);
  const int32_t l = p.emit(FusedOpcode::Log, p.add(p.mul(y, y), p.constant(0.5)));
  const int32_t d = p.emit(FusedOpcode::Div, e, p.add(l, p.constant(2)));
  const int32_t uniform = p.mul(p.emit(FusedOpcode::Exp, c), p.emit(FusedOpcode::Log, p.add(p.mul(c, c), p.constant(1))));
  const int32_t out = p.sub(d, uniform);
  const ir::Attrs a = reduce ? p.reduce(shape, {out, e, l, uniform}) : p.map(shape, out);
  return std::move(b).finish(b.apply(OpKind::Fused, "fused", {b.input(), u, v}, a, {}));
}

// keep(relu(x), 0.3) + keep_sample(x, 0.4) * v[c], two keys from one (seed, step); as a map, and
// as a reduction of it and of each draw (a mask inside a summing loop).
ir::Graph fused_masks(const ir::Dims& shape, bool reduce) {
  ir::GraphBuilder b("masks", shape);
  const ValueId rng = b.add_value("rng", {2}, ValueRole::Input, ir::DType::I32);
  const ValueId v = b.add_value("v", {shape[1]}, ValueRole::Parameter);
  Program p;
  const int32_t x = p.load(0);
  const int32_t kept = p.keep(p.relu(x), p.mask_key(1, 4321), 0.3);
  const int32_t sample = p.keep_sample(x, p.mask_key(1, 4000000000u), 0.4);
  const int32_t e = p.add(kept, p.mul(sample, p.channel(2)));
  const ir::Attrs a = reduce ? p.reduce(shape, {e, kept, sample}) : p.map(shape, e);
  return std::move(b).finish(b.apply(OpKind::Fused, "fused", {b.input(), rng, v}, a, {}));
}

// Rows 0..2 of a [3, C] input, a constant result, a dead instruction and an input nothing live
// reads; as a map and as a reduction with three results (one of them per channel only, so
// hoisted out of the element loop); a reduction of channel loads only; a constant map.
ir::Graph fused_dead_code() {
  const ir::Dims xs{3, 5, 7, 7};
  ir::GraphBuilder g("ops", xs);
  const ValueId a = g.input();
  const ValueId b = input(g, "ops.b", {3, 5, 49});  // the same elements, another shape
  const ValueId rows = input(g, "ops.rows", {3, 5});
  const ValueId unused = input(g, "ops.unused", xs);
  auto program = [](Program& p) {
    const int32_t x = p.load(0), y = p.load(1);
    p.relu(p.mul(x, y));  // dead
    const int32_t r0 = p.channel(2, 0), r1 = p.channel(2, 1), r2 = p.channel(2, 2);
    const int32_t positive = p.add(p.mul(x, x), p.constant(0.5));
    const int32_t t = p.mul(p.rsqrt(positive), p.sub(y, r1));
    const int32_t u = p.relu_mask(p.add(t, r0), p.sub(x, p.constant(-0.25)));
    const int32_t v = p.relu(p.sub(u, p.mul(r2, p.constant(0.75))));
    return std::pair{v, p.mul(r2, p.add(r1, p.constant(2.0)))};  // the second per channel only
  };
  Program m;
  const ValueId out = g.apply(OpKind::Fused, "ops.map", {a, b, rows, unused}, m.map(xs, program(m).first), {});
  Program r;
  const auto [v, per_channel] = program(r);
  g.apply(OpKind::Fused, "ops.reduce", {a, b, rows, unused}, r.reduce(xs, {v, per_channel, v}), {});
  Program c;
  g.apply(OpKind::Fused, "ops.channel_only", {rows}, c.reduce({3, 5}, {c.mul(c.channel(0, 2), c.constant(3.0))}), {});
  Program k;
  g.apply(OpKind::Fused, "ops.constant", {a}, k.map(xs, k.constant(1.5)), {});
  return std::move(g).finish(out);
}

// A fused map reading a view that starts one element into its source: the kernel must not
// assume the view is aligned.
ir::Graph fused_unaligned_view(const ir::Dims& shape) {
  ir::GraphBuilder b("view", shape);
  Program relu;
  relu.relu(relu.load(0));
  ValueId y = b.apply(OpKind::Fused, "relu", {b.input()}, relu.map(shape, 1), {});
  ir::Attrs view;
  view.shape = shape;
  view.shape[0] -= 1;
  view.offset = 1;
  ValueId tail = b.apply(OpKind::View, "tail", {y}, view, {});
  Program twice;
  int32_t z = twice.mul(twice.load(0), twice.constant(2));
  ValueId out = b.apply(OpKind::Fused, "twice", {tail}, twice.map(view.shape, z), {});
  return std::move(b).finish(out);
}

// --- whole training steps ------------------------------------------------------------------

ir::Graph training_step(double momentum, double weight_decay, int level) {
  ir::Graph g = tiny_training_graph({momentum, weight_decay});
  if (level >= 0) passes::run_pipeline(g, passes::at_level(level));
  return g;
}

ir::Graph training_step_of(const char* network, int64_t batch, int level) {
  ir::Graph g = tiny_training_graph({0.9, 5e-4}, batch, network);
  if (level >= 0) passes::run_pipeline(g, passes::at_level(level));
  return g;
}

}  // namespace resnetc::testing::conformance
