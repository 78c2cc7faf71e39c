#pragma once
// The names a network's tensors have in the state_dict() of a PyTorch torchvision ResNet of the
// same structure, both ways: stem.conv.weight <-> conv1.weight, stage2.block0.bn1.running_mean
// <-> layer2.0.bn1.running_mean, stage2.block0.shortcut.conv.weight <-> layer2.0.downsample.0.weight,
// head.fc.bias <-> fc.bias. Derived from the graph, so every network written with torchvision's
// structure has them (resnet18.net ... resnet152.net, resnext50-32x4d.net, a reduced width).
// `resnetc train --init` reads a PyTorch state dict by them; an export to PyTorch writes one.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <map>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::train {

struct TorchvisionEntry {
  std::string torchvision;  // "layer2.0.downsample.1.running_var"
  std::string resnetc;      // "stage2.block0.shortcut.bn.running_var"; empty for num_batches_tracked,
                            // the BatchNorm counter torchvision keeps and resnetc has no tensor for
};

class TorchvisionNames {
 public:
  // The torchvision names of `forward`'s parameters and running statistics. Throws an
  // ir::CompileError at the first layer that has no counterpart in torchvision's ResNet (a
  // second stem convolution, a BatchNorm before the convolutions, a gate, ...), saying why.
  explicit TorchvisionNames(const ir::Graph& forward);

  // Every key of the torchvision model's state_dict(), in its order.
  const std::vector<TorchvisionEntry>& entries() const { return entries_; }

  std::optional<std::string_view> to_torchvision(std::string_view resnetc) const;
  // None for a name the network has no tensor for (num_batches_tracked among them).
  std::optional<std::string_view> to_resnetc(std::string_view torchvision) const;

  // Whether `torchvision` names a BatchNorm's num_batches_tracked, which resnetc has no use for.
  static bool is_batch_counter(std::string_view torchvision);

 private:
  std::vector<TorchvisionEntry> entries_;
  std::map<std::string, size_t, std::less<>> by_resnetc_, by_torchvision_;  // positions in entries_
};

}  // namespace resnetc::train
