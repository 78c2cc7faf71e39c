#include "train/epoch_log.h"

#include <fcntl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "runtime/checkpoint/atomic_file.h"
#include "runtime/checkpoint/error.h"
#include "runtime/checkpoint/header.h"

namespace resnetc::train {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kCsvColumns = "epoch,loss,train_acc,test_acc,seconds,examples_per_sec,lr";

std::string json_string(std::string_view s) {
  std::string out;
  checkpoint::append_json_string(out, s);
  return out;
}

// "a b" -> 'a b': the command line as a shell would take it back.
std::string shell_word(const std::string& arg) {
  if (!arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+@%") ==
                          std::string::npos)
    return arg;
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') out.append("'\\''");
    else out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string arg, line;
  while (std::getline(in, arg, '\0')) {
    if (!line.empty()) line.push_back(' ');
    line.append(shell_word(arg));
  }
  return line.empty() ? "resnetc train" : line;
}

bool is_run_header(const std::string& line) { return line.starts_with("# run ") || line.starts_with("{\"run\":"); }
bool is_resumed_header(const std::string& line) {
  return is_run_header(line) && line.find("resumed_after_epoch") != std::string::npos;
}

// The epoch of a data row ("3,0.51,..." or {"epoch": 3, ...}); nothing for other lines.
std::optional<int64_t> row_epoch(const std::string& line) {
  std::string_view s = line;
  if (s.starts_with("{\"epoch\": ")) s.remove_prefix(10);
  int64_t epoch = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), epoch);
  if (ec != std::errc() || end == s.data() || end == s.data() + s.size() || (*end != ',' && *end != '}'))
    return std::nullopt;
  return epoch;
}

[[noreturn]] void fail(const fs::path& path, std::string_view action, int error) {
  throw std::runtime_error(fmt::format("cannot {} the log {}: {}", action, path.string(),
                                       std::error_code(error, std::generic_category()).message()));
}

// Rows of this run's chain (since its last fresh start) for epochs after `epoch`: written by a
// run killed before that epoch's checkpoint, and about to be trained and written again.
void drop_rows_after(const fs::path& path, int64_t epoch) {
  std::ifstream in(path);
  if (!in) return;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (in.bad()) fail(path, "read", errno);
  size_t chain_start = 0;
  for (size_t i = 0; i < lines.size(); ++i)
    if (is_run_header(lines[i]) && !is_resumed_header(lines[i])) chain_start = i;
  std::string kept;
  bool dropped = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::optional<int64_t> e = row_epoch(lines[i]);
    if (i >= chain_start && e && *e > epoch) {
      dropped = true;
      continue;
    }
    kept.append(lines[i]).push_back('\n');
  }
  if (!dropped) return;
  try {
    checkpoint::AtomicFile file(path);
    file.write(std::as_bytes(std::span(kept)));
    file.commit();
  } catch (const checkpoint::CheckpointError& e) {
    throw std::runtime_error(fmt::format("cannot rewrite the log {}: {}", path.string(), e.problem()));
  }
}

}  // namespace

RunHeader make_run_header(int64_t resumed_after_epoch) {
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  return {fmt::format("{:%Y%m%dT%H%M%SZ}-{}", now, ::getpid()), fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", now),
          command_line(), resumed_after_epoch};
}

EpochLog::EpochLog(const fs::path& path, const RunHeader& run, bool overwrite)
    : path_(path), csv_(path.extension() == ".csv") {
  if (path.empty()) return;
  if (!overwrite && run.resumed_after_epoch >= 0) drop_rows_after(path, run.resumed_after_epoch);
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (overwrite ? O_TRUNC : 0), 0666);
  if (fd_ < 0) fail(path, "open", errno);
  const std::string resumed =
      run.resumed_after_epoch >= 0 ? fmt::format(" (resumed_after_epoch {})", run.resumed_after_epoch) : "";
  if (csv_) {
    append(fmt::format("# run {} {}{}: {}\n{}\n", run.id, run.date, resumed, run.command, kCsvColumns));
  } else {
    append(fmt::format("{{\"run\": {}, \"date\": {}, \"command\": {}{}}}\n", json_string(run.id), json_string(run.date),
                       json_string(run.command),
                       run.resumed_after_epoch >= 0 ? fmt::format(", \"resumed_after_epoch\": {}", run.resumed_after_epoch)
                                                    : ""));
  }
}

EpochLog::~EpochLog() {
  if (fd_ >= 0) ::close(fd_);
}

void EpochLog::append(const std::string& text) {
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path_, "write", errno);
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd_) != 0) fail(path_, "sync", errno);
}

void EpochLog::write(const EpochReport& r) {
  if (fd_ < 0) return;
  if (csv_)
    append(fmt::format("{},{:.6f},{:.6f},{:.6f},{:.3f},{:.1f},{:.6g}\n", r.epoch, r.loss, r.train_acc, r.test_acc,
                       r.seconds, r.examples_per_sec, r.lr));
  else
    append(fmt::format("{{\"epoch\": {}, \"loss\": {:.6f}, \"train_acc\": {:.6f}, \"test_acc\": {:.6f}, \"seconds\": "
                       "{:.3f}, \"examples_per_sec\": {:.1f}, \"lr\": {:.6g}}}\n",
                       r.epoch, r.loss, r.train_acc, r.test_acc, r.seconds, r.examples_per_sec, r.lr));
}

}  // namespace resnetc::train
