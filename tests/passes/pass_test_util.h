#pragma once
// Helpers of the pass tests: graphs from .net text, and the reference executor run on random
// (named) inputs so a graph before and after a pass can be compared value by value.
#include <map>
#include <random>
#include <string>
#include <vector>

#include "compiler/autodiff/training_graph.h"
#include "compiler/reference/executor.h"
#include "dsl/frontend.h"

namespace resnetc::passes::testing {

inline ir::Graph forward_graph(const std::string& text, int64_t batch) {
  dsl::SourceManager sources;
  dsl::LowerOptions options;
  options.batch = batch;
  return dsl::compile_source(sources, "t.net", text, options).graph;
}

inline ir::Graph training_graph(const std::string& text, int64_t batch, double momentum = 0.9) {
  return autodiff::make_training_graph(forward_graph(text, batch), {momentum, 1e-4});
}

// Values by name: what the reference executor computed for the graph's results and every
// parameter and state after the step.
using Named = std::map<std::string, std::vector<double>>;

// Runs `g` with every non-activation value filled from a generator seeded by its name, so two
// graphs that share names get the same inputs whatever their value ids.
inline Named run_reference(const ir::Graph& g) {
  reference::Executor ex(g);
  for (size_t i = 0; i < g.values.size(); ++i) {
    const ir::Value& v = g.values[i];
    if (v.role == ir::ValueRole::Activation) continue;
    const auto id = static_cast<ir::ValueId>(i);
    std::vector<double> data(static_cast<size_t>(ir::numel(v.shape)));
    std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>{}(v.name)));
    if (id == g.labels) {
      const int64_t classes = g.shape(g.output)[1];
      for (size_t n = 0; n < data.size(); ++n) data[n] = static_cast<double>((n * 7 + 3) % static_cast<size_t>(classes));
    } else if (id == g.learning_rate) {
      data = {0.1};
    } else {
      // Running variances and BatchNorm scales positive; everything else either sign.
      const bool positive = v.name.ends_with(".running_var") || (v.shape.size() == 1 && v.name.ends_with(".weight") &&
                                                                 v.name.find("bn") != std::string::npos);
      std::uniform_real_distribution<double> u(positive ? 0.5 : -1.0, positive ? 1.5 : 1.0);
      for (double& x : data) x = u(rng);
    }
    ex.set(id, std::move(data));
  }
  ex.run();
  Named out;
  if (g.output != ir::kNoValue) out["<logits>"] = ex.get(g.output);
  if (g.loss != ir::kNoValue) out["<loss>"] = ex.get(g.loss);
  for (size_t i = 0; i < g.values.size(); ++i) {
    const ir::Value& v = g.values[i];
    if (v.role == ir::ValueRole::Parameter || v.role == ir::ValueRole::State) out[v.name] = ex.get(static_cast<ir::ValueId>(i));
  }
  return out;
}

// The largest |a - b| / max(1, |a|) over every value both have; -1 when their names differ.
inline double max_relative_difference(const Named& a, const Named& b) {
  if (a.size() != b.size()) return -1;
  double worst = 0;
  for (const auto& [name, x] : a) {
    auto it = b.find(name);
    if (it == b.end() || it->second.size() != x.size()) return -1;
    for (size_t i = 0; i < x.size(); ++i)
      worst = std::max(worst, std::abs(x[i] - it->second[i]) / std::max(1.0, std::abs(x[i])));
  }
  return worst;
}

inline int count_ops(const ir::Graph& g, ir::OpKind kind) {
  int n = 0;
  for (const ir::Op& op : g.ops) n += op.kind == kind;
  return n;
}

// Networks with the patterns the passes look for: residual blocks with and without a 1x1
// shortcut conv (d2l's `residual`, torchvision's `basic`), sizes that divide nothing; and a
// conv whose output both a BatchNorm and the block's identity shortcut read.
inline const char* kResidualNet = R"(network residual_test {
  input 3x9x9
  stem { conv 6 k3 p1; bn; relu }
  stage residual 6
  stage basic 10 stride=2
  head { avgpool; fc 5 }
})";

inline const char* kTwoUserConvNet = R"(block bn_skip() {
  branch { bn }
  post { relu }
}
network two_users {
  input 2x7x7
  stem { conv 4 k3 p1 }
  stage bn_skip
  head { avgpool; fc 3 }
})";

// Gating activations in the places relu takes: silu after a BatchNorm, a sigmoid-gated SE module
// (its multiply before the residual add), silu after the add.
inline const char* kGatedNet = R"(block se_block(width) {
  branch {
    conv width k3 p1; bn; silu
    conv width k3 p1; bn
    gate se { avgpool; conv 2 k1 bias; relu; conv width k1 bias; sigmoid }
  }
  post { silu }
}
network gated {
  input 3x9x9
  stem { conv 5 k3 p1; bn; relu }
  stage se_block 5
  head { avgpool; fc 4 }
})";

}  // namespace resnetc::passes::testing
