#pragma once
// Reading back the log of `resnetc train --log FILE` (docs/training.md): CSV or JSON lines, each
// run opened by a header row (`# run ID DATE: COMMAND` then the column names, or
// `{"run": ..., "date": ..., "command": ...}`), then one row per epoch. Older logs have no header
// rows: one table of rows for every run, a new run starting where the epoch goes back.
//
// A resumed run (`resumed_after_epoch`) continues the run before it in the file, so a run that
// was stopped and resumed is one run with every epoch once. The log may be read while a trainer
// appends to it: a last line without its newline is still being written, and is not read.
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "train/epoch_log.h"

namespace resnetc::report {

struct LoggedRun {
  std::filesystem::path file;
  size_t ordinal = 0;  // 1-based, among the runs of its file
  bool has_header = false;
  std::string id, date, command;           // from the header row; empty without one
  std::vector<train::EpochReport> epochs;  // a value that is not a number (nan, inf) stays one
};

// What is wrong with a log, naming the file and, for its content, the line.
class LogError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every run of the log, in file order. Throws LogError for a missing or unreadable file, one
// that is not a regular file (a FIFO is never opened), or content resnetc does not write.
std::vector<LoggedRun> read_training_log(const std::filesystem::path& path);

}  // namespace resnetc::report
