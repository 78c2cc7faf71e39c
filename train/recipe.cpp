#include "train/recipe.h"

#include <fmt/format.h>

#include <cmath>
#include <numbers>
#include <stdexcept>

namespace resnetc::train {

Schedule parse_schedule(const std::string& name) {
  if (name == "constant") return Schedule::Constant;
  if (name == "cosine") return Schedule::Cosine;
  if (name == "step") return Schedule::Step;
  throw std::invalid_argument("schedule must be constant, cosine or step, not '" + name + "'");
}

std::string_view schedule_name(Schedule s) {
  switch (s) {
    case Schedule::Constant: return "constant";
    case Schedule::Cosine: return "cosine";
    case Schedule::Step: return "step";
  }
  return "?";
}

Optimizer parse_optimizer(const std::string& name) {
  if (name == "sgd") return Optimizer::Sgd;
  if (name == "adamw") return Optimizer::AdamW;
  throw std::invalid_argument("optimizer must be sgd or adamw, not '" + name + "'");
}

std::string_view optimizer_name(Optimizer o) { return o == Optimizer::AdamW ? "adamw" : "sgd"; }

autodiff::TrainingOptions training_options(const Recipe& r) {
  autodiff::TrainingOptions t;
  t.momentum = r.momentum;
  t.weight_decay = r.weight_decay;
  t.nesterov = r.nesterov;
  t.optimizer = r.optimizer;
  t.beta1 = r.beta1;
  t.beta2 = r.beta2;
  t.eps = r.eps;
  t.label_smoothing = r.label_smoothing;
  t.decay_vectors = r.decay_bn_bias;
  return t;
}

std::string describe_modern(const Recipe& r) {
  std::string out;
  if (r.optimizer == Optimizer::AdamW) out += fmt::format(", adamw (betas {}, {}, eps {})", r.beta1, r.beta2, r.eps);
  if (r.nesterov) out += ", Nesterov momentum";
  if (r.warmup_epochs > 0)
    out += fmt::format(", warmup {} epoch{} from {:.4g} x lr", r.warmup_epochs, r.warmup_epochs == 1 ? "" : "s",
                       r.warmup_start);
  if (r.label_smoothing > 0) out += fmt::format(", label smoothing {}", r.label_smoothing);
  if (!r.decay_bn_bias) out += ", no weight decay on BatchNorm and biases";
  return out;
}

std::string recipe_problem(const Recipe& r) {
  if (r.warmup_epochs >= r.epochs)
    return fmt::format("the warmup ({} epochs) must be shorter than the run ({} epochs)", r.warmup_epochs, r.epochs);
  if (r.nesterov && (r.optimizer != Optimizer::Sgd || r.momentum <= 0))
    return "Nesterov momentum needs the sgd optimizer with a momentum above 0";
  if (r.optimizer == Optimizer::AdamW && r.momentum > 0)
    return fmt::format("momentum {} is SGD's (set by --momentum or the file's train section); AdamW's first-moment "
                       "decay is beta1: add --momentum 0 with --optimizer adamw",
                       r.momentum);
  return {};
}

void overlay_recipe(Recipe& r, const dsl::RecipeSettings& s) {
  if (s.epochs) r.epochs = *s.epochs;
  if (s.batch) r.batch = *s.batch;
  if (s.lr) r.lr = *s.lr;
  if (s.momentum) r.momentum = *s.momentum;
  if (s.weight_decay) r.weight_decay = *s.weight_decay;
  if (s.schedule) r.schedule = parse_schedule(*s.schedule);
  if (s.seed) r.seed = static_cast<uint64_t>(*s.seed);
  if (s.augmentation.random_crop) r.augmentation.random_crop = s.augmentation.random_crop;
  if (s.augmentation.random_resized_crop) r.augmentation.random_resized_crop = s.augmentation.random_resized_crop;
  if (s.augmentation.center_crop) r.augmentation.center_crop = s.augmentation.center_crop;
  if (s.augmentation.flip) r.augmentation.flip = true;
  if (s.image_size) r.image_size = s.image_size;
  if (s.optimizer) r.optimizer = parse_optimizer(*s.optimizer);
  if (s.nesterov) r.nesterov = *s.nesterov;
  if (s.beta1) r.beta1 = *s.beta1;
  if (s.beta2) r.beta2 = *s.beta2;
  if (s.eps) r.eps = *s.eps;
  if (s.warmup_epochs) r.warmup_epochs = *s.warmup_epochs;
  if (s.warmup_start) r.warmup_start = *s.warmup_start;
  if (s.label_smoothing) r.label_smoothing = *s.label_smoothing;
  if (s.decay_bn_bias) r.decay_bn_bias = *s.decay_bn_bias;
}

Recipe recipe_from(const dsl::TrainingSettings& s) {
  Recipe r;
  if (s.dataset) r.dataset = *s.dataset;
  if (s.data) r.data = *s.data;
  overlay_recipe(r, s);
  return r;
}

double learning_rate(const Recipe& r, int64_t epoch, int64_t step, int64_t steps_per_epoch) {
  if (epoch < r.warmup_epochs) {
    const double done = static_cast<double>(epoch * steps_per_epoch + step) /
                        static_cast<double>(r.warmup_epochs * steps_per_epoch);
    return r.lr * (r.warmup_start + (1 - r.warmup_start) * done);
  }
  // The schedule's own epochs: those after the warmup.
  epoch -= r.warmup_epochs;
  const int64_t epochs = r.epochs - r.warmup_epochs;
  switch (r.schedule) {
    case Schedule::Constant: return r.lr;
    case Schedule::Cosine: {
      double t = static_cast<double>(epoch * steps_per_epoch + step);
      double total = static_cast<double>(epochs * steps_per_epoch);
      return 0.5 * r.lr * (1 + std::cos(std::numbers::pi * t / total));
    }
    case Schedule::Step: {
      double done = static_cast<double>(epoch) / static_cast<double>(epochs);
      return r.lr * (done >= 0.75 ? 0.01 : done >= 0.5 ? 0.1 : 1.0);
    }
  }
  return r.lr;
}

}  // namespace resnetc::train
