// softmax_cross_entropy in the CUDA emitter with labels out of range, under emulation: NaN for
// the loss and for those rows' gradients, never a read outside the logits (the guarded buffers
// fault on one, and each canary is checked). (Its results against the reference executor: tests/conformance.)
#include <catch2/catch.hpp>

#include <cmath>

#include "compiler/plan/kernel_plan.h"
#include "tests/conformance/graphs.h"
#include "tests/cuda_codegen/emulated_plan.h"

using namespace resnetc;

TEST_CASE("CUDA softmax cross entropy reads no label out of range", "[cuda][emulation]") {
  const testing::EmulatedPlan run(plan::make_plan(testing::conformance::loss(3, 4)),
                                   codegen::cuda::options_for_precision(plan::Precision::Fp32));
  const plan::KernelPlan& plan = run.plan();
  for (float& v : run.floats(plan.input)) v = 0.5f;
  auto* labels = reinterpret_cast<int*>(run.address(plan.labels));
  labels[0] = 1;
  labels[1] = 4;  // out of range
  labels[2] = -1;
  run.run();
  CHECK(std::isnan(run.floats(plan.loss)[0]));
  int grad = -1;
  for (size_t i = 0; i < plan.buffers.size(); ++i)
    if (plan.buffers[i].name == "loss.grad") grad = static_cast<int>(i);
  REQUIRE(grad >= 0);
  const auto dx = run.floats(grad);
  for (size_t k = 0; k < 4; ++k) {
    CHECK(dx[k] == Approx((k == 1 ? -0.75 : 0.25) / 3));
    CHECK(std::isnan(dx[4 + k]));
    CHECK(std::isnan(dx[8 + k]));
  }
  CHECK(run.canary_intact(grad));
}
