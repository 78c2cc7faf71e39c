// The reference's update interpreter: an ir::UpdateRule (the optimizers' updates and BatchNorm's
// running statistics) evaluated in double: the prologue once, then each member's program at
// every element, its results stored into the member's arrays.
#include "compiler/reference/interpret.h"
#include "compiler/reference/ops.h"

namespace resnetc::reference::ops {

namespace {

// Program `p` in registers `r`; `load(input, row)` reads an input (Load: row 0).
template <class Load>
void run(const ir::FusedProgram& p, std::vector<double>& r, Load load) {
  interpret(p, r, [&](const ir::FusedInstr& in, size_t, double, double) -> std::optional<double> {
    if (in.code == ir::FusedOpcode::Load) return load(in.a, 0);
    if (in.code == ir::FusedOpcode::LoadChannel) return load(in.a, in.b);
    return std::nullopt;
  });
}

}  // namespace

void update(std::span<const TensorRef> inputs, const std::function<Buffer&(int32_t input)>& written,
            const ir::UpdateRule& rule) {
  std::vector<double> scalars, reg;
  for (int32_t s : rule.scalars) scalars.push_back(inputs[static_cast<size_t>(s)][0]);
  if (!rule.prologue.empty()) {
    run(rule.prologue, reg, [&](int32_t s, int32_t) { return scalars.at(static_cast<size_t>(s)); });
    for (int32_t q : rule.prologue.results) scalars.push_back(reg[static_cast<size_t>(q)]);
  }
  for (const ir::UpdateRule::Member& m : rule.members) {
    const auto arrays = static_cast<int32_t>(m.arrays.size());
    const TensorRef& first = inputs[static_cast<size_t>(m.arrays[0])];
    const auto n = static_cast<int64_t>(first.data.size());
    std::vector<Buffer*> out;
    for (int32_t j : m.writes) out.push_back(&written(m.arrays[static_cast<size_t>(j)]));
    for (int64_t i = 0; i < n; ++i) {
      run(m.element, reg, [&](int32_t input, int32_t row) {
        if (input >= arrays) return scalars.at(static_cast<size_t>(input - arrays));
        return inputs[static_cast<size_t>(m.arrays[static_cast<size_t>(input)])][row * n + i];
      });
      for (size_t q = 0; q < out.size(); ++q)
        (*out[q])[static_cast<size_t>(i)] = reg[static_cast<size_t>(m.element.results[q])];
    }
  }
}

}  // namespace resnetc::reference::ops
