#include "compiler/autodiff/training_graph.h"

#include <fmt/format.h>

#include <map>

#include "compiler/autodiff/gradients/rule.h"
#include "compiler/ir/builder.h"
#include "compiler/ir/ops.h"
#include "compiler/ir/random_mask.h"
#include "compiler/ir/verifier.h"

namespace resnetc::autodiff {
namespace {

using ir::Attrs;
using ir::OpKind;
using ir::ValueId;

// The gradient rule of every kind, indexed by OpKind (ops.cpp checks that the rows are in enum order).
using GradientRule = void (*)(const OpGradient&);
constexpr GradientRule kGradientRules[] = {
#define OP(kind, ...) &gradients::kind,
#include "compiler/ir/ops.def"
#undef OP
};
static_assert(std::size(kGradientRules) == static_cast<size_t>(ir::kLastOpKind) + 1, "one gradient rule per OpKind");

class Differentiator final : private GradientSink {
 public:
  Differentiator(const ir::Graph& forward, const TrainingOptions& options)
      : fwd_(forward), options_(options), b_(forward.name, forward.shape(forward.input)) {}

  ir::Graph run() && {
    if (std::optional<Refusal> why = why_untrainable(fwd_)) throw why->error();
    copy_leaves();
    for (const ir::Op& op : fwd_.ops) forward_op(op);
    ValueId logits = map_.at(fwd_.output);
    labels_ = b_.add_value("labels", {b_.shape(logits)[0]}, ir::ValueRole::Input, ir::DType::I32);
    lr_ = b_.add_value("learning_rate", {1}, ir::ValueRole::Input);
    ir::SourceLoc loc = fwd_.ops.back().loc;
    Attrs loss_attrs;
    loss_attrs.label_smoothing = options_.label_smoothing;
    ValueId loss = b_.apply(OpKind::SoftmaxCrossEntropy, "loss", {logits, labels_}, loss_attrs, loc);
    accumulate(logits, b_.apply(OpKind::SoftmaxCrossEntropyGrad, "loss.grad", {logits, labels_}, loss_attrs, loc),
               loc);

    for (auto op = fwd_.ops.rbegin(); op != fwd_.ops.rend(); ++op) backward_op(*op);
    updates();

    ir::Graph g = std::move(b_).finish(logits);
    g.output_loc = fwd_.output_loc;
    g.labels = labels_;
    g.learning_rate = lr_;
    g.rng = rng_;
    g.loss = loss;
    ir::verify_or_throw(g, "autodiff");
    return g;
  }

 private:
  // Parameters and running statistics keep their names (they are what checkpoints hold).
  void copy_leaves() {
    map_[fwd_.input] = b_.input();
    for (size_t i = 0; i < fwd_.values.size(); ++i) {
      const ir::Value& v = fwd_.values[i];
      if (v.role == ir::ValueRole::Parameter || v.role == ir::ValueRole::State)
        map_[static_cast<ValueId>(i)] = b_.add_value(v.name, v.shape, v.role, v.dtype);
    }
  }

  std::vector<ValueId> mapped(const std::vector<ValueId>& ids) const {
    std::vector<ValueId> out;
    for (ValueId id : ids) out.push_back(map_.at(id));
    return out;
  }

  // The forward op in the training graph; BatchNorm uses the batch's statistics.
  void forward_op(const ir::Op& op) {
    std::vector<ValueId> in = mapped(op.inputs);
    if (op.kind == OpKind::Dropout || op.kind == OpKind::DropPath) {
      map_[op.output] = b_.apply(mask_kind(op.kind), op.name, {in[0], rng()}, mask_attrs(op), op.loc);
      return;
    }
    if (op.kind != OpKind::BatchNorm) {
      map_[op.output] = b_.apply(op.kind, op.name, in, op.attrs, op.loc);
      return;
    }
    ValueId stats = b_.apply(OpKind::BnStats, op.name + ".stats", {in[0]}, {}, op.loc);
    Attrs apply_attrs;
    apply_attrs.eps = op.attrs.eps;
    map_[op.output] = b_.apply(OpKind::BnApply, op.name, {in[0], stats, in[1], in[2]}, apply_attrs, op.loc);
    batch_norms_.push_back({&op, stats});
  }

  // Dropout and drop-path train with a mask drawn from the rng input (their gradient rules
  // draw the same mask again).
  static OpKind mask_kind(OpKind kind) { return kind == OpKind::Dropout ? OpKind::DropoutMask : OpKind::DropPathMask; }
  static Attrs mask_attrs(const ir::Op& op) {
    Attrs a;
    a.rate = op.attrs.rate;
    a.salt = ir::random_mask::salt(op.name);
    return a;
  }
  // The [2] int32 input (seed, step), made at the first dropout: graphs without one keep
  // their inputs.
  ValueId rng() {
    if (rng_ == ir::kNoValue) rng_ = b_.add_value("rng", {2}, ir::ValueRole::Input, ir::DType::I32);
    return rng_;
  }

  ValueId apply(OpKind kind, std::string name, std::vector<ValueId> inputs, const Attrs& attrs,
                const ir::SourceLoc& loc) override {
    return b_.apply(kind, std::move(name), std::move(inputs), attrs, loc);
  }

  // Adds `g` to the gradient of forward value `v` (a value read twice gets the sum).
  void accumulate(ValueId v, ValueId g, const ir::SourceLoc& loc) override {
    auto [it, fresh] = grad_.emplace(v, g);
    if (fresh) return;
    std::string name = fmt::format("{}.grad_sum{}", b_.graph().value(v).name, ++sums_[v]);
    it->second = b_.apply(OpKind::Add, name, {it->second, g}, {}, loc);
  }

