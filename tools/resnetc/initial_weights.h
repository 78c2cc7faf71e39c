#pragma once
// The weights `resnetc train --seed N` starts from, for the commands that take a network without
// trained weights (export, predict): the same values, so an initialized model exported and one
// predicted with agree.
#include <cstdint>

#include "compiler/ir/graph.h"
#include "dsl/source.h"
#include "tools/resnetc/options.h"
#include "train/model_state.h"
#include "train/recipe.h"

namespace resnetc::cli {

// Every parameter and state tensor of `forward` (the network at any batch size), drawn per
// tensor of the training graph that `recipe` trains (at its batch size: a batch of one has no
// batch statistics to train with). A tensor the training graph lacks is left out.
train::TensorMap initial_weights(const Options& o, dsl::SourceManager& sources, const ir::Graph& forward,
                                 const train::Recipe& recipe, uint64_t seed);

}  // namespace resnetc::cli
