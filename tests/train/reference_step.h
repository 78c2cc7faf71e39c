#pragma once
// Training steps on the reference executor (double precision), for tests that check what the
// trainer computes: the weights live in a map by buffer name, as a checkpoint holds them.
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/data/dataset.h"
#include "train/model_state.h"

namespace resnetc::testing {

using Weights = std::map<std::string, std::vector<double>>;

// One training step of `g` in double precision on the training examples `indices` (resized to
// the graph's input as the trainer does, without normalization), reading and writing the
// persistent buffers in `weights`; `rng` is the dropout masks' (seed, step).
void reference_step(const ir::Graph& g, const data::Split& train_data, std::span<const uint32_t> indices, float lr,
                    Weights& weights, std::vector<double> rng = {});

// The largest difference between a checkpoint's tensors and the reference's weights, relative
// to 1e-3 + |reference|, and the tensor where it is.
std::pair<double, std::string> worst_relative_error(const train::TensorMap& trained, const Weights& weights);

}  // namespace resnetc::testing
