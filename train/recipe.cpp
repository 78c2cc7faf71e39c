#include "train/recipe.h"

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

Recipe recipe_from(const dsl::TrainingSettings& s) {
  Recipe r;
  if (s.dataset) r.dataset = *s.dataset;
  if (s.data) r.data = *s.data;
  if (s.epochs) r.epochs = *s.epochs;
  if (s.batch) r.batch = *s.batch;
  if (s.lr) r.lr = *s.lr;
  if (s.momentum) r.momentum = *s.momentum;
  if (s.weight_decay) r.weight_decay = *s.weight_decay;
  if (s.schedule) r.schedule = parse_schedule(*s.schedule);
  if (s.seed) r.seed = static_cast<uint64_t>(*s.seed);
  r.augmentation = s.augmentation;
  r.image_size = s.image_size;
  return r;
}

double learning_rate(const Recipe& r, int64_t epoch, int64_t step, int64_t steps_per_epoch) {
  switch (r.schedule) {
    case Schedule::Constant: return r.lr;
    case Schedule::Cosine: {
      double t = static_cast<double>(epoch * steps_per_epoch + step);
      double total = static_cast<double>(r.epochs * steps_per_epoch);
      return 0.5 * r.lr * (1 + std::cos(std::numbers::pi * t / total));
    }
    case Schedule::Step: {
      double done = static_cast<double>(epoch) / static_cast<double>(r.epochs);
      return r.lr * (done >= 0.75 ? 0.01 : done >= 0.5 ? 0.1 : 1.0);
    }
  }
  return r.lr;
}

}  // namespace resnetc::train
