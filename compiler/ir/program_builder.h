#pragma once
// Fused programs written by hand: the passes' rewrites and the kinds' reduction descriptions
// (compiler/ops) build them with this.
#include <cstdint>
#include <utility>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::ir {

// Builds a fused program one instruction at a time; each call returns its register. Nested
// calls are fine where only one argument emits instructions; otherwise sequence them in
// statements, since C++ leaves argument order unspecified and the program text must not depend
// on the compiler.
class ProgramBuilder {
 public:
  int32_t load(int32_t input) { return push({FusedOpcode::Load, input, 0, 0}); }
  int32_t channel(int32_t input, int32_t row = 0) { return push({FusedOpcode::LoadChannel, input, row, 0}); }
  int32_t plane(int32_t input) { return push({FusedOpcode::LoadPlane, input, 0, 0}); }
  int32_t constant(double v) { return push({FusedOpcode::Const, 0, 0, v}); }
  int32_t add(int32_t a, int32_t b) { return push({FusedOpcode::Add, a, b, 0}); }
  int32_t sub(int32_t a, int32_t b) { return push({FusedOpcode::Sub, a, b, 0}); }
  int32_t mul(int32_t a, int32_t b) { return push({FusedOpcode::Mul, a, b, 0}); }
  int32_t relu(int32_t a) { return push({FusedOpcode::Relu, a, 0, 0}); }
  int32_t relu_mask(int32_t dy, int32_t y) { return push({FusedOpcode::ReluMask, dy, y, 0}); }
  int32_t rsqrt(int32_t a) { return push({FusedOpcode::Rsqrt, a, 0, 0}); }
  int32_t sigmoid(int32_t a) { return push({FusedOpcode::Sigmoid, a, 0, 0}); }
  int32_t div(int32_t a, int32_t b) { return push({FusedOpcode::Div, a, b, 0}); }
  int32_t sqrt(int32_t a) { return push({FusedOpcode::Sqrt, a, 0, 0}); }
  int32_t exp(int32_t a) { return push({FusedOpcode::Exp, a, 0, 0}); }
  int32_t log(int32_t a) { return push({FusedOpcode::Log, a, 0, 0}); }
  int32_t at_label(int32_t input) { return push({FusedOpcode::AtLabel, input, 0, 0}); }
  int32_t on_label(int32_t a, int32_t b) { return push({FusedOpcode::OnLabel, a, b, 0}); }
  // Input `input` read through `map` (ir::FusedOpcode::Gather), the map added to the program's.
  int32_t gather(int32_t input, GatherMap map) {
    gathers_.push_back(std::move(map));
    return push({FusedOpcode::Gather, input, static_cast<int32_t>(gathers_.size() - 1), 0});
  }
  // 1 / sqrt(var + eps) from the variance row of a [2, C] statistics input (or a [C] one).
  int32_t inverse_std(int32_t input, int32_t row, double eps) {
    const int32_t var = channel(input, row);
    return rsqrt(add(var, constant(eps)));
  }
  // (x - mean) * invstd: BatchNorm's normalized input.
  int32_t normalized(int32_t x, int32_t mean, int32_t invstd) { return mul(sub(x, mean), invstd); }

  FusedProgram map(int32_t result) && { return {std::move(instrs_), {result}, false, std::move(gathers_)}; }
  FusedProgram map(std::vector<int32_t> results) && {
    return {std::move(instrs_), std::move(results), false, std::move(gathers_)};
  }
  FusedProgram reduce(std::vector<int32_t> results) && {
    return {std::move(instrs_), std::move(results), true, std::move(gathers_)};
  }

 private:
  int32_t push(FusedInstr in) {
    instrs_.push_back(in);
    return static_cast<int32_t>(instrs_.size() - 1);
  }
  std::vector<FusedInstr> instrs_;
  std::vector<GatherMap> gathers_;
};

}  // namespace resnetc::ir
