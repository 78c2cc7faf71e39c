#pragma once
// The bf16 error bounds of a plan's one contraction kernel (docs/precision.md), checked element
// by element against the reference executor in double, for a backend that runs the plan:
//  * against the exact result of the operands rounded to bfloat16 here (to nearest, ties to
//    even), where only float32 accumulation separates them: |y - ref(bf16(a), bf16(b))| <=
//    (K + 2) 2^-23 S;
//  * against the exact result of the float32 operands: |y - ref(a, b)| <= (2^-7 + 2^-16 + (K + 2) 2^-23) S
//    (each operand off by at most 2^-8 relative: 8 significant bits),
// with S = Σ_k |a_k| |b_k| (+ |bias|), K the reduction length. Half the operands are exact ties
// between two bfloat16 values, so any rounding but ties to even breaks the first bound. A conv's
// epilogue statistics must be those of its stored output.
// Used by the CPU backend (tests/backend/test_bf16.cpp), the emulated CUDA kernels
// (tests/cuda_codegen/test_emulated_bf16.cpp) and on a GPU
// (tests/gpu/test_gpu_backend.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/plan/kernel_plan.h"
#include "compiler/reference/executor.h"

namespace resnetc::testing {

// How the bounds reach the backend's copy of the plan's buffers.
struct Bf16Backend {
  std::function<void(int buffer, std::span<const float> values)> write;  // before the run
  std::function<void()> run;
  std::function<std::vector<float>(int buffer)> read;  // after it
};

// float(x) rounded to the nearest bfloat16, ties to even.
inline double round_bf16(double x) {
  const float f = static_cast<float>(x);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits = (bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff0000u;
  float r;
  std::memcpy(&r, &bits, 4);
  return r;
}

// `ex` rounding the values `plan` stores as bfloat16 (ir::DType::BF16 buffers) at their store,
// so the ops after them read what the backend's kernels read.
inline void store_as_planned(reference::Executor& ex, const plan::KernelPlan& plan) {
  for (const plan::Buffer& b : plan.buffers)
    if (b.dtype == ir::DType::BF16) ex.store_in_bf16(b.value);
}

inline void check_bf16_bounds(const ir::Graph& graph, const plan::KernelPlan& plan, int64_t K, const Bf16Backend& b) {
  REQUIRE(plan.kernels.size() == 1);
  const plan::Kernel& kernel = plan.kernels[0];
  REQUIRE(kernel.operands == plan::Precision::Bf16);
  reference::Executor exact(graph), rounded(graph), magnitude(graph);
  store_as_planned(exact, plan);
  store_as_planned(rounded, plan);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::uniform_int_distribution<int> mantissa(0, 127), exponent(-3, 0), coin(0, 1);
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    if (plan.buffers[i].storage == plan::Storage::Arena) continue;
    const bool operand = static_cast<int>(i) == kernel.inputs[0] || static_cast<int>(i) == kernel.inputs[1];
    const size_t n = static_cast<size_t>(ir::numel(plan.buffers[i].shape));
    std::vector<float> data(n);
    std::vector<double> values(n), bf(n), abs(n);
    for (size_t j = 0; j < n; ++j) {
      // A tie: 1 + (2m + 1) 2^-8 lies halfway between two bfloat16 values.
      const double tie = std::ldexp(1 + (2 * mantissa(rng) + 1) / 256.0, exponent(rng)) * (coin(rng) ? 1 : -1);
      data[j] = static_cast<float>(coin(rng) ? tie : uniform(rng));
      values[j] = data[j];
      bf[j] = operand ? round_bf16(values[j]) : values[j];
      abs[j] = std::abs(values[j]);
    }
    b.write(static_cast<int>(i), data);
    exact.set(plan.buffers[i].value, values);
    rounded.set(plan.buffers[i].value, bf);
    magnitude.set(plan.buffers[i].value, abs);
  }
  b.run();
  exact.run();
  rounded.run();
  magnitude.run();
  const ir::ValueId out = plan.buffer(kernel.output).value;
  const std::vector<float> y = b.read(kernel.output);
  const double accumulation = static_cast<double>(K + 2) * std::ldexp(1.0, -23);
  double worst_rounded = 0, worst_exact = 0;
  for (size_t j = 0; j < y.size(); ++j) {
    const double s = magnitude.get(out)[j];
    const double e_rounded = std::abs(y[j] - rounded.get(out)[j]), e_exact = std::abs(y[j] - exact.get(out)[j]);
    INFO(kernel.name << " element " << j << ": " << y[j] << " vs " << rounded.get(out)[j] << " (bf16 operands), "
                     << exact.get(out)[j] << " (exact), S = " << s);
    REQUIRE(e_rounded <= accumulation * s);  // also false for a NaN: every element written
    REQUIRE(e_exact <= (std::ldexp(1.0, -7) + std::ldexp(1.0, -16) + accumulation) * s);
    worst_rounded = std::max(worst_rounded, e_rounded / s);
    worst_exact = std::max(worst_exact, e_exact / s);
  }
  // The operands were rounded: float32 operands would be as close to the exact result as to
  // the rounded one's accumulation error.
  CHECK(worst_exact > 16 * worst_rounded);
  if (kernel.epilogue_stats < 0) return;
  // BatchNorm statistics from the epilogue (or the split-K sum): those of the stored output.
  const ir::Dims& shape = plan.buffer(kernel.output).shape;
  const int64_t N = shape[0], C = shape[1], HW = shape[2] * shape[3];
  const std::vector<float> stats = b.read(kernel.epilogue_stats);
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, squares = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const double v = y[static_cast<size_t>((n * C + c) * HW + i)];
        sum += v;
        squares += v * v;
      }
    const double mean = sum / static_cast<double>(N * HW), var = squares / static_cast<double>(N * HW) - mean * mean;
    INFO("channel " << c);
    CHECK(stats[static_cast<size_t>(c)] == Approx(mean).margin(1e-5));
    CHECK(stats[static_cast<size_t>(C + c)] == Approx(var).epsilon(1e-4));
  }
}

}  // namespace resnetc::testing
