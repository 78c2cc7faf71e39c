// Inference BatchNorm folded into the convolution before it, as Glow and TensorRT do:
//   conv(x, w, b) -> bn(gamma, beta, mean, var)   becomes   conv(x, w * s, (b - mean) * s + beta)
// with s = gamma / sqrt(var + eps) per output channel. The folded weight and bias are computed
// from the parameters by two small fused kernels, so a checkpoint loads unchanged. Only when the
// convolution's output has no other reader (another reader needs the unnormalized output) and
// only inference BatchNorm: training graphs normalize with batch statistics (bn_stats and
// bn_apply), which depend on the batch and cannot be folded into weights.
#include "compiler/passes/graph_edit.h"
#include "compiler/passes/pass.h"

namespace resnetc::passes {

namespace {

// Which conv each BatchNorm folds into (-1: none).
std::vector<ir::OpId> foldable_convs(const ir::Graph& g) {
  const auto users = value_users(g);
  std::vector<ir::OpId> conv_of(g.ops.size(), -1);
  for (size_t o = 0; o < g.ops.size(); ++o) {
    const ir::Op& bn = g.ops[o];
    if (bn.kind != ir::OpKind::BatchNorm) continue;
    const ir::Value& x = g.value(bn.inputs[0]);
    if (x.producer < 0 || g.op(x.producer).kind != ir::OpKind::Conv2d) continue;
    if (users[static_cast<size_t>(bn.inputs[0])].size() != 1 || is_graph_result(g, bn.inputs[0])) continue;
    conv_of[o] = x.producer;
  }
  return conv_of;
}

}  // namespace

void fold_batchnorm(ir::Graph& g) {
  const std::vector<ir::OpId> conv_of = foldable_convs(g);
  std::vector<bool> folded_conv(g.ops.size());
  for (ir::OpId c : conv_of)
    if (c >= 0) folded_conv[static_cast<size_t>(c)] = true;

  Rewriter r(g);
  for (size_t o = 0; o < g.ops.size(); ++o) {
    const ir::Op& op = g.ops[o];
    if (folded_conv[o]) continue;  // emitted, folded, at its BatchNorm
    if (conv_of[o] < 0) {
      r.keep(op);
      continue;
    }
    const ir::Op& bn = op;
    const ir::Op& conv = g.op(conv_of[o]);
    const ir::Dims w_shape = g.shape(conv.inputs[1]);
    const int64_t out_channels = w_shape[0];
    const ir::ValueId gamma = bn.inputs[1], beta = bn.inputs[2], mean = bn.inputs[3], var = bn.inputs[4];

    // w' = w * gamma / sqrt(var + eps), over [1, O, I*kh*kw] so that axis 1 is the output channel.
    ProgramBuilder w;
    const int32_t weight = w.load(0), gamma_w = w.channel(1);
    const int32_t scale = w.mul(gamma_w, w.inverse_std(2, 0, bn.attrs.eps));
    ir::FusedProgram wp = std::move(w).map(w.mul(weight, scale));
    const ir::Dims w_space{1, out_channels, ir::numel(w_shape) / out_channels};
    const ir::ValueId w_flat =
        r.emit(fused_op(conv.name + ".folded_weight", {conv.inputs[1], gamma, var}, w_space, std::move(wp), bn.loc),
               w_space);
    ir::Attrs wv;
    wv.shape = w_shape;
    const ir::ValueId w_folded =
        r.emit(ir::Op{ir::OpKind::View, conv.name + ".folded_weight.view", {w_flat}, ir::kNoValue, wv, bn.loc}, w_shape);

    // b' = (b - mean) * gamma / sqrt(var + eps) + beta, over [1, O].
    const bool has_bias = conv.inputs.size() > 2;
    std::vector<ir::ValueId> b_inputs{gamma, beta, mean, var};
    if (has_bias) b_inputs.push_back(conv.inputs[2]);
    ProgramBuilder b;
    // The conv bias [O] has one element per column of the [1, O] space: a plain load.
    const int32_t conv_bias = has_bias ? b.load(4) : b.constant(0);
    const int32_t centered = b.sub(conv_bias, b.channel(2));
    const int32_t gamma_b = b.channel(0);
    const int32_t scale_b = b.mul(gamma_b, b.inverse_std(3, 0, bn.attrs.eps));
    const int32_t scaled = b.mul(centered, scale_b);
    ir::FusedProgram bp = std::move(b).map(b.add(scaled, b.channel(1)));
    const ir::Dims b_space{1, out_channels};
    const ir::ValueId b_flat =
        r.emit(fused_op(conv.name + ".folded_bias", b_inputs, b_space, std::move(bp), bn.loc), b_space);
    ir::Attrs bv;
    bv.shape = {out_channels};
    const ir::ValueId b_folded =
        r.emit(ir::Op{ir::OpKind::View, conv.name + ".folded_bias.view", {b_flat}, ir::kNoValue, bv, bn.loc},
               bv.shape);

    ir::Op folded = conv;
    folded.inputs = {conv.inputs[0], w_folded, b_folded};
    folded.attrs.bias = true;
    r.replace(bn.output, r.emit(std::move(folded), g.shape(bn.output)));
  }
  r.finish();
}

}  // namespace resnetc::passes
