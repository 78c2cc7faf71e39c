#pragma once
// A checkpoint as read back: tensors by name, in file order, plus string metadata. The
// tensors' bytes stay where they were read; the Checkpoint keeps that storage alive.
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/checkpoint/error.h"
#include "runtime/checkpoint/metadata.h"
#include "runtime/checkpoint/tensor.h"

namespace resnetc::checkpoint {

class Checkpoint {
 public:
  // Tensor names must be unique (std::invalid_argument otherwise); `storage` owns the bytes
  // the tensors view, or is null when the caller does.
  Checkpoint(std::string source, std::vector<Tensor> tensors, Metadata metadata,
             std::shared_ptr<const void> storage);

  const std::string& source() const { return source_; }  // file name, for messages
  std::span<const Tensor> tensors() const { return tensors_; }
  const Metadata& metadata() const { return metadata_; }

  const Tensor* find(std::string_view name) const;             // null if absent
  const Tensor& at(std::string_view name) const;               // CheckpointError if absent
  const std::string& metadata_at(std::string_view key) const;  // CheckpointError if absent

 private:
  std::string source_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  Metadata metadata_;
  std::shared_ptr<const void> storage_;
};

}  // namespace resnetc::checkpoint
