#pragma once
// Renders a layer table for people (aligned text) and for programs (JSON).
#include <cstdint>
#include <string>

#include "compiler/analysis/layer_table.h"

namespace resnetc::cli {

// The memory of one training step as the kernel plan lays it out.
struct TrainingMemory {
  int64_t planned_bytes = 0;    // persistent + inputs + the arena with buffers reused by liveness
  int64_t unplanned_bytes = 0;  // the same with every buffer its own memory
  int opt_level = 2;
  std::string none_because = {};  // why the network has no training step to plan (then the bytes mean nothing)
};

std::string format_table_text(const analysis::LayerTable& table, const TrainingMemory& memory);
std::string format_table_json(const analysis::LayerTable& table, const TrainingMemory& memory);

}  // namespace resnetc::cli
