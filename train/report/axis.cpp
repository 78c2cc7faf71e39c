#include "train/report/axis.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace resnetc::report {

Axis nice_axis(double lo, double hi, int target, bool extend, bool whole) {
  if (!(hi > lo)) {  // one value (a one-epoch run, a flat curve): room on both sides
    const double pad = whole ? 0.5 : std::max(std::abs(lo) * 0.1, 0.05);
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(target, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
  if (whole) step = std::max(step, 1.0);
  Axis a;
  a.lo = extend ? std::floor(lo / step + 1e-9) * step : lo;
  a.hi = extend ? std::ceil(hi / step - 1e-9) * step : hi;
  a.decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  for (double k = std::ceil(a.lo / step - 1e-9); k * step <= a.hi + step * 1e-9; ++k) a.ticks.push_back(k * step);
  return a;
}

std::string tick_label(double value, int decimals) {
  if (std::abs(value) < 1e-12) value = 0;  // never "-0.0"
  return fmt::format("{:.{}f}", value, decimals);
}

}  // namespace resnetc::report
