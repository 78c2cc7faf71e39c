#include "runtime/checkpoint/match.h"

#include <fmt/format.h>

#include <functional>
#include <set>
#include <string_view>

#include "runtime/checkpoint/error.h"

namespace resnetc::checkpoint {

void check_matches(const Checkpoint& checkpoint, std::span<const TensorSpec> expected) {
  const auto fail = [&](std::string problem) {
    throw CheckpointError(checkpoint.source(), std::move(problem));
  };
  std::set<std::string_view, std::less<>> expected_names;
  for (const TensorSpec& spec : expected) {
    expected_names.insert(spec.name);
    const Tensor* tensor = checkpoint.find(spec.name);
    if (tensor == nullptr) fail(fmt::format("checkpoint has no tensor '{}'", spec.name));
    if (tensor->dtype != spec.dtype) {
      fail(fmt::format("tensor '{}' has dtype {} in the checkpoint, but the model expects {}",
                       spec.name, dtype_name(tensor->dtype), dtype_name(spec.dtype)));
    }
    if (tensor->shape != spec.shape) {
      fail(fmt::format("tensor '{}' has shape {} in the checkpoint, but the model expects {}",
                       spec.name, format_shape(tensor->shape), format_shape(spec.shape)));
    }
  }
  for (const Tensor& tensor : checkpoint.tensors()) {
    if (!expected_names.contains(tensor.name)) {
      fail(fmt::format("checkpoint has tensor '{}', which the model does not have", tensor.name));
    }
  }
}

}  // namespace resnetc::checkpoint