  void param_grad(ValueId param, ValueId g) override { param_grads_.emplace_back(param, g); }

  const ir::Graph& graph() const override { return b_.graph(); }

  // The op's gradients, by its kind's rule (gradients/rule.h).
  void backward_op(const ir::Op& op) {
    ValueId y = map_.at(op.output);
    auto found = grad_.find(y);
    if (found == grad_.end()) return;  // nothing downstream depends on it
    std::vector<ValueId> in = mapped(op.inputs);
    const bool x_needs_grad = in[0] != b_.input();
    ir::Dims x_shape = b_.shape(in[0]);
    if (!ir::is_known_op_kind(op.kind)) not_differentiable(op);
    kGradientRules[static_cast<size_t>(op.kind)](
        OpGradient{op, y, found->second, std::move(in), x_needs_grad, std::move(x_shape), *this});
  }

  // The optimizer's update of every parameter (in the order the backward pass produced their
  // gradients), then the running statistics of every BatchNorm.
  void updates() {
    const bool adamw = options_.optimizer == Optimizer::AdamW;
    const ValueId step =
        adamw ? b_.add_value(std::string(kOptimizerStep), {1}, ir::ValueRole::State) : ir::kNoValue;
    for (auto [param, g] : param_grads_) {
      std::string name = b_.graph().value(param).name;
      Attrs a;
      const bool vector = b_.shape(param).size() == 1;  // BatchNorm's weight and bias, a layer's bias
      a.weight_decay = vector && !options_.decay_vectors ? 0 : options_.weight_decay;
      if (adamw) {
        a.momentum = options_.beta1;
        a.beta2 = options_.beta2;
        a.eps = options_.eps;
        ValueId exp_avg = b_.add_value(name + ".exp_avg", b_.shape(param), ir::ValueRole::State);
        ValueId exp_avg_sq = b_.add_value(name + ".exp_avg_sq", b_.shape(param), ir::ValueRole::State);
        b_.apply(OpKind::AdamwUpdate, name + ".update", {param, g, lr_, step, exp_avg, exp_avg_sq}, a, {});
      } else if (options_.momentum > 0) {
        a.momentum = options_.momentum;
        a.nesterov = options_.nesterov;
        ValueId velocity = b_.add_value(name + ".velocity", b_.shape(param), ir::ValueRole::State);
        b_.apply(OpKind::SgdMomentumUpdate, name + ".update", {param, g, lr_, velocity}, a, {});
      } else {
        a.momentum = Attrs{}.momentum;
        b_.apply(OpKind::SgdUpdate, name + ".update", {param, g, lr_}, a, {});
      }
    }
    for (auto [op, stats] : batch_norms_) {
      Attrs a;
      a.momentum = op->attrs.momentum;
      a.shape = b_.shape(map_.at(op->inputs[0]));
      b_.apply(OpKind::BnRunningUpdate, op->name + ".running_update",
               {map_.at(op->inputs[3]), map_.at(op->inputs[4]), stats}, a, op->loc);
    }
  }

  const ir::Graph& fwd_;
  TrainingOptions options_;
  ir::GraphBuilder b_;
  std::map<ValueId, ValueId> map_;   // forward value -> training-graph value
  std::map<ValueId, ValueId> grad_;  // training-graph value -> its gradient so far
  std::map<ValueId, int> sums_;
  std::vector<std::pair<ValueId, ValueId>> param_grads_;
  std::vector<std::pair<const ir::Op*, ValueId>> batch_norms_;  // forward BN op, its stats value
  ValueId labels_ = ir::kNoValue, lr_ = ir::kNoValue, rng_ = ir::kNoValue;
};

}  // namespace

std::optional<Refusal> why_not_a_classifier(const ir::Graph& forward) {
  const ir::Dims& out = forward.shape(forward.output);
  if (out.size() == 2) return std::nullopt;
  ir::SourceLoc at = forward.output_loc;
  if (!at.valid() && !forward.ops.empty()) at = forward.ops.back().loc;  // a graph built without the language
  return Refusal{fmt::format("a training step needs a classifier, logits of shape [N, classes] for its softmax "
                             "cross-entropy loss, but the network's output is {}; end the network with a head "
                             "such as 'head {{ avgpool; fc 10 }}'",
                             ir::format_dims(out)),
                 at};
}

std::optional<Refusal> why_untrainable(const ir::Graph& forward) {
  if (std::optional<Refusal> not_classifier = why_not_a_classifier(forward)) return not_classifier;
  for (const ir::Op& op : forward.ops) {
    if (op.kind != OpKind::BatchNorm) continue;
    const ir::Dims& x = forward.shape(op.inputs[0]);
    if (x[0] * x[2] * x[3] > 1) continue;
    return Refusal{fmt::format("training BatchNorm normalizes with the batch's statistics, which need more than "
                               "one value per channel, but '{}' gets {}; train with a batch of 2 or more",
                               op.name, ir::format_dims(x)),
                   op.loc};
  }
  return std::nullopt;
}

ir::Graph make_training_graph(const ir::Graph& forward, const TrainingOptions& options) {
  return Differentiator(forward, options).run();
}

bool is_velocity(const ir::Value& value) {
  return value.role == ir::ValueRole::State && value.name.ends_with(".velocity");
}

bool is_optimizer_state(std::string_view name) {
  return name.ends_with(".velocity") || name.ends_with(".exp_avg") || name.ends_with(".exp_avg_sq") ||
         name == kOptimizerStep;
}

}  // namespace resnetc::autodiff
