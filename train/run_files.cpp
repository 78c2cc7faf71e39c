#include "train/run_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include "runtime/checkpoint/error.h"
#include "runtime/checkpoint/reader.h"
#include "runtime/host/files.h"

namespace resnetc::train {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void refuse(const std::string& message) { throw std::runtime_error(message); }

std::string error_text(int error) { return std::error_code(error, std::generic_category()).message(); }

fs::path directory_of(const fs::path& file) { return file.has_parent_path() ? file.parent_path() : fs::path("."); }

// Follows a chain of symbolic links to the path they finally name (which need not exist yet).
fs::path resolve_links(fs::path path, std::string_view what) {
  for (int depth = 0; depth < 40; ++depth) {
    std::error_code ec;
    if (!fs::is_symlink(fs::symlink_status(path, ec))) return path;
    fs::path target = fs::read_symlink(path, ec);
    if (ec) refuse(fmt::format("cannot read the link {} ({}): {}", path.string(), what, ec.message()));
    path = target.is_absolute() ? target : directory_of(path) / target;
  }
  refuse(fmt::format("{} ({}) is a chain of more than 40 symbolic links", path.string(), what));
}

// An output must not be any input: the same file under another name counts too.
void check_not_an_input(const fs::path& output, std::string_view what, const std::vector<fs::path>& inputs) {
  for (const fs::path& input : inputs) {
    std::error_code ec;
    if (fs::equivalent(output, input, ec))
      refuse(fmt::format("{} {} is an input of this run ({}); choose another file, outputs never overwrite inputs",
                         what, output.string(), input.string()));
  }
}

// host::output_file_problem's checks (a regular file or nothing, in a directory that exists),
// then creating and removing a file beside it: the one test of writability that permissions,
// read-only mounts, ACLs and quotas all answer truthfully.
void check_writable(const fs::path& file, std::string_view what) {
  if (const std::string problem = host::output_file_problem(file); !problem.empty())
    refuse(fmt::format("cannot write the {} {}: {}", what, file.string(), problem));
  const fs::path probe = directory_of(file) / fmt::format(".{}.probe-{}", file.filename().string(), ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) refuse(fmt::format("cannot write the {} {}: {}", what, file.string(), error_text(errno)));
  ::close(fd);
  ::unlink(probe.c_str());
}

std::string read_first_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

void check_existing_checkpoint(const fs::path& file) {
  try {
    const checkpoint::Checkpoint existing = checkpoint::read_safetensors(file);
    auto format = existing.metadata().find("format");
    if (format == existing.metadata().end() || format->second != "resnetc")
      refuse(fmt::format("{} exists and is not a resnetc checkpoint (a safetensors file from elsewhere); "
                         "refusing to overwrite it: choose another --checkpoint",
                         file.string()));
  } catch (const checkpoint::CheckpointError& e) {
    refuse(fmt::format("{} exists and is not a resnetc checkpoint ({}); refusing to overwrite it: remove it or "
                       "choose another --checkpoint",
                       file.string(), e.problem()));
  }
}

void check_existing_log(const fs::path& file) {
  std::error_code ec;
  if (fs::file_size(file, ec) == 0) return;
  if (!looks_like_resnetc_log(read_first_line(file)))
    refuse(fmt::format("{} exists and is not a resnetc log; refusing to add to it: remove it or choose another --log",
                       file.string()));
  // The log is appended to in place, so the file itself must be writable, not only its directory.
  if (::access(file.c_str(), W_OK) != 0) refuse(fmt::format("cannot write the log {}: {}", file.string(), error_text(errno)));
}

// Removes `.NAME.tmp-*` beside the checkpoint: what a killed AtomicFile write left behind.
// Only the lock holder writes NAME, so none of them is in use.
void remove_stale_temporaries(const fs::path& checkpoint) {
  const std::string prefix = fmt::format(".{}.tmp-", checkpoint.filename().string());
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(directory_of(checkpoint), ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with(prefix) && e.is_regular_file(ec)) fs::remove(e.path(), ec);
  }
}

}  // namespace

bool looks_like_resnetc_log(const std::string& line) {
  return line.starts_with("# run ") || line.starts_with("{\"run\":") || line.starts_with("epoch,loss,") ||
         line.starts_with("{\"epoch\":");
}

RunFiles::RunFiles(const fs::path& checkpoint, const fs::path& log, const std::vector<fs::path>& inputs) {
  checkpoint_ = resolve_links(checkpoint, "the checkpoint");
  std::error_code ec;
  check_not_an_input(checkpoint_, "the checkpoint", inputs);
  check_writable(checkpoint_, "checkpoint");
  checkpoint_exists_ = fs::exists(checkpoint_, ec);
  if (checkpoint_exists_) check_existing_checkpoint(checkpoint_);

  if (!log.empty()) {
    log_ = resolve_links(log, "the log");
    if (fs::equivalent(log_, checkpoint_, ec) || log_.lexically_normal() == checkpoint_.lexically_normal())
      refuse(fmt::format("--log and --checkpoint name the same file {}", log_.string()));
    check_not_an_input(log_, "the log", inputs);
    check_writable(log_, "log");
    if (fs::exists(log_, ec)) check_existing_log(log_);
  }

  const fs::path lock = directory_of(checkpoint_) / fmt::format(".{}.lock", checkpoint_.filename().string());
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock_fd_ < 0) refuse(fmt::format("cannot create the lock file {}: {}", lock.string(), error_text(errno)));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char holder[32] = {};
    const ssize_t n = ::pread(lock_fd_, holder, sizeof holder - 1, 0);
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (error == EWOULDBLOCK)
      refuse(fmt::format("another resnetc train (pid {}) is writing the checkpoint {}; wait for it, or give this run "
                         "another --checkpoint",
                         n > 0 ? std::string(holder, static_cast<size_t>(n)) : "unknown", checkpoint_.string()));
    refuse(fmt::format("cannot lock {}: {}", lock.string(), error_text(error)));
  }
  // The pid is only for the message a second trainer prints; the lock holds without it.
  const std::string pid = std::to_string(::getpid());
  [[maybe_unused]] const bool recorded =
      ::ftruncate(lock_fd_, 0) == 0 && ::pwrite(lock_fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
  remove_stale_temporaries(checkpoint_);
}

RunFiles::~RunFiles() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace resnetc::train
