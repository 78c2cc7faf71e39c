// The row renderer: softmax_cross_entropy and its gradient, each rendered from its
// ir::RowReduction through the scalar opcodes' one table (fused_expression), in double, so no
// kind is named here. A warp per row: each fold is a lane's strided part of the row, then a
// shuffle tree with the fold's own opcode; the row's program runs in every lane. The total is
// one block whose warps take rows in turn and whose per-warp sums are added in warp order
// (deterministic); a map is a warp per row writing its elements. A label outside [0, K) reads
// as 0 and makes its row's results NaN (the reference executor rejects it).
#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"
#include "compiler/ir/row_reduction.h"

namespace resnetc::codegen::cuda::detail {
namespace {

using ir::FusedOpcode;

constexpr int kWarpsPerBlock = 8;

// Program `p` as lines `const double r{i} = ...;`: the element is (row, k), the row's label
// `label`, its folds `fold{q}`, its results `res{q}`, the sums over the rows `sum{q}`.
std::string program(const Emitter& e, const ir::RowReduction& r, const ir::FusedProgram& p) {
  std::string s;
  for (size_t i = 0; i < p.instrs.size(); ++i) {
    const ir::FusedInstr& in = p.instrs[i];
    std::string rhs;
    switch (in.code) {
      case FusedOpcode::Load: rhs = fmt::format("(double)in{}[(I)row * K + k]", in.a); break;
      case FusedOpcode::AtLabel: rhs = fmt::format("(double)in{}[(I)row * K + label]", in.a); break;
      case FusedOpcode::OnLabel: rhs = fmt::format("k == label ? r{} : r{}", in.a, in.b); break;
      case FusedOpcode::LoadChannel:
        if (in.a == r.folded()) rhs = fmt::format("fold{}", in.b);
        else if (in.a == r.row_results()) rhs = fmt::format("res{}", in.b);
        else if (in.a == r.sums()) rhs = fmt::format("sum{}", in.b);
        else throw std::logic_error("CUDA emitter: a row reduction reads no input per row");
        break;
      default: rhs = fused_expression(e, in, true, "", "");
    }
    s += fmt::format("const double r{} = {};\n", i, rhs);
  }
  return s;
}

// `acc = combine(acc, v)` through the table, registers numbered after the term's.
std::string combine(const Emitter& e, FusedOpcode code, const std::string& acc, const std::string& v, size_t first) {
  return fmt::format("{{ const double r{0} = {2}; const double r{1} = {3}; {2} = {4}; }}\n", first, first + 1, acc, v,
                     fused_expression(e, {code, static_cast<int32_t>(first), static_cast<int32_t>(first + 1)}, true,
                                      "", ""));
}

// Row `row`'s label, folds and results, in every lane of its warp.
std::string row_code(const Emitter& e, const ir::RowReduction& r) {
  std::string s = fmt::format(
      "const int given = in{}[row];\n"
      "const bool ok = given >= 0 && given < K;\n"
      "const int label = ok ? given : 0;\n",
      r.labels);
  for (size_t f = 0; f < r.folds.size(); ++f) {
    const ir::RowReduction::Fold& fold = r.folds[f];
    const std::string acc = fmt::format("fold{}", f);
    const std::string init = std::isinf(fold.init) && fold.init < 0 ? "(double)__int_as_float(0xff800000)"
                                                                    : double_literal(fold.init);
    const size_t first = fold.term.instrs.size();
    s += fmt::format("double {} = {};\n", acc, init);
    s += fmt::format("for (int k = lane; k < K; k += 32) {{\n{}{}}}\n",
                     indent_lines(program(e, r, fold.term), "  ") + "\n",
                     "  " + combine(e, fold.combine, acc, fmt::format("r{}", fold.term.results.at(0)), first));
    s += fmt::format("#pragma unroll\nfor (int o = 16; o > 0; o /= 2)\n  {}",
                     combine(e, fold.combine, acc, fmt::format("__shfl_xor_sync(0xffffffffu, {}, o)", acc), 0));
  }
  for (size_t q = 0; q < r.row.results.size(); ++q) s += fmt::format("double res{};\n", q);
  std::string results;
  for (size_t q = 0; q < r.row.results.size(); ++q)
    results += fmt::format("res{} = ok ? r{} : (double)nanf(\"\");\n", q, r.row.results[q]);
  s += fmt::format("{{\n{}\n}}\n", indent_lines(program(e, r, r.row) + results, "  "));
  return s;
}

}  // namespace

void emit_loss(Emitter& e) {
  const plan::Kernel& k = e.kernel();
  const ir::Dims& logits = e.in(0).shape;
  const ir::RowReduction r = ir::row_reduction(k.kind, k.attrs, std::vector<ir::Dims>{logits, e.in(1).shape});
  const int64_t n = logits[0], classes = logits[1];
  const bool map = !r.map.empty();
  Members m;
  m.text(fmt::format("  using I = {};\n", index_type(n * classes)));
  m.constant("NB", n).constant("K", classes).constant("THREADS", 32 * kWarpsPerBlock);
  KernelSource s;
  s.family = std::string(ir::op_kind_name(k.kind));
  s.comment = fmt::format("{} over logits [{}, {}], a warp per row: {} folds, then {} per row, then {}", s.family, n,
                          classes, r.folds.size(), ir::format_program(r.row),
                          ir::format_program(map ? r.map : r.total));
  s.members = m.str();
  s.threads = 32 * kWarpsPerBlock;
  const std::string row = row_code(e, r);
  if (map) {
    s.body = fmt::format(
        "const int lane = threadIdx.x % 32;\n"
        "const int row = blockIdx.x * (THREADS / 32) + threadIdx.x / 32;\n"
        "if (row < NB) {{\n{}\n"
        "  for (int k = lane; k < K; k += 32) {{\n{}\n"
        "    out[(I)row * K + k] = ok ? (float)r{} : nanf(\"\");\n"
        "  }}\n"
        "}}\n",
        indent_lines(row, "  "), indent_lines(program(e, r, r.map), "    "), r.map.results.at(0));
    s.grid[0] = static_cast<unsigned>(ceil_div(n, kWarpsPerBlock));
  } else {
    const size_t nres = r.row.results.size();
    std::string totals, add, parts, sums;
    for (size_t q = 0; q < nres; ++q) {
      totals += fmt::format("double total{} = 0.0;\n", q);
      add += fmt::format("  total{0} += res{0};\n", q);
      parts += fmt::format("  part[{0}][warp] = total{0};\n", q);
      sums += fmt::format("  double sum{0} = 0.0;\n  for (int w = 0; w < THREADS / 32; ++w) sum{0} += part[{0}][w];\n", q);
    }
    s.body = fmt::format(
        "const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;\n"
        "{}"
        "for (int row = warp; row < NB; row += THREADS / 32) {{\n{}\n{}}}\n"
        "__shared__ double part[{}][THREADS / 32];\n"
        "if (lane == 0) {{\n{}}}\n"
        "__syncthreads();\n"
        "if (threadIdx.x == 0) {{\n{}{}\n  out[0] = (float)r{};\n}}\n",
        totals, indent_lines(row, "  "), add, nres, parts, sums, indent_lines(program(e, r, r.total), "  "),
        r.total.results.at(0));
  }
  s.params = {{"out", ParamType::Out, e.out_index()},
              {"in0", ParamType::In, e.in_index(0)},
              {"in1", ParamType::InInt, e.in_index(1)}};
  e.launch(std::move(s));
}

}  // namespace resnetc::codegen::cuda::detail
