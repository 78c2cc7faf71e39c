#pragma once
// One CHECK per graph: every value the CPU backend computes matches the reference executor,
// with the mismatches named in the failure message.
#include <catch2/catch.hpp>

#include "tests/backend/kernel_harness.h"

namespace resnetc::testing {

inline void check(const ir::Graph& graph, const HarnessOptions& options = {}) {
  auto mismatches = compare_with_reference(graph, options);
  INFO(describe(mismatches));
  CHECK(mismatches.empty());
}

}  // namespace resnetc::testing
