#pragma once
// The persistent tensors of a training plan (parameters, running statistics, optimizer
// velocity) to and from safetensors checkpoints, named as the layer table names them.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "compiler/plan/kernel_plan.h"
#include "runtime/train/executor.h"

namespace resnetc::train {

// Identifies a network's tensors (names, shapes) so a checkpoint of another model is refused.
std::string fingerprint(const plan::KernelPlan& plan);

// Host copies of every persistent buffer of `plan`, by name.
using TensorMap = std::map<std::string, std::vector<float>>;
TensorMap read_state(PlanExecutor& executor, const plan::KernelPlan& plan);
void write_state(PlanExecutor& executor, const plan::KernelPlan& plan, const TensorMap& state);

// Writes every tensor and `metadata` atomically to `path`.
void save_checkpoint(const std::filesystem::path& path, const plan::KernelPlan& plan, const TensorMap& state,
                     std::map<std::string, std::string> metadata);

struct LoadedCheckpoint {
  TensorMap state;
  std::map<std::string, std::string> metadata;
};

// Reads `path` and checks it holds exactly the tensors `plan` expects (the first mismatch is
// named); `optional_suffix` tensors (".velocity") may be absent, and are then zero.
LoadedCheckpoint load_checkpoint(const std::filesystem::path& path, const plan::KernelPlan& plan,
                                 bool velocity_optional);

}  // namespace resnetc::train
