// BatchNorm's backward in two kernels instead of three or four. Training BatchNorm's gradients
// all start from the same two per-channel sums, sum(dy * xhat) (the weight gradient) and
// sum(dy) (the bias gradient); bn_grad_input recomputes both. This pass computes them once in
// a fused reduction over (dy, x), takes the weight and bias gradients as views of its rows, and
// turns the input gradient into a fused map that reads the sums:
//   dx = weight * invstd * (dy - sum(dy) / n - xhat * sum(dy * xhat) / n),  n = N*H*W.
#include <map>
#include <tuple>

#include "compiler/passes/graph_edit.h"
#include "compiler/passes/pass.h"

namespace resnetc::passes {

namespace {

// The ops of one BatchNorm's backward, found by their shared inputs.
struct BnBackward {
  ir::OpId grad_input = -1, grad_weight = -1, grad_bias = -1;
};

std::map<ir::OpId, BnBackward> find_groups(const ir::Graph& g) {
  std::map<std::tuple<ir::ValueId, ir::ValueId, ir::ValueId>, ir::OpId> weight_grads;  // (dy, x, stats)
  std::map<ir::ValueId, ir::OpId> bias_grads;                                         // dy
  for (size_t o = 0; o < g.ops.size(); ++o) {
    const ir::Op& op = g.ops[o];
    if (op.kind == ir::OpKind::BnGradWeight)
      weight_grads.emplace(std::tuple{op.inputs[0], op.inputs[1], op.inputs[2]}, static_cast<ir::OpId>(o));
    if (op.kind == ir::OpKind::BiasGrad) bias_grads.emplace(op.inputs[0], static_cast<ir::OpId>(o));
  }
  std::map<ir::OpId, BnBackward> groups;  // by the first op of the group
  for (size_t o = 0; o < g.ops.size(); ++o) {
    const ir::Op& op = g.ops[o];
    if (op.kind != ir::OpKind::BnGradInput) continue;
    auto w = weight_grads.find({op.inputs[0], op.inputs[1], op.inputs[2]});
    if (w == weight_grads.end() || g.op(w->second).attrs.eps != op.attrs.eps) continue;
    BnBackward b{static_cast<ir::OpId>(o), w->second, -1};
    // Two BatchNorms whose outputs are added share dy, and cse gives them one bias_grad: the
    // first group takes it.
    if (auto bias = bias_grads.find(op.inputs[0]); bias != bias_grads.end()) {
      b.grad_bias = bias->second;
      bias_grads.erase(bias);
    }
    ir::OpId first = std::min(b.grad_input, b.grad_weight);
    if (b.grad_bias >= 0) first = std::min(first, b.grad_bias);
    groups.emplace(first, b);
  }
  return groups;
}

// The BatchNorm's name: "stage1.block0.bn1" from "stage1.block0.bn1.grad_input".
std::string layer_of(const std::string& op_name) { return op_name.substr(0, op_name.rfind('.')); }

}  // namespace

void fuse_batchnorm_backward(ir::Graph& g) {
  const std::map<ir::OpId, BnBackward> groups = find_groups(g);
  std::vector<bool> in_group(g.ops.size());
  for (const auto& [first, b] : groups) {
    in_group[static_cast<size_t>(b.grad_input)] = in_group[static_cast<size_t>(b.grad_weight)] = true;
    if (b.grad_bias >= 0) in_group[static_cast<size_t>(b.grad_bias)] = true;
  }
  Rewriter r(g);
  for (size_t o = 0; o < g.ops.size(); ++o) {
    auto group = groups.find(static_cast<ir::OpId>(o));
    if (group == groups.end()) {
      if (!in_group[o]) r.keep(g.ops[o]);
      continue;
    }
    const BnBackward& b = group->second;
    const ir::Op& gi = g.op(b.grad_input);
    const ir::ValueId dy = gi.inputs[0], x = gi.inputs[1], stats = gi.inputs[2], weight = gi.inputs[3];
    const ir::Dims& space = g.shape(x);
    const int64_t channels = space[1];
    const double eps = gi.attrs.eps;
    const std::string layer = layer_of(gi.name);

    // sums [2, C]: row 0 sum(dy * xhat), row 1 sum(dy).
    ProgramBuilder s;
    const int32_t s_dy = s.load(0), s_x = s.load(1), s_mean = s.channel(2, 0);
    const int32_t s_xhat = s.normalized(s_x, s_mean, s.inverse_std(2, 1, eps));
    const int32_t s_dy_xhat = s.mul(s_dy, s_xhat);
    ir::FusedProgram sp = std::move(s).reduce({s_dy_xhat, s_dy});
    const ir::ValueId sums =
        r.emit(fused_op(layer + ".grad_sums", {dy, x, stats}, space, std::move(sp), gi.loc), {2, channels});

    auto row_view = [&](ir::OpId replaced, int64_t row) {
      const ir::Op& op = g.op(replaced);
      ir::Attrs a;
      a.shape = {channels};
      a.offset = row * channels;
      r.replace(op.output, r.emit(ir::Op{ir::OpKind::View, op.name, {sums}, ir::kNoValue, a, op.loc}, a.shape));
    };
    row_view(b.grad_weight, 0);
    if (b.grad_bias >= 0) row_view(b.grad_bias, 1);

    ProgramBuilder m;
    const int32_t m_dy = m.load(0), m_x = m.load(1), m_mean = m.channel(2, 0);
    const int32_t invstd = m.inverse_std(2, 1, eps);
    const int32_t xhat = m.normalized(m_x, m_mean, invstd);
    const int32_t inv_n = m.constant(1.0 / static_cast<double>(ir::numel(space) / channels));
    const int32_t mean_dy = m.mul(m.channel(4, 1), inv_n);
    const int32_t mean_dy_xhat = m.mul(m.channel(4, 0), inv_n);
    const int32_t dy_centered = m.sub(m_dy, mean_dy);
    const int32_t centered = m.sub(dy_centered, m.mul(xhat, mean_dy_xhat));
    const int32_t scale = m.mul(m.channel(3), invstd);
    ir::FusedProgram mp = std::move(m).map(m.mul(scale, centered));
    r.replace(gi.output, r.emit(fused_op(gi.name, {dy, x, stats, weight, sums}, space, std::move(mp), gi.loc), space));
  }
  r.finish();
}

}  // namespace resnetc::passes
