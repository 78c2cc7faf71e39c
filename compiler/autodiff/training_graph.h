#pragma once
// Reverse-mode automatic differentiation: turns the network's forward graph into the graph
// of one training step — forward with batch statistics, softmax cross-entropy loss, backward,
// and the SGD update of every parameter and of the BatchNorm running statistics.
#include "compiler/ir/graph.h"

namespace resnetc::autodiff {

struct TrainingOptions {
  double momentum = 0;      // SGD momentum; 0 keeps no velocity
  double weight_decay = 0;  // L2 penalty added to each gradient, as torch.optim.SGD does
};

// The forward graph's output must be the logits [N, classes]. The result's `labels`
// ([N] int32) and `learning_rate` ([1]) are inputs to set before each step; `loss` is the
// batch's mean loss and `output` the logits. Throws ir::ShapeError for a graph that cannot
// be trained (logits that are not 2-d).
ir::Graph make_training_graph(const ir::Graph& forward, const TrainingOptions& options);

// Names of the tensors a training run keeps: parameters, running statistics and, with
// momentum, the optimizer's velocity (`<param>.velocity`).
bool is_velocity(const ir::Value& value);

}  // namespace resnetc::autodiff
