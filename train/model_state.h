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

// What --init takes from its file.
struct InitWeights {
  TensorMap taken;                     // by the network's names
  bool torchvision_names = false;      // the file is a PyTorch state dict, read by torchvision's names
  std::vector<std::string> not_taken;  // one line per tensor not taken, on either side
                                       // ("head.fc.weight: F32 [5, 64] in the file, [10, 64] here (initialized)")
};

// Fine-tuning: the file's tensors that have the name and shape of one of the plan's parameters
// or running statistics, to overwrite the fresh ones; optimizer state (".velocity", ".exp_avg",
// ...) starts afresh. A resnetc checkpoint is read by the network's names; any other safetensors
// file is a PyTorch state dict, read by torchvision's ResNet names (train/torchvision_names.h;
// num_batches_tracked is not used), which needs a network of torchvision's structure (a CompileError at the first
// layer that has none). The classifier, `forward`'s last layer with weights, is initialized and
// not read with `reset_head`; without, a tensor of it that the file holds in another shape is a
// CheckpointError naming both shapes.
InitWeights read_init_weights(const std::filesystem::path& path, const ir::Graph& forward, const plan::KernelPlan& plan,
                              bool reset_head);

}  // namespace resnetc::train
