#include "tests/conformance/merge.h"

#include <fmt/format.h>

#include <cstdlib>
#include <map>
#include <tuple>

#include "compiler/ir/builder.h"

namespace resnetc::testing::conformance {

namespace {

// Appends `g`'s values and ops to `out`, every name prefixed; returns the id its output maps to.
ir::ValueId append(ir::GraphBuilder& out, const ir::Graph& g, const std::string& prefix) {
  std::vector<ir::ValueId> id(g.values.size(), ir::kNoValue);
  for (size_t i = 0; i < g.values.size(); ++i) {
    const ir::Value& v = g.values[i];
    if (v.role != ir::ValueRole::Activation) id[i] = out.add_value(prefix + v.name, v.shape, v.role, v.dtype);
  }
  for (const ir::Op& op : g.ops) {
    std::vector<ir::ValueId> inputs;
    for (ir::ValueId in : op.inputs) inputs.push_back(id[static_cast<size_t>(in)]);
    const ir::ValueId result = out.apply(op.kind, prefix + op.name, std::move(inputs), op.attrs, op.loc);
    if (op.output != ir::kNoValue) id[static_cast<size_t>(op.output)] = result;
  }
  return id[static_cast<size_t>(g.output)];
}

}  // namespace

std::vector<Group> merged_groups(const std::vector<Case>& cases) {
  std::map<std::tuple<double, float, bool, bool, bool, bool>, std::vector<size_t>> keyed;
  for (size_t i = 0; i < cases.size(); ++i)
    keyed[{cases[i].tolerance, cases[i].input_scale, cases[i].gemm, cases[i].large, cases[i].positive_inputs,
           cases[i].batchnorm_near_identity}]
        .push_back(i);
  std::vector<Group> groups;
  for (const auto& [key, members] : keyed) {
    ir::GraphBuilder builder(fmt::format("conformance{}", groups.size()), {1});
    ir::ValueId output = ir::kNoValue;
    for (size_t i : members) {
      const ir::ValueId out = append(builder, backend_graph(cases[i]), fmt::format("c{}.", i));
      if (output == ir::kNoValue) output = out;
    }
    groups.push_back({std::move(builder).finish(output), std::get<0>(key), std::get<1>(key), std::get<2>(key),
                      std::get<3>(key), std::get<4>(key), std::get<5>(key), members});
  }
  return groups;
}

ir::Graph merge(const std::vector<ir::Graph>& graphs) {
  ir::GraphBuilder builder("merged", {1});
  ir::ValueId output = ir::kNoValue;
  for (size_t i = 0; i < graphs.size(); ++i) {
    const ir::ValueId out = append(builder, graphs[i], fmt::format("g{}.", i));
    if (output == ir::kNoValue) output = out;
  }
  return std::move(builder).finish(output);
}

std::string case_of(const std::vector<Case>& cases, const std::string& value_name) {
  if (!value_name.starts_with("c")) return {};
  const size_t i = std::strtoul(value_name.c_str() + 1, nullptr, 10);
  return i < cases.size() ? cases[i].name : std::string();
}

}  // namespace resnetc::testing::conformance
