#include "tools/resnetc/initial_weights.h"

#include <string_view>
#include <unordered_map>

#include "compiler/autodiff/training_graph.h"
#include "dsl/frontend.h"
#include "train/initialize.h"

namespace resnetc::cli {

train::TensorMap initial_weights(const Options& o, dsl::SourceManager& sources, const ir::Graph& forward,
                                 const train::Recipe& recipe, uint64_t seed) {
  const ir::Graph network = dsl::compile_file(sources, o.model, {o.input, recipe.batch}).graph;
  const ir::Graph training = autodiff::make_training_graph(network, train::training_options(recipe));
  std::unordered_map<std::string_view, ir::ValueId> by_name;
  for (size_t t = 0; t < training.values.size(); ++t) by_name.emplace(training.values[t].name, static_cast<ir::ValueId>(t));
  train::TensorMap weights;
  for (const ir::Value& v : forward.values)
    if (v.role == ir::ValueRole::Parameter || v.role == ir::ValueRole::State)
      if (const auto it = by_name.find(v.name); it != by_name.end())
        weights[v.name] = train::initial_values(training, it->second, seed);
  return weights;
}

}  // namespace resnetc::cli
