#pragma once
// What an update kind computes, as data over the scalar instruction set: per element of each
// member (a parameter and its state, or a BatchNorm's running statistics), a program that reads
// the member's arrays and the kernel's run-time scalars and whose results are written in place
// into named arrays of the member. Each backend has one update renderer that renders this
// (codegen/llvm/emit/update.cpp, codegen/cuda/emit/update.cpp) and the reference interprets it
// (reference/update_rule.cpp), so none of them names a kind; the kinds' descriptions are
// compiler/ops/update.cpp's.
#include <cstdint>
#include <span>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

struct UpdateRule {
  // The kernel's inputs read as run-time scalars, each a [1] buffer (the learning rate, AdamW's
  // step count): the schedule changes them between steps.
  std::vector<int32_t> scalars;
  // Empty, or a map program evaluated once per kernel in double (LoadChannel(s, 0) reads scalar
  // s): its results, rounded to float, are further scalars after `scalars` (AdamW's bias
  // corrections).
  FusedProgram prologue;
  struct Member {
    // The kernel's inputs that are this member's arrays, in the element program's order; the
    // member's elements are array 0's.
    std::vector<int32_t> arrays;
    // A map program evaluated in float at every element: Load(j) reads array j at the element,
    // LoadChannel(j, row) row `row` of array j ([R, n], n the member's elements) at the element's
    // column, and LoadChannel(scalar(s), 0) scalar s. Const values are rounded to float.
    FusedProgram element;
    // element.results[q] is stored into array writes[q] at the element.
    std::vector<int32_t> writes;
    int32_t scalar(int32_t s) const { return static_cast<int32_t>(arrays.size()) + s; }
  };
  // The members, in the kernel's input order; a backend may lay them end to end as one index
  // space or give each its own blocks.
  std::vector<Member> members;
};

// The update of a sgd_update, sgd_momentum_update, adamw_update or bn_running_update op or of a
// group of them, with inputs of shapes `inputs`; throws std::invalid_argument for a running
// update of one value per channel and std::logic_error for any other kind.
UpdateRule update_rule(OpKind kind, const Attrs& attrs, std::span<const Dims> inputs);

}  // namespace resnetc::ir
