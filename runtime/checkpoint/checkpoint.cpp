#include "runtime/checkpoint/checkpoint.h"

#include <fmt/format.h>

#include <stdexcept>
#include <utility>

#include "runtime/checkpoint/error.h"

namespace resnetc::checkpoint {

Checkpoint::Checkpoint(std::string source, std::vector<Tensor> tensors, Metadata metadata,
                       std::shared_ptr<const void> storage)
    : source_(std::move(source)),
      tensors_(std::move(tensors)),
      metadata_(std::move(metadata)),
      storage_(std::move(storage)) {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (!index_.emplace(tensors_[i].name, i).second) {
      throw std::invalid_argument(fmt::format("duplicate tensor name '{}'", tensors_[i].name));
    }
  }
}

const Tensor* Checkpoint::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const Tensor& Checkpoint::at(std::string_view name) const {
  if (const Tensor* tensor = find(name)) return *tensor;
  throw CheckpointError(source_, fmt::format("checkpoint has no tensor '{}'", name));
}

const std::string& Checkpoint::metadata_at(std::string_view key) const {
  const auto it = metadata_.find(std::string(key));
  if (it == metadata_.end()) {
    throw CheckpointError(source_, fmt::format("checkpoint has no metadata '{}'", key));
  }
  return it->second;
}

}  // namespace resnetc::checkpoint
