#include "runtime/checkpoint/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "runtime/checkpoint/error.h"
#include "runtime/host/files.h"

namespace resnetc::checkpoint {
namespace {

// Distinguishes temporary files of concurrent writers within one process; the pid does so
// across processes.
std::atomic<unsigned> temp_counter{0};

std::filesystem::path directory_of(const std::filesystem::path& file) {
  return file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
}

// strerror, and for the file-size limit where it comes from: EFBIG reads like a bug otherwise.
std::string error_text(int error) {
  std::string text = std::error_code(error, std::generic_category()).message();
  if (error == EFBIG) text += " (the file-size limit, ulimit -f)";
  return text;
}

}  // namespace

void require_regular_or_absent(const std::filesystem::path& path) {
  if (std::string problem = host::output_file_problem(path); !problem.empty())
    throw CheckpointError(path.string(), std::move(problem));
}

AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
  require_regular_or_absent(target_);
  // O_EXCL never reuses someone else's file; a name left by a crashed process that had our
  // pid is skipped. 0666 lets the umask decide permissions, as for any new file.
  constexpr int kAttempts = 100;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    temp_ = directory_of(target_) /
            fmt::format(".{}.tmp-{}-{}", target_.filename().string(), ::getpid(), temp_counter++);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0 || errno != EEXIST) break;
  }
  if (fd_ < 0) fail("cannot create temporary file", temp_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!renamed_) ::unlink(temp_.c_str());
}

void AtomicFile::fail(std::string_view action, const std::filesystem::path& path) const {
  const int error = errno;  // before anything below can overwrite it
  throw CheckpointError(target_.string(), fmt::format("{} '{}': {}", action, path.string(), error_text(error)));
}

void AtomicFile::fail_data(std::string_view action) const {
  const int error = errno;
  throw CheckpointError(target_.string(), fmt::format("{}: {}", action, error_text(error)));
}

void AtomicFile::write(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_data("cannot write");
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
}

void AtomicFile::commit() {
  // With delayed allocation a full disk surfaces here (ENOSPC from fsync or close), not in write().
  if (::fsync(fd_) != 0) fail_data("cannot write (fsync)");
  // close() can report a delayed write error (NFS), so it must succeed before the rename.
  if (::close(std::exchange(fd_, -1)) != 0) fail_data("cannot write (close)");
  if (::rename(temp_.c_str(), target_.c_str()) != 0) fail("cannot rename into place", temp_);
  renamed_ = true;
  const std::filesystem::path directory = directory_of(target_);
  const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) fail("cannot open directory", directory);
  const int synced = ::fsync(dir_fd);
  const int sync_error = errno;
  ::close(dir_fd);
  errno = sync_error;
  if (synced != 0) fail("cannot fsync directory", directory);
}

}  // namespace resnetc::checkpoint
