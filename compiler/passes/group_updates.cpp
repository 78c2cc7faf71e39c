// Every SGD update in one kernel, and every BatchNorm running-statistics update in another,
// instead of one small kernel per tensor (a ResNet-18 has 62 parameter tensors): launch and
// pass overhead of tiny kernels dominates their work. The group takes the place of the last
// update it replaces, after every reader of every member.
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include <fmt/format.h>

#include "compiler/passes/graph_edit.h"
#include "compiler/passes/pass.h"

namespace resnetc::passes {

namespace {

struct Group {
  ir::Op op;       // the group op being filled
  size_t last = 0;  // the index of its last member in the graph
};

// The group kind of an update kind, and the attributes that must agree within a group.
using GroupKey = std::tuple<ir::OpKind, double, double, bool, double, double>;
std::optional<GroupKey> group_key(const ir::Op& op) {
  const ir::Attrs& a = op.attrs;
  switch (op.kind) {
    case ir::OpKind::SgdUpdate: return GroupKey{ir::OpKind::SgdUpdateGroup, a.momentum, a.weight_decay, false, 0, 0};
    case ir::OpKind::SgdMomentumUpdate:
      return GroupKey{ir::OpKind::SgdMomentumUpdateGroup, a.momentum, a.weight_decay, a.nesterov, 0, 0};
    case ir::OpKind::AdamwUpdate:
      return GroupKey{ir::OpKind::AdamwUpdateGroup, a.momentum, a.weight_decay, false, a.beta2, a.eps};
    case ir::OpKind::BnRunningUpdate: return GroupKey{ir::OpKind::BnRunningUpdateGroup, a.momentum, 0.0, false, 0, 0};
    default: return std::nullopt;
  }
}

std::string_view group_name(ir::OpKind kind) {
  switch (kind) {
    case ir::OpKind::SgdUpdateGroup:
    case ir::OpKind::SgdMomentumUpdateGroup:
    case ir::OpKind::AdamwUpdateGroup: return "optimizer.update";
    default: return "batchnorm.running_update";
  }
}

}  // namespace

void group_updates(ir::Graph& g) {
  std::map<GroupKey, Group> groups;
  for (size_t o = 0; o < g.ops.size(); ++o) {
    const ir::Op& op = g.ops[o];
    auto key = group_key(op);
    if (!key) continue;
    auto [it, inserted] = groups.try_emplace(*key);
    Group& group = it->second;
    if (inserted) {
      const ir::OpKind kind = std::get<0>(*key);
      group.op = ir::Op{kind, std::string(group_name(kind)), {}, ir::kNoValue, {}, op.loc};
      group.op.attrs.momentum = op.attrs.momentum;
      group.op.attrs.weight_decay = op.attrs.weight_decay;
      group.op.attrs.nesterov = op.attrs.nesterov;
      group.op.attrs.beta2 = op.attrs.beta2;
      group.op.attrs.eps = op.attrs.eps;
      if (kind != ir::OpKind::BnRunningUpdateGroup) group.op.inputs.push_back(op.inputs[2]);  // the learning rate
      if (kind == ir::OpKind::AdamwUpdateGroup) group.op.inputs.push_back(op.inputs[3]);       // the step count
    }
    if (op.kind == ir::OpKind::BnRunningUpdate) {
      group.op.inputs.insert(group.op.inputs.end(), op.inputs.begin(), op.inputs.end());
      group.op.attrs.counts.push_back(op.attrs.shape[0] * op.attrs.shape[2] * op.attrs.shape[3]);
    } else if (op.kind == ir::OpKind::AdamwUpdate) {
      group.op.inputs.insert(group.op.inputs.end(), {op.inputs[0], op.inputs[1], op.inputs[4], op.inputs[5]});
    } else {
      group.op.inputs.push_back(op.inputs[0]);
      group.op.inputs.push_back(op.inputs[1]);
      if (op.kind == ir::OpKind::SgdMomentumUpdate) group.op.inputs.push_back(op.inputs[3]);
    }
    group.last = o;
  }
  // Two groups of the same kind (different hyperparameters) need different names.
  std::map<std::string, int> names;
  for (auto& [key, group] : groups)
    if (int n = names[group.op.name]++; n > 0) group.op.name = fmt::format("{}.{}", group.op.name, n);

  Rewriter r(g);
  for (size_t o = 0; o < g.ops.size(); ++o) {
    if (!group_key(g.ops[o])) {
      r.keep(g.ops[o]);
      continue;
    }
    for (auto& [key, group] : groups)
      if (group.last == o) r.emit(std::move(group.op));
  }
  r.finish();
}

}  // namespace resnetc::passes
