#pragma once
// Reverse-mode automatic differentiation: turns the network's forward graph into the graph
// of one training step — forward with batch statistics, softmax cross-entropy loss, backward,
// and the SGD update of every parameter and of the BatchNorm running statistics.
#include <optional>
#include <string>

#include "compiler/ir/compile_error.h"
#include "compiler/ir/graph.h"

namespace resnetc::autodiff {

struct TrainingOptions {
  double momentum = 0;      // SGD momentum; 0 keeps no velocity
  double weight_decay = 0;  // L2 penalty added to each gradient, as torch.optim.SGD does
};

// Why a graph cannot be used as asked, at the user's line (the op's, the head's or the network's).
struct Refusal {
  std::string reason;  // a sentence, starting lowercase: "a training step needs a classifier, ..."
  ir::SourceLoc loc;

  // The error that tells the user, when they asked for what is refused.
  ir::CompileError error() const { return {ir::CompileError::Phase::Graph, loc, reason}; }
};
// Why `forward` is not a classifier: its output is not logits [N, classes].
std::optional<Refusal> why_not_a_classifier(const ir::Graph& forward);
// Why a training step of `forward` is not defined: it is not a classifier (the loss is softmax
// cross-entropy over the logits), or a BatchNorm sees one value per channel (its batch variance
// has no unbiased estimate).
std::optional<Refusal> why_untrainable(const ir::Graph& forward);

// The forward graph's output must be the logits [N, classes]. The result's `labels`
// ([N] int32) and `learning_rate` ([1]) are inputs to set before each step; `loss` is the
// batch's mean loss and `output` the logits. Throws a located ir::CompileError for a graph that
// cannot be trained (why_untrainable).
ir::Graph make_training_graph(const ir::Graph& forward, const TrainingOptions& options);

// Names of the tensors a training run keeps: parameters, running statistics and, with
// momentum, the optimizer's velocity (`<param>.velocity`).
bool is_velocity(const ir::Value& value);

}  // namespace resnetc::autodiff
