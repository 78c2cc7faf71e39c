// Pooling and its gradients on the CPU backend against the reference executor: odd image
// sizes, padding, stride 2, windows that reach past the image's last row and column, inline
// and on the thread pool; and maxpool's tie rule (the first maximum in scan order).
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>

#include "backends/cpu/cpu_program.h"
#include "compiler/ir/builder.h"
#include "compiler/reference/executor.h"
#include "backends/cpu/plan_runner.h"
#include "tests/backend/check_reference.h"

using namespace resnetc;
using testing::check;
using ir::OpKind;
using ir::ValueRole;

namespace {

ir::Attrs window(int64_t kh, int64_t kw, int64_t s, int64_t p) {
  ir::Attrs a;
  a.kernel[0] = kh;
  a.kernel[1] = kw;
  a.stride[0] = a.stride[1] = s;
  a.padding[0] = a.padding[1] = p;
  return a;
}

// pool(x) and its gradient for an incoming dy.
ir::Graph pool_graph(OpKind kind, const ir::Dims& shape, const ir::Attrs& a) {
  ir::GraphBuilder b("pool", shape);
  ir::ValueId y = b.add(kind, "pool", {b.input()}, a, {});
  ir::ValueId dy = b.add_value("dy", b.shape(y), ValueRole::Input);
  ir::Attrs grad = a;
  grad.shape = shape;
  if (kind == OpKind::MaxPool) b.apply(OpKind::MaxPoolGrad, "pool.grad", {dy, b.input()}, grad, {});
  if (kind == OpKind::AvgPool) b.apply(OpKind::AvgPoolGrad, "pool.grad", {dy}, grad, {});
  return std::move(b).finish(y);
}

struct Case {
  const char* name;
  ir::Dims shape;
  ir::Attrs attrs;
};

const Case kCases[] = {
    {"k3 s2 p1 on 5x7", {3, 3, 5, 7}, window(3, 3, 2, 1)},
    {"k3 s2 p1 on 7x5", {3, 3, 7, 5}, window(3, 3, 2, 1)},
    {"k3 s1 p1", {3, 3, 5, 7}, window(3, 3, 1, 1)},
    {"k2 s2 p0 (the last row and column left out)", {3, 3, 5, 7}, window(2, 2, 2, 0)},
    {"k3 s2 p0", {3, 3, 7, 9}, window(3, 3, 2, 0)},
    {"k3x2 s1 p1x0", {3, 3, 5, 7}, [] { auto a = window(3, 2, 1, 1); a.padding[1] = 0; return a; }()},
    {"k5 s3 p2", {2, 3, 11, 13}, window(5, 5, 3, 2)},
    {"window as large as the image", {3, 3, 5, 7}, window(5, 7, 1, 0)},
    {"k9 s1 p4: looped, not unrolled", {2, 3, 13, 11}, window(9, 9, 1, 4)},
    {"large, on the thread pool", {3, 4, 45, 43}, window(3, 3, 2, 1)},
};

}  // namespace

TEST_CASE("backend maxpool and maxpool_grad match the reference") {
  for (const Case& c : kCases) {
    SECTION(c.name) { check(pool_graph(OpKind::MaxPool, c.shape, c.attrs)); }
  }
}

TEST_CASE("backend avgpool and avgpool_grad match the reference (padding counted)") {
  for (const Case& c : kCases) {
    SECTION(c.name) { check(pool_graph(OpKind::AvgPool, c.shape, c.attrs)); }
  }
}

TEST_CASE("backend pooling with ceil_mode and count_include_pad off matches the reference") {
  auto modes = [](ir::Attrs a, bool ceil, bool count_pad) {
    a.ceil_mode = ceil;
    a.count_include_pad = count_pad;
    return a;
  };
  const Case cases[] = {
      {"k2 s2 ceil on 7x9: the last row and column hang off", {3, 3, 7, 9}, modes(window(2, 2, 2, 0), true, true)},
      {"k3 s2 p1 ceil on 6x8", {2, 3, 6, 8}, modes(window(3, 3, 2, 1), true, true)},
      {"k3x2 s2 p1x0 ceil on 7x9", {2, 3, 7, 9}, [&] { auto a = window(3, 2, 2, 1); a.padding[1] = 0; return modes(a, true, true); }()},
      {"large ceil, on the thread pool", {3, 4, 45, 43}, modes(window(3, 3, 2, 0), true, true)},
  };
  for (const Case& c : cases) {
    SECTION(std::string("maxpool ") + c.name) { check(pool_graph(OpKind::MaxPool, c.shape, c.attrs)); }
    SECTION(std::string("avgpool ") + c.name) { check(pool_graph(OpKind::AvgPool, c.shape, c.attrs)); }
    SECTION(std::string("avgpool, padding not counted, ") + c.name) {
      check(pool_graph(OpKind::AvgPool, c.shape, modes(c.attrs, c.attrs.ceil_mode, false)));
    }
  }
  SECTION("avgpool k3 s2 p1 without ceil_mode, padding not counted, 7x9") {
    check(pool_graph(OpKind::AvgPool, {2, 3, 7, 9}, modes(window(3, 3, 2, 1), false, false)));
  }
}

