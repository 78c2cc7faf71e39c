#pragma once
// What a loss kind computes over the rows of its [N, K] logits, as data over the scalar
// instruction set: folds over each row's elements (a softmax needs two in turn, the maximum and
// then the sum of exp(x - max)), a program per row made from them, and then either the mean
// over the rows (the loss, [1]) or a map at every element (its gradient, [N, K]). Each backend
// has one row renderer that renders this (codegen/llvm/emit/loss.cpp, codegen/cuda/emit/loss.cpp)
// and the reference interprets it (reference/row_reduce.cpp), so none of them names a kind; the
// kinds' descriptions are the loss family's, compiler/ops/loss.cpp.
//
// Why this shape: a fold's accumulator is not a sum (a maximum), and a later fold reads an
// earlier one's result, so each fold is its own opcode and program, run in order; the per-row
// program keeps a row's work (a log, the label's logit) out of the element loops; the rows are
// classified, so two opcodes read the row's label (at_label, on_label) and the renderers, not
// the programs, make a row whose label is no class index NaN.
#include <cstdint>
#include <span>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

struct RowReduction {
  // acc = init, then acc = combine(acc, the term's result) for each element of the row, in
  // column order (a renderer may split a row and combine the parts: max and add only).
  struct Fold {
    double init;          // -inf (a max) or 0 (a sum)
    FusedOpcode combine;  // Max or Add
    FusedProgram term;    // a map at the element
  };
  // Input 0 is the rows [N, K]; input `labels` the int32 [N] class of each row. A row whose
  // label is not in [0, K) gives NaN for its row results and its map's elements (the reference
  // rejects it), and nothing reads outside the rows.
  int32_t labels;
  // The kind's inputs; the programs read the pseudo-operands after them with LoadChannel.
  int32_t inputs;
  // In order, every program evaluated in double: Load reads an input at the element,
  // AtLabel input 0 at the row's label, OnLabel compares the element's column with it, and
  // LoadChannel(folded(), q) the row's fold q (of those before).
  std::vector<Fold> folds;
  // A map per row (no Load, no OnLabel), its results the row's.
  FusedProgram row;
  // Either `total`, evaluated once, its result the output [1] rounded to float: it reads
  // LoadChannel(sums(), q), the sum over the rows in row order of the row's result q;
  FusedProgram total;
  // or `map`, evaluated at every element, its result the output there ([N, K]) rounded to
  // float: it reads LoadChannel(row_results(), q), the row's result q.
  FusedProgram map;

  int32_t folded() const { return inputs; }
  int32_t row_results() const { return inputs + 1; }
  int32_t sums() const { return inputs + 2; }
};

// The reduction of a softmax_cross_entropy or softmax_cross_entropy_grad op with inputs of
// shapes `inputs`; throws std::logic_error for any other kind.
RowReduction row_reduction(OpKind kind, const Attrs& attrs, std::span<const Dims> inputs);

}  // namespace resnetc::ir
