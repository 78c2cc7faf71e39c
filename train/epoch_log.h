#pragma once
// The per-epoch log of `resnetc train --log FILE`: CSV (a .csv name) or JSON lines (any other).
// Each run starts with a header row naming it (run id, date, command), so the runs of one file
// never merge into one table; `overwrite` starts the file afresh instead. The trainer writes an
// epoch's row (synced) before that epoch's checkpoint, so a kill between the two leaves a row
// for an epoch that will run again; a resumed run removes such rows before it adds its own.
#include <cstdint>
#include <filesystem>
#include <string>

namespace resnetc::train {

struct EpochReport {
  int64_t epoch = 0;  // 1-based
  double loss = 0, train_acc = 0, test_acc = 0, seconds = 0, examples_per_sec = 0, lr = 0;
};

struct RunHeader {
  std::string id;       // "20261202T131500Z-4242": the start time (UTC) and the process id
  std::string date;     // "2026-12-02T13:15:00Z"
  std::string command;  // the command line, as typed
  int64_t resumed_after_epoch = -1;  // >= 0: a resumed run, continuing after that epoch
};

RunHeader make_run_header(int64_t resumed_after_epoch);  // now, this process, /proc/self/cmdline

class EpochLog {
 public:
  // An empty path keeps no log. Throws std::runtime_error naming the file when it cannot be
  // opened, read or written.
  EpochLog(const std::filesystem::path& path, const RunHeader& run, bool overwrite);
  ~EpochLog();
  EpochLog(const EpochLog&) = delete;
  EpochLog& operator=(const EpochLog&) = delete;

  void write(const EpochReport& report);  // appended and synced

 private:
  void append(const std::string& text);

  std::filesystem::path path_;
  bool csv_ = false;
  int fd_ = -1;
};

}  // namespace resnetc::train