TEST_CASE("backend global_avgpool and its gradient match the reference") {
  auto graph = [](const ir::Dims& shape) {
    ir::GraphBuilder b("gap", shape);
    ir::ValueId y = b.add(OpKind::GlobalAvgPool, "gap", {b.input()}, {}, {});
    ir::ValueId dy = b.add_value("dy", b.shape(y), ValueRole::Input);
    ir::Attrs grad;
    grad.shape = shape;
    b.apply(OpKind::GlobalAvgPoolGrad, "gap.grad", {dy}, grad, {});
    return std::move(b).finish(y);
  };
  SECTION("5x7 planes") { check(graph({3, 3, 5, 7})); }
  SECTION("1x1 planes") { check(graph({3, 5, 1, 1})); }
  SECTION("large, on the thread pool") { check(graph({3, 6, 37, 41})); }
}

TEST_CASE("backend global_maxpool and its gradient (maxpool_grad over the plane) match the reference") {
  auto graph = [](const ir::Dims& shape) {
    ir::GraphBuilder b("gmp", shape);
    ir::ValueId y = b.add(OpKind::GlobalMaxPool, "gmp", {b.input()}, {}, {});
    ir::ValueId dy = b.add_value("dy", b.shape(y), ValueRole::Input);
    b.apply(OpKind::MaxPoolGrad, "gmp.grad", {dy, b.input()}, window(shape[2], shape[3], 1, 0), {});
    return std::move(b).finish(y);
  };
  SECTION("5x7 planes") { check(graph({3, 3, 5, 7})); }
  SECTION("1x1 planes") { check(graph({3, 5, 1, 1})); }
  SECTION("large, looped and on the thread pool") { check(graph({3, 6, 37, 41})); }
}

// Small integers make ties in most windows: the gradient must go to the first maximum in
// row-major scan order, as PyTorch and the reference do; and a NaN in a window wins.
TEST_CASE("backend maxpool_grad sends ties to the first maximum and NaN wins") {
  const ir::Dims shape{2, 3, 7, 9};
  const bool with_nan = GENERATE(false, true);
  {
    ir::Graph graph = pool_graph(OpKind::MaxPool, shape, window(3, 3, 2, 1));
    plan::KernelPlan plan = plan::make_plan(graph);
    codegen::llvm_backend::Jit jit;
    cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(jit, plan), cpu::ThreadPool::global());
    reference::Executor reference(graph);
    std::mt19937 rng(3);
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
      const plan::Buffer& buf = plan.buffers[i];
      if (buf.storage == plan::Storage::Arena) continue;
      std::vector<double> values(static_cast<size_t>(ir::numel(buf.shape)));
      for (size_t j = 0; j < values.size(); ++j) {
        float v = buf.value == graph.input ? static_cast<float>(rng() % 3) : static_cast<float>(rng() % 1000) / 100.0f;
        if (with_nan && buf.value == graph.input && j % 17 == 5) v = NAN;
        runner.buffer(static_cast<int>(i))[j] = v;
        values[j] = v;
      }
      reference.set(buf.value, std::move(values));
    }
    runner.poison_arena();
    runner.run();
    reference.run();
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
      const plan::Buffer& buf = plan.buffers[i];
      if (buf.storage != plan::Storage::Arena) continue;
      const std::vector<double>& want = reference.get(buf.value);
      std::span<const float> got = runner.buffer(static_cast<int>(i));
      for (size_t j = 0; j < want.size(); ++j) {
        INFO(buf.name << "[" << j << "]: got " << got[j] << ", want " << want[j] << (with_nan ? " (with NaN)" : ""));
        if (std::isnan(want[j])) {
          CHECK(std::isnan(got[j]));
        } else {
          CHECK(std::abs(got[j] - want[j]) <= 1e-5 * std::max(1.0, std::abs(want[j])));
        }
      }
    }
  }
}

TEST_CASE("backend maxpool's interior is vectorized, forward and backward") {
  codegen::llvm_backend::Jit jit;
  auto ir_of = [&](OpKind kind) {
    ir::GraphBuilder b("pool", {3, 4, 45, 43});
    ir::Attrs a = window(3, 3, 2, 1);
    ir::ValueId y = b.add(OpKind::MaxPool, "pool", {b.input()}, a, {});
    if (kind == OpKind::MaxPoolGrad) {
      a.shape = b.shape(b.input());
      y = b.apply(OpKind::MaxPoolGrad, "pool.grad", {y, b.input()}, a, {});
    }
    return codegen::llvm_backend::plan_llvm_ir(jit, plan::make_plan(std::move(b).finish(y)));
  };
  CHECK_THAT(ir_of(OpKind::MaxPool), Catch::Matchers::Contains(" x float>"));
  // The argmaxes of an interior row, stored as a vector of indices.
  CHECK_THAT(ir_of(OpKind::MaxPoolGrad), Catch::Matchers::Contains(" x i32>"));
}
