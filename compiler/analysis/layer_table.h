#pragma once
// The numbers of `resnetc model.net`: one row per layer (or per stem/stage/block when
// folded), with output shape, parameters and multiply-accumulates, and the totals.
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::analysis {

struct LayerRow {
  std::string name;  // "stage2.block0.conv1", or "stage2" when folded
  std::string op;    // "conv2d", or "stage" / "block" / ... when folded
  ir::Dims shape;    // output shape [N, C, H, W]
  int64_t params = 0;
  int64_t macs = 0;
};

struct LayerTable {
  std::string network;
  ir::Dims input;
  std::vector<LayerRow> rows;
  int64_t total_params = 0;
  int64_t trainable_params = 0;
  int64_t total_macs = 0;
  int64_t param_bytes = 0;       // parameters and BatchNorm running statistics, float32
  int64_t activation_bytes = 0;  // a training step: every layer output, kept for backward, plus its gradient
};

// max_depth 0 keeps every layer; N folds names deeper than N dotted components into
// their first N components, as torchinfo's depth does.
LayerTable layer_table(const ir::Graph& graph, int max_depth);

}  // namespace resnetc::analysis
