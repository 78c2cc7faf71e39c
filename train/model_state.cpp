#include "train/model_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "compiler/autodiff/training_graph.h"
#include "runtime/checkpoint/match.h"
#include "runtime/checkpoint/reader.h"
#include "runtime/checkpoint/writer.h"

namespace resnetc::train {
namespace {

bool persistent(const plan::Buffer& b) { return b.storage == plan::Storage::Persistent; }
bool optimizer_state(const plan::Buffer& b) { return autodiff::is_optimizer_state(b.name); }

// The tensors of a file as a TensorMap, for the soundness check before anything is used.
TensorMap float_tensors(const checkpoint::Checkpoint& file) {
  TensorMap out;
  for (const checkpoint::Tensor& t : file.tensors()) {
    if (t.dtype != checkpoint::DType::F32) continue;
    std::vector<float>& v = out[t.name];
    v.resize(t.data.size() / sizeof(float));
    std::memcpy(v.data(), t.data.data(), v.size() * sizeof(float));
  }
  return out;
}

void check_sound(const checkpoint::Checkpoint& file, const std::filesystem::path& path) {
  if (std::string bad = unsound_tensor(float_tensors(file)); !bad.empty())
    throw checkpoint::CheckpointError(path.string(), bad + "; refusing to load it");
}

}  // namespace

std::string fingerprint(const plan::KernelPlan& plan) {
  // FNV-1a over names and shapes of the parameters and statistics (not the optimizer's state,
  // which depends on the optimizer, not the model).
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  for (const plan::Buffer& b : plan.buffers)
    if (persistent(b) && !optimizer_state(b)) mix(fmt::format("{}{};", b.name, ir::format_dims(b.shape)));
  return fmt::format("{:016x}", h);
}

int optimizer_step_buffer(const plan::KernelPlan& plan) {
  for (size_t i = 0; i < plan.buffers.size(); ++i)
    if (persistent(plan.buffers[i]) && plan.buffers[i].name == autodiff::kOptimizerStep) return static_cast<int>(i);
  return -1;
}

TensorMap read_state(PlanExecutor& executor, const plan::KernelPlan& plan) {
  TensorMap state;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    if (!persistent(b)) continue;
    std::vector<float>& v = state[b.name];
    v.resize(static_cast<size_t>(ir::numel(b.shape)));
    read_buffer(executor, static_cast<int>(i), std::span<float>(v));
  }
  return state;
}

void write_state(PlanExecutor& executor, const plan::KernelPlan& plan, const TensorMap& state) {
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    if (!persistent(b)) continue;
    auto it = state.find(b.name);
    if (it == state.end()) throw std::logic_error("write_state: no value for " + b.name);
    write_buffer(executor, static_cast<int>(i), std::span<const float>(it->second));
  }
}

void save_checkpoint(const std::filesystem::path& path, const plan::KernelPlan& plan, const TensorMap& state,
                     std::map<std::string, std::string> metadata) {
  std::vector<checkpoint::Tensor> tensors;
  for (const plan::Buffer& b : plan.buffers) {
    if (!persistent(b)) continue;
    const std::vector<float>& v = state.at(b.name);
    tensors.push_back({b.name, checkpoint::DType::F32, b.shape, std::as_bytes(std::span<const float>(v))});
  }
  metadata["format"] = "resnetc";
  metadata["fingerprint"] = fingerprint(plan);
  checkpoint::write_safetensors(path, tensors, metadata);
}

LoadedCheckpoint load_checkpoint(const std::filesystem::path& path, const plan::KernelPlan& plan,
                                 bool velocity_optional) {
  checkpoint::Checkpoint file = checkpoint::read_safetensors(path);
  std::vector<checkpoint::TensorSpec> expected;
  for (const plan::Buffer& b : plan.buffers)
    if (persistent(b) && !(velocity_optional && optimizer_state(b) && !file.find(b.name)))
      expected.push_back({b.name, checkpoint::DType::F32, b.shape});
  std::vector<checkpoint::TensorSpec> extra_ok;  // a training checkpoint's optimizer state, read for evaluation
  for (const checkpoint::Tensor& t : file.tensors())
    if (velocity_optional && autodiff::is_optimizer_state(t.name) &&
        std::none_of(expected.begin(), expected.end(), [&](const auto& s) { return s.name == t.name; }))
      extra_ok.push_back({t.name, t.dtype, t.shape});
  expected.insert(expected.end(), extra_ok.begin(), extra_ok.end());
  checkpoint::check_matches(file, expected);
  check_sound(file, path);

  LoadedCheckpoint out;
  out.metadata = file.metadata();
  for (const plan::Buffer& b : plan.buffers) {
    if (!persistent(b)) continue;
    std::vector<float>& v = out.state[b.name];
    v.assign(static_cast<size_t>(ir::numel(b.shape)), 0.0f);
    if (const checkpoint::Tensor* t = file.find(b.name)) std::memcpy(v.data(), t->data.data(), t->data.size());
  }
  return out;
}

std::string unsound_tensor(const TensorMap& state) {
  for (const auto& [name, values] : state) {
    const bool variance = name.ends_with(".running_var");
    for (size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i]))
        return fmt::format("tensor '{}' holds {} at element {}", name, values[i], i);
      if (variance && values[i] < 0)
        return fmt::format("tensor '{}' holds a negative variance ({}) at element {}", name, values[i], i);
    }
  }
  return {};
}

std::vector<std::string> init_from_checkpoint(const std::filesystem::path& path, const plan::KernelPlan& plan,
                                              TensorMap& state) {
  checkpoint::Checkpoint file = checkpoint::read_safetensors(path);
  check_sound(file, path);
  std::vector<std::string> not_taken;
  for (const plan::Buffer& b : plan.buffers) {
    if (!persistent(b) || optimizer_state(b)) continue;
    const checkpoint::Tensor* t = file.find(b.name);
    if (!t) {
      not_taken.push_back(fmt::format("{}: not in the file (initialized)", b.name));
    } else if (t->dtype != checkpoint::DType::F32 || t->shape != b.shape) {
      not_taken.push_back(fmt::format("{}: {} {} in the file, {} here (initialized)", b.name,
                                      checkpoint::dtype_name(t->dtype), checkpoint::format_shape(t->shape),
                                      ir::format_dims(b.shape)));
    } else {
      std::memcpy(state.at(b.name).data(), t->data.data(), t->data.size());
    }
  }
  for (const checkpoint::Tensor& t : file.tensors())
    if (!autodiff::is_optimizer_state(t.name) && !state.contains(t.name))
      not_taken.push_back(fmt::format("{}: in the file only (not used)", t.name));
  return not_taken;
}

}  // namespace resnetc::train
