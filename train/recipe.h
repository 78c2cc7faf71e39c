#pragma once
// The training recipe: the seed's defaults, then the `train` section (--resume: the checkpoint's), then flags.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "compiler/autodiff/training_graph.h"
#include "dsl/training_settings.h"
#include "train/normalization_settings.h"

namespace resnetc::train {

enum class Schedule { Constant, Cosine, Step };
using autodiff::Optimizer;

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
  NormalizationRequest normalization;  // of the pixels (docs/data.md); none by default
  // Modern recipes (docs/training.md, "Recipes"); these defaults are the book's plain SGD.
  Optimizer optimizer = Optimizer::Sgd;
  bool nesterov = false;                          // SGD with momentum only
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // AdamW only
  int64_t warmup_epochs = 0;                      // epochs of linear warmup before the schedule
  double warmup_start = 1.0 / 3;                  // the warmup's first factor (LinearLR's start_factor)
  double label_smoothing = 0;
  bool decay_bn_bias = true;  // false: no weight decay on 1-d parameters (BatchNorm's, biases)
};

// The defaults overlaid with what the file's `train` section sets.
Recipe recipe_from(const dsl::TrainingSettings& settings);
// `recipe` with each setting `settings` gives in place of its own (an augmentation's each part);
// throws std::invalid_argument for a schedule or optimizer it does not know.
void overlay_recipe(Recipe& recipe, const dsl::RecipeSettings& settings);
Schedule parse_schedule(const std::string& name);  // throws std::invalid_argument
std::string_view schedule_name(Schedule s);
Optimizer parse_optimizer(const std::string& name);  // throws std::invalid_argument
std::string_view optimizer_name(Optimizer o);

// The recipes beyond the book's SGD that `recipe` uses, for the line a run starts with:
// ", adamw (betas 0.9, 0.999, eps 1e-08), label smoothing 0.1"; empty for the default.
std::string describe_modern(const Recipe& recipe);

// What the training graph is made with: the optimizer, its hyperparameters, the loss.
autodiff::TrainingOptions training_options(const Recipe& recipe);

// Why the recipe cannot run, or empty: the warmup must leave epochs for the schedule, and
// Nesterov needs momentum (as torch.optim.SGD requires).
std::string recipe_problem(const Recipe& recipe);

// The learning rate for step `step` (0-based) of epoch `epoch` (0-based). With `warmup_epochs` W, the
// first W epochs' steps ramp linearly from lr * warmup_start toward lr, a step at a time
// (PyTorch's LinearLR(start_factor, total_iters = W * steps_per_epoch) stepped every batch), and
// the schedule then runs over the remaining epochs as if they were the whole run (SequentialLR
// starts the next scheduler afresh at its milestone): constant; cosine annealing to 0 over their
// steps; or step decay by 10x at 50% and 75% of them.
double learning_rate(const Recipe& recipe, int64_t epoch, int64_t step, int64_t steps_per_epoch);

}  // namespace resnetc::train
