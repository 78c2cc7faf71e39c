// The reference executor's bf16 stores (Executor::store_in_bf16): a value a plan stores as
// bfloat16 is rounded at its store, to float and then to nearest even, and what reads it after
// reads the rounded value.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "compiler/reference/bf16.h"
#include "reference_test_util.h"

using namespace resnetc::reference;
using namespace resnetc::reference::testing;

TEST_CASE("reference: round_to_bf16 rounds float to nearest even, keeps NaN and denormals") {
  CHECK(round_to_bf16(1.0) == 1.0);
  CHECK(round_to_bf16(1 + 0x1p-8) == 1.0);                   // a tie: to the even 1.0
  CHECK(round_to_bf16(1 + 3 * 0x1p-8) == 1 + 0x1p-6);        // a tie: to the even 1 + 2^-6
  CHECK(round_to_bf16(1 + 0x1p-8 + 0x1p-20) == 1 + 0x1p-7);  // above the tie
  CHECK(round_to_bf16(-(1 + 0x1p-8 + 0x1p-20)) == -(1 + 0x1p-7));
  CHECK(round_to_bf16(1 + 0x1p-8 + 0x1p-40) == 1.0);  // to float first: the 2^-40 is gone, a tie
  CHECK(round_to_bf16(0x1p-133) == 0x1p-133);          // a denormal bf16 holds
  CHECK(std::isnan(round_to_bf16(std::numeric_limits<double>::quiet_NaN())));
  CHECK(round_to_bf16(std::numeric_limits<double>::infinity()) == std::numeric_limits<double>::infinity());
  CHECK(round_to_bf16(3.4e38) == std::numeric_limits<double>::infinity());  // past bf16's largest: infinity
}

TEST_CASE("reference: a value stored in bf16 is rounded at its store and read rounded") {
  resnetc::ir::GraphBuilder b("g", {1, 2, 1, 2});
  const ValueId y = b.add(OpKind::Relu, "y", {b.input()}, {}, here());
  const ValueId z = b.add(OpKind::Add, "z", {y, b.input()}, {}, here());
  const resnetc::ir::Graph g = std::move(b).finish(z);
  const std::vector<double> x{1 + 0x1p-8 + 0x1p-12, 1 + 0x1p-8, 3 + 0x1p-8, -2};
  Executor plain(g), stored(g);
  stored.store_in_bf16(y);
  for (Executor* ex : {&plain, &stored}) {
    ex->set(g.input, x);
    ex->run();
  }
  CHECK(plain.get(y) == std::vector<double>{x[0], x[1], x[2], 0});
  CHECK(stored.get(y) == std::vector<double>{1 + 0x1p-7, 1, 3, 0});
  CHECK(stored.get(z) == std::vector<double>{1 + 0x1p-7 + x[0], 1 + x[1], 3 + x[2], -2});  // z itself is not rounded
  CHECK_THROWS_AS(stored.store_in_bf16(static_cast<ValueId>(g.values.size())), ExecutorError);
}
