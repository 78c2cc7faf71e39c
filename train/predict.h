#pragma once
// What trained weights say of images: each image's most probable classes, named as the data set
// the weights were trained on named them (the checkpoint's class_names).
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/plan/kernel_plan.h"
#include "runtime/data/dataset.h"
#include "train/executor.h"
#include "train/model_state.h"

namespace resnetc::train {

struct ClassProbability {
  int64_t label = 0;
  double probability = 0;
};

struct Predictions {
  // Label i's name: the checkpoint's class_names, or "i" for weights saved without them.
  std::vector<std::string> class_names;
  // Per image, its `top` most probable classes, most probable first (ties: the lower label).
  std::vector<std::vector<ClassProbability>> top;
};

// Runs `plan` (a forward plan of the network at some batch size) in evaluation mode with
// `weights` (a checkpoint's tensors, checked against the plan by load_checkpoint, and its
// metadata: class names, normalization, center crop; `weights_name` names them in errors) over
// `images` (labels unused) and turns each image's logits into probabilities with a softmax in
// double.
Predictions predict(plan::KernelPlan plan, const data::Split& images, Backend& backend, const LoadedCheckpoint& weights,
                    const std::string& weights_name, int64_t top);

}  // namespace resnetc::train
