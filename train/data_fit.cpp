#include "train/data_fit.h"

#include <fmt/format.h>

#include "compiler/ir/compile_error.h"

namespace resnetc::train {

void check_channels_fit(const ir::Graph& forward, const data::DataSet& data, const ir::SourceLoc& input_loc) {
  const ir::Dims& input = forward.shape(forward.input);  // [N, C, H, W]
  const int64_t channels = input[1];
  if (channels == data.train.channels) return;
  const char* plural = channels == 1 ? "" : "s";
  throw ir::CompileError(
      ir::CompileError::Phase::Graph, input_loc,
      fmt::format("the network takes {} channel{} (input {}x{}x{}) but {} has {}: give the network `input {}x{}x{}` "
                  "or train it on a data set of {} channel{}",
                  channels, plural, channels, input[2], input[3], data.name, data.train.channels,
                  data.train.channels, input[2], input[3], channels, plural));
}

}  // namespace resnetc::train
