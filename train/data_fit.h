#pragma once
// Checks, before anything is compiled, that a data set's images fit a network's input.
#include "compiler/ir/graph.h"
#include "runtime/data/dataset.h"

namespace resnetc::train {

// Refuses (a CompileError at `input_loc`, the network's `input` line) images with another channel
// count than the network takes: resizing adapts height and width, nothing adapts channels.
void check_channels_fit(const ir::Graph& forward, const data::DataSet& data, const ir::SourceLoc& input_loc);

}  // namespace resnetc::train
