#pragma once
// A network's weights as the state dict of the torchvision ResNet of the same structure, in a
// safetensors file: parameters and BatchNorm running statistics as they are (not folded), under
// torchvision's names, so `load_state_dict(strict=True)` takes the file whole.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/checkpoint/metadata.h"

namespace resnetc::train {

// Writes `weights` (resnetc names, float values of `forward`'s parameters and states) to `path`
// atomically, each num_batches_tracked as an int64 scalar 0. Throws ir::CompileError (from
// TorchvisionNames) where `forward` has no torchvision counterpart, std::runtime_error for a tensor
// missing from `weights`, checkpoint::CheckpointError for I/O.
void write_torchvision_state_dict(const std::filesystem::path& path, const ir::Graph& forward,
                                  const std::map<std::string, std::vector<float>>& weights,
                                  const checkpoint::Metadata& metadata);

}  // namespace resnetc::train
