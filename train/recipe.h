#pragma once
// The training recipe: the seed's defaults, then the .net file's `train` section, then flags.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "dsl/training_settings.h"

namespace resnetc::train {

enum class Schedule { Constant, Cosine, Step };

struct Recipe {
  // Dive into Deep Learning's recipe for ResNet-18 on Fashion-MNIST.
  std::string dataset = "fashion-mnist";
  std::string data;  // the train section's path for `dataset`, as written; empty: none
  int64_t epochs = 10;
  int64_t batch = 256;
  double lr = 0.05;
  double momentum = 0;
  double weight_decay = 0;
  Schedule schedule = Schedule::Constant;
  uint64_t seed = 0;
  data::Augmentation augmentation;  // of the training images (docs/data.md); none by default
  std::optional<data::ImageSize> image_size;  // a folder's images as kept (--image-size); none: the input's
};

// The defaults overlaid with what the file's `train` section sets.
Recipe recipe_from(const dsl::TrainingSettings& settings);
Schedule parse_schedule(const std::string& name);  // throws std::invalid_argument
std::string_view schedule_name(Schedule s);

// The learning rate for step `step` (0-based) of epoch `epoch` (0-based): constant; cosine
// annealing to 0 over all steps; or step decay by 10x at 50% and 75% of the epochs.
double learning_rate(const Recipe& recipe, int64_t epoch, int64_t step, int64_t steps_per_epoch);

}  // namespace resnetc::train
