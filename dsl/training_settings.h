#pragma once
// The optional `train { ... }` section: the recipe a file suggests, which flags override.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dsl/ast.h"
#include "runtime/data/augment_spec.h"

namespace resnetc::dsl {

// The recipe's settings that one source gives (the file's `train` section, the flags of
// `resnetc train`): each one given replaces the recipe's (train::overlay_recipe), so the file and
// the flags share one overlay.
struct RecipeSettings {
  std::optional<int64_t> epochs, batch, seed;
  std::optional<double> lr, momentum, weight_decay;
  std::optional<std::string> schedule;  // "constant", "cosine" or "step"
  data::Augmentation augmentation;      // random_crop, random_resized_crop, center_crop, flip
  std::optional<data::ImageSize> image_size;  // a folder's images as kept in memory: `image_size 256` or "HxW"
  // Modern recipes (docs/language.md, "train"):
  std::optional<std::string> optimizer;  // "sgd" or "adamw"
  std::optional<bool> nesterov, decay_bn_bias;
  std::optional<double> beta1, beta2, eps, warmup_start, label_smoothing;
  std::optional<int64_t> warmup_epochs;
};

struct TrainingSettings : RecipeSettings {
  std::optional<std::string> dataset;   // "fashion-mnist", "mnist", "cifar10", "cifar100", "cifar100-coarse" or "folder"
  std::optional<std::string> data;      // where it is: `dataset NAME "PATH"`, as written (relative to the file)
  std::optional<std::string> precision; // "fp32", "tf32" or "bf16": plan::Precision's names
  // The pixels' normalization (docs/data.md): `mean` and `std`, each a number or a string of
  // comma-separated numbers (one a channel, or one for all), kept as written with their place
  // (train/normalization_settings.h reads the values); or `normalize auto`, computed from the
  // training set. Both given, or one of mean and std alone, is an error here.
  std::optional<Token> mean, std_dev;
  bool normalize_auto = false;
};

// Checks names, types and ranges; throws CompileError at the offending setting.
TrainingSettings read_training_settings(const std::vector<ast::Setting>& settings);

}  // namespace resnetc::dsl
