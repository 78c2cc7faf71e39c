#pragma once
// Reading safetensors checkpoints. Every byte of the input is treated as hostile: anything
// malformed is refused with a CheckpointError that names the source and the problem.
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

#include "runtime/checkpoint/checkpoint.h"
#include "runtime/checkpoint/error.h"

namespace resnetc::checkpoint {

// Reads the whole file into memory, which the returned Checkpoint owns.
Checkpoint read_safetensors(const std::filesystem::path& path);

// Parses a file image already in memory. The returned tensors view `bytes`, which must
// outlive the Checkpoint. `source` names the bytes in error messages.
Checkpoint parse_safetensors(std::span<const std::byte> bytes, std::string source = "<memory>");

}  // namespace resnetc::checkpoint
