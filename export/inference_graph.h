#pragma once
// The network as an exported model computes it: the forward graph with inference BatchNorm folded
// into the convolutions before it (the compiler's own pass, passes::fold_batchnorm), and every
// value computed from the weights alone (the folded weights and biases) evaluated once, in double,
// by the reference executor, so that the model holds them as constants.
#include <map>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::exporter {

// Each parameter's and state's values, by the value's name (a checkpoint's tensors).
using Weights = std::map<std::string, std::vector<float>>;

struct InferenceGraph {
  ir::Graph graph;  // folded
  // Per op: whether it reads the input, directly or not; the others were evaluated.
  std::vector<bool> runs;
  // The values the ops that run read besides the input: parameters, state and evaluated ops'
  // outputs (computed in double, rounded to float as the model holds them), by value id.
  std::map<ir::ValueId, std::vector<float>> constants;
};

// Throws ExportError when `weights` lacks a parameter or state of `forward` or holds it at
// another size.
InferenceGraph fold_for_inference(ir::Graph forward, const Weights& weights);

}  // namespace resnetc::exporter
