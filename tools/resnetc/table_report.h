#pragma once
// Renders a layer table for people (aligned text) and for programs (JSON).
#include <string>

#include "compiler/analysis/layer_table.h"

namespace resnetc::cli {

std::string format_table_text(const analysis::LayerTable& table);
std::string format_table_json(const analysis::LayerTable& table);

}  // namespace resnetc::cli
