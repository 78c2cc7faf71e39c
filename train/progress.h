#pragma once
// The live progress line of a long run (batch, loss, examples/sec, ETA), redrawn in place on
// a terminal and silent elsewhere, so logs and pipes get only the per-epoch lines.
#include <chrono>
#include <cstdint>
#include <string>

namespace resnetc::train {

class ProgressLine {
 public:
  explicit ProgressLine(bool enabled);  // also off when stderr is not a terminal
  void update(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss, double examples_per_sec,
              double eta_seconds);
  void clear();  // before printing a normal line

 private:
  bool enabled_;
  size_t width_ = 0;
  std::chrono::steady_clock::time_point last_;
};

std::string format_duration(double seconds);  // "1:05", "1:02:03"

}  // namespace resnetc::train
