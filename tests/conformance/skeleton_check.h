#pragma once
// The check both backends' conformance tests make of the kernel dispatch: it follows each kind's
// skeleton (ops.def), so a kind whose row names the wrong family's skeleton throws in that
// family's emitter, one with a kernel marked None or Alias throws "no kernel", and one without a
// kernel marked otherwise is never planned.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <functional>
#include <set>
#include <string>

#include "compiler/ir/ops.h"
#include "compiler/plan/kernel_plan.h"
#include "tests/conformance/cases.h"
#include "tests/conformance/graphs.h"

namespace resnetc::testing::conformance {

// `emit` renders a whole plan with one backend; `refusal` is the text that backend's error for
// the plan's kernel 0, of a kind it has no kernel for, contains.
inline void check_kernel_skeletons(const std::function<void(const plan::KernelPlan&)>& emit,
                                   const std::function<std::string(const plan::Kernel&)>& refusal) {
  std::set<ir::OpKind> emitted;
  for (const Case& c : cases()) {
    const plan::KernelPlan plan = plan::make_plan(backend_graph(c));
    INFO(c.name);
    CHECK_NOTHROW(emit(plan));
    for (const plan::Kernel& k : plan.kernels) emitted.insert(k.kind);
  }
  for (int k = 0; k <= static_cast<int>(ir::kLastOpKind); ++k) {
    const auto kind = static_cast<ir::OpKind>(k);
    INFO(ir::op_kind_name(kind));
    CHECK(emitted.contains(kind) == has_kernel(kind));
    if (has_kernel(kind)) continue;
    plan::KernelPlan plan = plan::make_plan(relu_add({2, 3, 4, 5}));
    plan.kernels.at(0).kind = kind;
    CHECK_THROWS_WITH(emit(plan), Catch::Contains(refusal(plan.kernels[0])));
  }
}

}  // namespace resnetc::testing::conformance
