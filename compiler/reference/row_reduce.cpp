// The reference's row-reduction interpreter: an ir::RowReduction (softmax_cross_entropy and its
// gradient) evaluated in double, row by row: the folds over the row's elements in column order,
// the row's program, then the map at each of its elements or its results summed for the total.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "compiler/reference/interpret.h"
#include "compiler/reference/ops.h"

namespace resnetc::reference::ops {

namespace {

// label[n] as a class index of [0, classes); throws std::runtime_error when it is not one.
int64_t label_at(const TensorRef& labels, int64_t n, int64_t classes) {
  const double v = labels[n];
  if (!(v >= 0 && v < static_cast<double>(classes)) || v != std::floor(v))
    throw std::runtime_error("label " + std::to_string(v) + " of sample " + std::to_string(n) +
                             " is not a class index in [0, " + std::to_string(classes) + ")");
  return static_cast<int64_t>(v);
}

// Where the programs of one row read: the inputs at element (n, k), the row's label, and the
// pseudo-operands.
struct RowOperands {
  std::span<const TensorRef> inputs;
  const ir::RowReduction& r;
  int64_t n = 0, k = 0, classes = 0, label = 0;
  std::vector<double> folded{}, rows{}, sums{};

  double channel(int32_t input, int32_t q) const {
    const auto at = static_cast<size_t>(q);
    if (input == r.folded()) return folded.at(at);
    if (input == r.row_results()) return rows.at(at);
    if (input == r.sums()) return sums.at(at);
    throw std::logic_error("reference: a row reduction reads no input per row");
  }
};

// Program `p` in registers `reg`.
void run(const ir::FusedProgram& p, std::vector<double>& reg, const RowOperands& o) {
  using ir::FusedOpcode;
  interpret(p, reg, [&](const ir::FusedInstr& in, size_t, double a, double b) -> std::optional<double> {
    switch (in.code) {
      case FusedOpcode::Load: return o.inputs[static_cast<size_t>(in.a)][o.n * o.classes + o.k];
      case FusedOpcode::AtLabel: return o.inputs[static_cast<size_t>(in.a)][o.n * o.classes + o.label];
      case FusedOpcode::OnLabel: return o.k == o.label ? a : b;
      case FusedOpcode::LoadChannel: return o.channel(in.a, in.b);
      default: return std::nullopt;
    }
  });
}

double result(const ir::FusedProgram& p, const std::vector<double>& reg, size_t q = 0) {
  return reg[static_cast<size_t>(p.results.at(q))];
}

}  // namespace

Buffer row_reduce(std::span<const TensorRef> inputs, const ir::RowReduction& r) {
  const TensorRef& x = inputs[0];
  const int64_t batch = x.dim(0), classes = x.dim(1);
  const bool map = !r.map.empty();
  size_t registers = std::max({r.row.instrs.size(), r.total.instrs.size(), r.map.instrs.size()});
  for (const ir::RowReduction::Fold& f : r.folds) registers = std::max(registers, f.term.instrs.size());
  std::vector<double> reg(registers);
  RowOperands o{inputs, r};
  o.classes = classes;
  o.sums.assign(r.row.results.size(), 0.0);
  Buffer out(map ? x.data.size() : 1);
  for (o.n = 0; o.n < batch; ++o.n) {
    o.label = label_at(inputs[static_cast<size_t>(r.labels)], o.n, classes);
    o.folded.clear();
    for (const ir::RowReduction::Fold& f : r.folds) {
      double acc = f.init;
      for (o.k = 0; o.k < classes; ++o.k) {
        run(f.term, reg, o);
        acc = scalar_op(f.combine, acc, result(f.term, reg));
      }
      o.folded.push_back(acc);
    }
    run(r.row, reg, o);
    o.rows.clear();
    for (size_t q = 0; q < r.row.results.size(); ++q) o.rows.push_back(result(r.row, reg, q));
    if (!map) {
      for (size_t q = 0; q < o.rows.size(); ++q) o.sums[q] += o.rows[q];
      continue;
    }
    for (o.k = 0; o.k < classes; ++o.k) {
      run(r.map, reg, o);
      out[static_cast<size_t>(o.n * classes + o.k)] = result(r.map, reg);
    }
  }
  if (!map) {
    run(r.total, reg, o);
    out[0] = result(r.total, reg);
  }
  return out;
}

}  // namespace resnetc::reference::ops
