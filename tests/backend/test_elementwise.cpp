// relu, relu_grad, add, flatten, reshape and bias_grad on the CPU backend against the
// reference executor, on shapes that divide no vector width, inline and on the thread pool.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "backends/cpu/cpu_program.h"
#include "compiler/ir/builder.h"
#include "tests/backend/check_reference.h"

using namespace resnetc;
using testing::check;
using ir::OpKind;
using ir::ValueRole;

namespace {

// The optimized IR of a graph's kernels.
std::string optimized_ir(const ir::Graph& graph) {
  static codegen::llvm_backend::Jit jit;
  return codegen::llvm_backend::plan_llvm_ir(jit, plan::make_plan(graph));
}

std::string widest_float_vector() {
  static codegen::llvm_backend::Jit jit;
  return jit.has_feature("avx512f") ? "<16 x float>" : jit.has_feature("avx") ? "<8 x float>" : "<4 x float>";
}

ir::Graph relu_add_graph(const ir::Dims& shape) {
  ir::GraphBuilder b("elementwise", shape);
  ir::ValueId other = b.add_value("other", shape, ValueRole::Input);
  ir::ValueId r = b.add(OpKind::Relu, "relu", {b.input()}, {}, {});
  ir::ValueId sum = b.add(OpKind::Add, "add", {r, other}, {}, {});
  ir::ValueId dy = b.add_value("dy", shape, ValueRole::Input);
  ir::ValueId grad = b.apply(OpKind::ReluGrad, "relu.grad", {dy, b.input()}, {}, {});
  ir::ValueId total = b.add(OpKind::Add, "add2", {sum, grad}, {}, {});
  return std::move(b).finish(total);
}

}  // namespace

TEST_CASE("backend relu, relu_grad and add match the reference") {
  SECTION("small, inline") { check(relu_add_graph({3, 3, 5, 7})); }
  SECTION("large, on the thread pool") { check(relu_add_graph({3, 5, 37, 41})); }
  SECTION("2-d") { check(relu_add_graph({3, 10})); }
  SECTION("1-d, one element") { check(relu_add_graph({1})); }
}

TEST_CASE("backend relu is vectorized") {
  const std::string ir = optimized_ir(relu_add_graph({3, 5, 37, 41}));
  CHECK_THAT(ir, Catch::Matchers::Contains(widest_float_vector()));
  CHECK_THAT(ir, Catch::Matchers::Contains("resnetc_parallel_for"));
}

TEST_CASE("backend flatten and reshape copy their input") {
  auto graph = [](const ir::Dims& shape) {
    ir::GraphBuilder b("copies", shape);
    ir::ValueId flat = b.add(OpKind::Flatten, "flatten", {b.input()}, {}, {});
    ir::Attrs back;
    back.shape = shape;
    ir::ValueId again = b.apply(OpKind::Reshape, "reshape", {flat}, back, {});
    ir::ValueId r = b.add(OpKind::Relu, "relu", {again}, {}, {});
    return std::move(b).finish(r);
  };
  SECTION("small, inline") { check(graph({3, 3, 5, 7})); }
  SECTION("large, on the thread pool") { check(graph({3, 7, 41, 37})); }
}

TEST_CASE("backend bias_grad sums over every axis but 1") {
  auto graph = [](const ir::Dims& shape) {
    ir::GraphBuilder b("bias_grad", shape);
    ir::ValueId db = b.apply(OpKind::BiasGrad, "bias.grad", {b.input()}, {}, {});
    return std::move(b).finish(db);
  };
  SECTION("[N, C] (a linear layer's bias)") { check(graph({3, 10})); }
  SECTION("[N, C, H, W]") { check(graph({3, 5, 7, 9})); }
  SECTION("[N, C, L]") { check(graph({3, 4, 5})); }
  SECTION("large, on the thread pool") { check(graph({3, 6, 37, 41})); }
  SECTION("wide [N, C]") { check(graph({5, 1003})); }
}

