#pragma once
// What a per-channel reduction kind computes, as data over the scalar instruction set: per
// element, the terms summed over each channel (every axis but 1); per channel, what is made of
// the sums; and, for a kind whose output is the space's shape, a map over the elements that
// reads what the finalize made. A per-channel map (batchnorm, bn_apply) has no terms, only a
// finalize and a map. Each backend has one channel-reduction renderer that renders this
// (codegen/llvm/emit/channel_reduction.cpp, codegen/cuda/emit/channel_reduction.cpp) and the
// reference interprets it (reference/channel_reduce.cpp), so none of them names a kind; the
// kinds' descriptions are compiler/ops/batchnorm.cpp's.
#include <cstdint>
#include <span>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

struct ChannelReduction {
  // The space is input `space_input`'s shape [N, C, ...]: a channel is its N planes.
  int32_t space_input;
  // The kind's data inputs; the programs read two more operands after them: `shift()` [1, C],
  // each channel's first element of the space input (subtracting it keeps a sum of squares from
  // cancelling for a channel with a large mean), and, in `finalize` only, `sums()`, row q the
  // channel's sum of the terms' result q.
  int32_t inputs;
  // Empty, or a reduce program evaluated in double for every element of the space: Load reads
  // an input at the element, LoadChannel a per-channel row. Its results are summed from 0 in
  // any order (the backends split a channel into chunks).
  FusedProgram terms;
  // A map program, evaluated in double once per channel (LoadChannel only, no Load): result r
  // is row r of the [rows, C] output, stored as float; with a `map`, row r of the channel's
  // coefficients instead.
  FusedProgram finalize;
  // Empty, or a map program evaluated in float at every element of the space, its result the
  // output (of the space's shape): it reads the kind's inputs and, as `coefficients()`, the
  // finalize's results rounded to float.
  FusedProgram map;

  int32_t shift() const { return inputs; }
  int32_t sums() const { return inputs + 1; }
  int32_t coefficients() const { return inputs + 2; }
};

// The reduction of a batchnorm, bn_stats, bn_apply, bn_grad_weight, bn_grad_input or bias_grad op
// with inputs of shapes `inputs`; throws std::logic_error for any other kind.
ChannelReduction channel_reduction(OpKind kind, const Attrs& attrs, std::span<const Dims> inputs);

}  // namespace resnetc::ir
