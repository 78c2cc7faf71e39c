#pragma once
// Helpers for the reference executor's tests: tiny graphs, random data, finite differences.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "compiler/ir/builder.h"
#include "compiler/reference/executor.h"

namespace resnetc::reference::testing {

using ir::Attrs;
using ir::Dims;
using ir::OpKind;
using ir::ValueId;
using ir::ValueRole;

inline ir::SourceLoc here() { return {}; }

// Uniform values in [lo, hi) from a fixed seed.
inline std::vector<double> random_values(int64_t count, uint32_t seed, double lo = -1, double hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(count));
  for (double& x : v) x = dist(rng);
  return v;
}

// Values whose magnitude is in [0.1, 1): away from ReLU's kink at 0.
inline std::vector<double> away_from_zero(int64_t count, uint32_t seed) {
  std::vector<double> v = random_values(count, seed, 0.1, 1.0);
  std::mt19937 rng(seed + 1);
  for (double& x : v)
    if (rng() % 2) x = -x;
  return v;
}

// Distinct values 0.05 apart, shuffled, plus a little noise: no ties in a max-pool window.
inline std::vector<double> distinct_values(int64_t count, uint32_t seed) {
  std::vector<double> v(static_cast<size_t>(count));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.05 * static_cast<double>(i) - 1.0;
  std::mt19937 rng(seed);
  std::shuffle(v.begin(), v.end(), rng);
  for (double& x : v) x += std::uniform_real_distribution<double>(0, 0.01)(rng);
  return v;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// |a - b| / max(|a|, |b|, floor): a relative error that does not blow up near zero, where
// central differences in double carry ~1e-10 absolute rounding noise.
inline double relative_error(double a, double b, double floor = 1e-3) {
  return std::abs(a - b) / std::max({std::abs(a), std::abs(b), floor});
}

// A graph with every value it reads: run it, read results.
struct Case {
  ir::Graph graph;
  std::map<ValueId, std::vector<double>> values;  // set before each run

  Executor run() const {
    Executor ex(graph);
    for (const auto& [id, data] : values) ex.set(id, data);
    ex.run();
    return ex;
  }
};

// The largest relative error between the gradient `analytic` (a value of the case's graph) and
// central differences, with respect to every element of the value `wrt`, of the scalar
// loss = sum(weights * observe(executor)). The difference is taken element by element
// (sum(weights * (up - down))), so outputs the perturbation does not reach cancel exactly and
// the rounding noise is that of the outputs it does reach, not of the whole sum.
inline double max_gradient_error(const Case& c, ValueId wrt, ValueId analytic, ValueId observed,
                                 const std::vector<double>& weights, double h = 1e-6) {
  const std::vector<double> grad = c.run().get(analytic);
  Case probe = c;
  std::vector<double>& x = probe.values.at(wrt);
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const std::vector<double> up = probe.run().get(observed);
    x[i] = saved - h;
    const std::vector<double> down = probe.run().get(observed);
    x[i] = saved;
    double difference = 0;
    for (size_t k = 0; k < up.size(); ++k) difference += weights.at(k) * (up[k] - down[k]);
    worst = std::max(worst, relative_error(grad.at(i), difference / (2 * h)));
  }
  return worst;
}

}  // namespace resnetc::reference::testing
