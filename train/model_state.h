#pragma once
// The persistent tensors of a training plan (parameters, running statistics, optimizer
// velocity) to and from safetensors checkpoints, named as the layer table names them.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "compiler/plan/kernel_plan.h"
#include "train/executor.h"

namespace resnetc::train {

// Identifies a network's tensors (names, shapes) so a checkpoint of another model is refused.
std::string fingerprint(const plan::KernelPlan& plan);

// Host copies of every persistent buffer of `plan`, by name.
using TensorMap = std::map<std::string, std::vector<float>>;
TensorMap read_state(PlanExecutor& executor, const plan::KernelPlan& plan);
void write_state(PlanExecutor& executor, const plan::KernelPlan& plan, const TensorMap& state);

// The buffer of AdamW's step count (autodiff::kOptimizerStep) in `plan`, or -1: the trainer sets
// it before every step, so it is checkpointed like the moments it corrects.
int optimizer_step_buffer(const plan::KernelPlan& plan);

// Writes every tensor and `metadata` atomically to `path`.
void save_checkpoint(const std::filesystem::path& path, const plan::KernelPlan& plan, const TensorMap& state,
                     std::map<std::string, std::string> metadata);

struct LoadedCheckpoint {
  TensorMap state;
  std::map<std::string, std::string> metadata;
};

// Reads `path` and checks it holds exactly the tensors `plan` expects (the first mismatch is
// named) and only values a training step can produce (unsound_tensor); with
// `velocity_optional`, the optimizer's state (autodiff::is_optimizer_state: ".velocity",
// ".exp_avg", ...) may be absent, and is then zero.
LoadedCheckpoint load_checkpoint(const std::filesystem::path& path, const plan::KernelPlan& plan,
                                 bool velocity_optional);

// The first tensor holding a value no sound training step produces: NaN or infinity anywhere,
// a negative running variance; described ("tensor 'fc.weight' holds nan at element 17"), or
// empty when every tensor is sound.
std::string unsound_tensor(const TensorMap& state);

// Fine-tuning: overwrites each tensor of `state` (the plan's, freshly initialized) with the
// checkpoint's tensor of the same name and shape; optimizer state (".velocity", ".exp_avg", ...)
// starts afresh.
// Returns one line per tensor not taken, on either side ("fc.weight: [5, 64] in the file, [10, 64] here").
std::vector<std::string> init_from_checkpoint(const std::filesystem::path& path, const plan::KernelPlan& plan,
                                              TensorMap& state);

}  // namespace resnetc::train
