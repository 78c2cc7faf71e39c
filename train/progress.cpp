#include "train/progress.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace resnetc::train {
namespace {

// The terminal's width now (it may have been resized since the last line), 80 if unknown.
size_t terminal_columns() {
  struct winsize size {};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

}  // namespace

ProgressLine::ProgressLine(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}

std::string format_duration(double seconds) {
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

void ProgressLine::update(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss,
                          double examples_per_sec, double eta_seconds) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (batch != batches && now - last_ < std::chrono::milliseconds(200)) return;  // redraw 5 times a second
  last_ = now;
  std::string line = fmt::format("epoch {}/{}  batch {}/{}  loss {:.4f}  {:.1f} examples/sec  ETA {}", epoch,
                                 epochs, batch, batches, loss, examples_per_sec, format_duration(eta_seconds));
  // One column short of the width: a line that fills it wraps on some terminals, and then
  // the carriage return redraws only the wrapped part.
  const size_t columns = terminal_columns() - 1;
  if (line.size() > columns) line.resize(columns);
  width_ = std::min(width_, columns);
  fmt::print(stderr, "\r{:<{}}", line, width_);
  width_ = line.size();
  std::fflush(stderr);
}

void ProgressLine::clear() {
  if (!enabled_ || width_ == 0) return;
  fmt::print(stderr, "\r{:<{}}\r", "", width_);
  width_ = 0;
}

}  // namespace resnetc::train
