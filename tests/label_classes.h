#pragma once
// How many classes an int32 labels input indexes, so the test harnesses draw valid labels: the
// last dimension of the logits of the first loss that reads it (a graph may hold several losses
// of different widths), else of the graph's output.
#include <cstdint>

#include "compiler/ir/graph.h"

namespace resnetc::testing {

inline int64_t label_classes(const ir::Graph& graph, ir::ValueId labels) {
  for (const ir::Op& op : graph.ops) {
    const bool loss = op.kind == ir::OpKind::SoftmaxCrossEntropy || op.kind == ir::OpKind::SoftmaxCrossEntropyGrad;
    if (loss && op.inputs.size() == 2 && op.inputs[1] == labels) return graph.shape(op.inputs[0]).back();
  }
  return graph.output != ir::kNoValue ? graph.shape(graph.output).back() : 1;
}

}  // namespace resnetc::testing
