#include "train/model_state.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>

#include "compiler/autodiff/training_graph.h"
#include "compiler/ir/compile_error.h"
#include "runtime/checkpoint/match.h"
#include "runtime/checkpoint/reader.h"
#include "runtime/checkpoint/writer.h"
#include "train/torchvision_names.h"

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

// The torchvision names of `forward`'s tensors, for reading `path`; the refusal says why they are wanted.
TorchvisionNames torchvision_names(const std::filesystem::path& path, const ir::Graph& forward) {
  try {
    return TorchvisionNames(forward);
  } catch (const ir::CompileError& e) {
    ir::Diagnostic d = e.diagnostic;
    d.message = fmt::format("{} is not a resnetc checkpoint, so --init reads it as a PyTorch state dict, by the names "
                            "of torchvision's ResNet; {}",
                            path.string(), d.message);
    throw ir::CompileError(e.phase, std::move(d));
  }
}

// The parameters of the classifier: the last layer with any, which --reset-head initializes.
std::set<std::string> classifier_tensors(const ir::Graph& forward) {
  for (auto op = forward.ops.rbegin(); op != forward.ops.rend(); ++op) {
    std::set<std::string> names;
    for (ir::ValueId v : op->inputs)
      if (forward.value(v).role == ir::ValueRole::Parameter) names.insert(forward.value(v).name);
    if (!names.empty()) return names;
  }
  return {};
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

InitWeights read_init_weights(const std::filesystem::path& path, const ir::Graph& forward, const plan::KernelPlan& plan,
                              bool reset_head) {
  checkpoint::Checkpoint file = checkpoint::read_safetensors(path);
  check_sound(file, path);
  InitWeights init;
  const auto format = file.metadata().find("format");
  init.torchvision_names = format == file.metadata().end() || format->second != "resnetc";
  const std::optional<TorchvisionNames> names =
      init.torchvision_names ? std::optional(torchvision_names(path, forward)) : std::nullopt;
  // The name a tensor of this network has in the file, and how a message shows it.
  auto file_name = [&](const std::string& name) {
    return names ? std::string(names->to_torchvision(name).value_or(name)) : name;
  };
  auto shown = [&](const std::string& name) {
    return names ? fmt::format("{} (torchvision: {})", name, file_name(name)) : name;
  };

  const std::set<std::string> head = classifier_tensors(forward);
  std::set<std::string> used;  // the file's names that name a tensor here
  for (const plan::Buffer& b : plan.buffers) {
    if (!persistent(b) || optimizer_state(b)) continue;
    used.insert(file_name(b.name));
    if (reset_head && head.contains(b.name)) continue;
    const checkpoint::Tensor* t = file.find(file_name(b.name));
    if (!t) {
      init.not_taken.push_back(fmt::format("{}: not in the file (initialized)", shown(b.name)));
    } else if (t->dtype != checkpoint::DType::F32 || t->shape != b.shape) {
      const std::string both = fmt::format("{} {} in the file, {} here", checkpoint::dtype_name(t->dtype),
                                           checkpoint::format_shape(t->shape), ir::format_dims(b.shape));
      if (head.contains(b.name))
        throw checkpoint::CheckpointError(
            path.string(), fmt::format("the classifier's {} is {}; give --reset-head to initialize the classifier "
                                       "instead of reading it",
                                       shown(b.name), both));
      init.not_taken.push_back(fmt::format("{}: {} (initialized)", shown(b.name), both));
    } else {
      std::vector<float>& v = init.taken[b.name];
      v.resize(t->data.size() / sizeof(float));
      std::memcpy(v.data(), t->data.data(), t->data.size());
    }
  }
  if (reset_head)
    init.not_taken.push_back(fmt::format("{}: the classifier, initialized (--reset-head)", fmt::join(head, ", ")));
  for (const checkpoint::Tensor& t : file.tensors()) {
    const bool unused = !used.contains(t.name) && !autodiff::is_optimizer_state(t.name);
    if (unused && !(names && TorchvisionNames::is_batch_counter(t.name)))
      init.not_taken.push_back(fmt::format("{}: in the file only (not used)", t.name));
  }
  return init;
}

}  // namespace resnetc::train
