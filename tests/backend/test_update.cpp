// The CPU backend refuses a running-statistics update with one value per channel (its unbiased
// variance would divide by zero). (The updates' results against the reference executor:
// tests/conformance.)
#include <catch2/catch.hpp>

#include "tests/backend/kernel_harness.h"
#include "tests/conformance/graphs.h"

using namespace resnetc;

TEST_CASE("backend bn_running_update with one value per channel is refused at compile time") {
  CHECK_THROWS_WITH(testing::compare_with_reference(testing::conformance::running_update({1, 3, 1, 1}, 0.1)),
                    Catch::Matchers::Contains("more than 1 value per channel"));
}
