#pragma once
// The optional `train { ... }` section: the recipe a file suggests, which flags override.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dsl/ast.h"

namespace resnetc::dsl {

struct TrainingSettings {
  std::optional<std::string> dataset;   // "fashion-mnist", "mnist", "cifar10", "cifar100", "cifar100-coarse" or "folder"
  std::optional<std::string> data;      // where it is: `dataset NAME "PATH"`, as written (relative to the file)
  std::optional<int64_t> epochs, batch, seed;
  std::optional<double> lr, momentum, weight_decay;
  std::optional<std::string> schedule;  // "constant", "cosine" or "step"
  // Modern recipes (docs/language.md, "train"):
  std::optional<std::string> optimizer;  // "sgd" or "adamw"
  std::optional<bool> nesterov, decay_bn_bias;
  std::optional<double> beta1, beta2, eps, warmup_start, label_smoothing;
  std::optional<int64_t> warmup_epochs;
};

// Checks names, types and ranges; throws CompileError at the offending setting.
TrainingSettings read_training_settings(const std::vector<ast::Setting>& settings);

}  // namespace resnetc::dsl
