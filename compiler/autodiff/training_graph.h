#pragma once
// Reverse-mode automatic differentiation: turns the network's forward graph into the graph
// of one training step — forward with batch statistics, softmax cross-entropy loss, backward,
// and the SGD update of every parameter and of the BatchNorm running statistics.
#include <optional>
#include <string>
#include <string_view>

#include "compiler/ir/compile_error.h"
#include "compiler/ir/graph.h"

namespace resnetc::autodiff {

enum class Optimizer { Sgd, AdamW };

struct TrainingOptions {
  double momentum = 0;      // SGD momentum; 0 keeps no velocity
  double weight_decay = 0;  // SGD: L2 penalty added to each gradient, as torch.optim.SGD does;
                            // AdamW: decoupled, param *= 1 - lr * weight_decay
  bool nesterov = false;    // SGD with momentum: torch.optim.SGD(nesterov=True)
  Optimizer optimizer = Optimizer::Sgd;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // AdamW, as torch.optim.AdamW's defaults
  double label_smoothing = 0;  // torch.nn.CrossEntropyLoss(label_smoothing=)
  bool decay_vectors = true;   // false: no weight decay on 1-d parameters (BatchNorm's, biases)
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

// The optimizer's state, which a checkpoint of the model does not need and fine-tuning starts
// afresh: SGD's `<param>.velocity`, AdamW's `<param>.exp_avg` and `<param>.exp_avg_sq` (PyTorch's
// names) and its step count `optimizer.step` ([1], set by the trainer before each step: t = 1
// at the first).
bool is_optimizer_state(std::string_view name);
inline constexpr std::string_view kOptimizerStep = "optimizer.step";

}  // namespace resnetc::autodiff
