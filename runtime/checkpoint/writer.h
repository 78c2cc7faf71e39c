#pragma once
// Writing safetensors checkpoints, atomically: after a crash at any point the path holds
// either its previous contents or the complete new checkpoint.
#include <filesystem>
#include <span>

#include "runtime/checkpoint/error.h"
#include "runtime/checkpoint/metadata.h"
#include "runtime/checkpoint/tensor.h"

namespace resnetc::checkpoint {

// Throws CheckpointError naming `path`: for I/O failures (with strerror), and before
// touching the disk for tensors that cannot be written faithfully (duplicate or reserved
// names, non-UTF-8 text, data whose size does not match dtype and shape). The data area
// is ordered by element size, largest first, so every tensor is aligned in the file.
void write_safetensors(const std::filesystem::path& path, std::span<const Tensor> tensors,
                       const Metadata& metadata = {});

}  // namespace resnetc::checkpoint
