#pragma once
// Axis ranges and ticks a reader can use: steps of 1, 2 or 5 times a power of ten, labels with
// just the decimals the step needs (0.85, 0.90; 1, 2, 3).
#include <string>
#include <vector>

namespace resnetc::report {

struct Axis {
  double lo = 0, hi = 1;  // the range drawn, lo < hi
  std::vector<double> ticks;
  int decimals = 0;  // of each tick's label
};

// An axis over [lo, hi] with about `target` ticks (at least 2 apart from a single value).
// `extend`: the range grows to whole steps (a value axis); else it stays [lo, hi] (epochs).
// `whole`: steps of at least 1. A degenerate range (lo == hi) is widened around the value.
Axis nice_axis(double lo, double hi, int target, bool extend, bool whole);

std::string tick_label(double value, int decimals);

}  // namespace resnetc::report
