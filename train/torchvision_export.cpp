#include "train/torchvision_export.h"

#include <fmt/format.h>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include "compiler/ir/compile_error.h"
#include "runtime/checkpoint/tensor.h"
#include "runtime/checkpoint/writer.h"
#include "train/torchvision_names.h"

namespace resnetc::train {

namespace {

// The torchvision names of `forward`'s tensors; the refusal says why they are wanted.
TorchvisionNames names_for_export(const ir::Graph& forward) {
  try {
    return TorchvisionNames(forward);
  } catch (const ir::CompileError& e) {
    ir::Diagnostic d = e.diagnostic;
    d.message = fmt::format(
        "--format pytorch writes the state dict of the torchvision ResNet of the same structure; {}", d.message);
    throw ir::CompileError(e.phase, std::move(d));
  }
}

}  // namespace

void write_torchvision_state_dict(const std::filesystem::path& path, const ir::Graph& forward,
                                  const std::map<std::string, std::vector<float>>& weights,
                                  const checkpoint::Metadata& metadata) {
  const TorchvisionNames names = names_for_export(forward);
  std::unordered_map<std::string_view, const ir::Value*> by_name;
  for (const ir::Value& v : forward.values) by_name.emplace(v.name, &v);
  // torchvision counts BatchNorm's training batches; nothing reads the count in evaluation, and
  // strict loading only needs the key, so a fresh count it is.
  static constexpr int64_t kNoBatches = 0;

  std::vector<checkpoint::Tensor> tensors;
  for (const TorchvisionEntry& e : names.entries()) {
    if (e.resnetc.empty()) {
      tensors.push_back({e.torchvision, checkpoint::DType::I64, {}, std::as_bytes(std::span(&kNoBatches, 1))});
      continue;
    }
    const auto value = by_name.find(e.resnetc);
    const auto data = weights.find(e.resnetc);
    if (value == by_name.end() || data == weights.end())
      throw std::runtime_error(fmt::format("no values for '{}' (torchvision: {})", e.resnetc, e.torchvision));
    tensors.push_back({e.torchvision, checkpoint::DType::F32,
                       std::vector<int64_t>(value->second->shape.begin(), value->second->shape.end()),
                       std::as_bytes(std::span(data->second))});
  }
  checkpoint::write_safetensors(path, tensors, metadata);
}

}  // namespace resnetc::train
