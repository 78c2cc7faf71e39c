// The dropout and drop-path masks of the reference executor (compiler/ir/random_mask.h): the
// keep rate is 1 - p within a statistical bound, the survivors are scaled by 1 / (1 - p), the
// mask changes with the step, the seed and the layer, drop-path keeps or drops whole samples,
// and the same (seed, step) draws the same mask.
#include <catch2/catch.hpp>

#include <cmath>

#include "compiler/ir/builder.h"
#include "compiler/ir/random_mask.h"
#include "compiler/reference/executor.h"

using namespace resnetc;
using ir::OpKind;

namespace {

// y = mask(ones) for (seed, step) and a layer's salt.
std::vector<double> mask(OpKind kind, const ir::Dims& shape, double rate, uint32_t seed, uint32_t step,
                         uint32_t salt = 7) {
  ir::GraphBuilder b("mask", shape);
  const ir::ValueId rng = b.add_value("rng", {2}, ir::ValueRole::Input, ir::DType::I32);
  ir::Attrs a;
  a.rate = rate;
  a.salt = salt;
  const ir::ValueId y = b.apply(kind, "mask", {b.input(), rng}, a, {});
  const ir::Graph g = std::move(b).finish(y);
  reference::Executor e(g);
  e.set(g.input, std::vector<double>(static_cast<size_t>(ir::numel(shape)), 1.0));
  e.set(rng, {static_cast<double>(seed), static_cast<double>(step)});
  e.run();
  return e.get(y);
}

double kept_fraction(const std::vector<double>& y) {
  double kept = 0;
  for (double v : y) kept += v != 0;
  return kept / static_cast<double>(y.size());
}

double differing_fraction(const std::vector<double>& a, const std::vector<double>& b) {
  double differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ += (a[i] != 0) != (b[i] != 0);
  return differ / static_cast<double>(a.size());
}

}  // namespace

TEST_CASE("dropout keeps 1 - p of a large tensor, within 6 standard deviations, scaled by 1 / (1 - p)",
          "[reference][dropout]") {
  const ir::Dims shape{8, 16, 61, 67};  // 523,136 elements
  const double n = static_cast<double>(ir::numel(shape));
  for (double p : {0.1, 0.3, 0.5, 0.9}) {
    const std::vector<double> y = mask(OpKind::DropoutMask, shape, p, 1, 0);
    const double bound = 6 * std::sqrt(p * (1 - p) / n);
    INFO("p = " << p << ", kept " << kept_fraction(y));
    CHECK(std::abs(kept_fraction(y) - (1 - p)) < bound);
    for (double v : y) REQUIRE((v == 0 || v == 1 / (1 - p)));
  }
  const std::vector<double> none = mask(OpKind::DropoutMask, shape, 0.0, 1, 0);
  CHECK(kept_fraction(none) == 1.0);
}

TEST_CASE("the dropout mask is a function of the seed, the step and the layer", "[reference][dropout]") {
  const ir::Dims shape{4, 8, 33, 35};
  const double p = 0.3, independent = 2 * p * (1 - p);  // masks drawn independently differ this often
  const std::vector<double> base = mask(OpKind::DropoutMask, shape, p, 5, 10);
  CHECK(mask(OpKind::DropoutMask, shape, p, 5, 10) == base);  // resume and backward draw it again
  for (const auto& other : {mask(OpKind::DropoutMask, shape, p, 5, 11), mask(OpKind::DropoutMask, shape, p, 6, 10),
                            mask(OpKind::DropoutMask, shape, p, 5, 10, 8)})
    CHECK(std::abs(differing_fraction(base, other) - independent) < 0.015);  // 6 standard deviations
}

TEST_CASE("drop-path keeps or drops whole samples, 1 - p of them", "[reference][droppath]") {
  const ir::Dims shape{4000, 3, 5, 7};
  const int64_t per = 3 * 5 * 7;
  const double p = 0.25;
  const std::vector<double> y = mask(OpKind::DropPathMask, shape, p, 3, 2);
  int64_t kept = 0;
  for (int64_t n = 0; n < shape[0]; ++n) {
    const double first = y[static_cast<size_t>(n * per)];
    REQUIRE((first == 0 || first == 1 / (1 - p)));
    for (int64_t i = 1; i < per; ++i) REQUIRE(y[static_cast<size_t>(n * per + i)] == first);
    kept += first != 0;
  }
  CHECK(std::abs(static_cast<double>(kept) / 4000 - (1 - p)) < 6 * std::sqrt(p * (1 - p) / 4000));
  CHECK(differing_fraction(y, mask(OpKind::DropPathMask, shape, p, 3, 3)) > 0.2);
}

TEST_CASE("the mask hash is the one random_mask.h specifies", "[reference][dropout]") {
  namespace rm = ir::random_mask;
  // Fixed points of the specification: a change to the hash changes every backend's masks.
  CHECK(rm::mix(0) == 0);
  CHECK(rm::mix(1) != 1);
  CHECK(rm::threshold(0.5) == 1u << 23);
  CHECK(rm::keeps(0xffffffffu, rm::threshold(0.99)));
  CHECK(!rm::keeps(0, rm::threshold(0.01)));
  CHECK(rm::salt("stage1.block0.dropout") != rm::salt("stage1.block1.dropout"));
  const uint32_t key = rm::key(1, 2, 3);
  CHECK(rm::bits(key, 5) != rm::bits(key, uint64_t{5} + (uint64_t{1} << 32)));  // the high word counts
}
