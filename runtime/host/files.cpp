#include "runtime/host/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace resnetc::host {
namespace {

std::string error_text(int error) { return std::error_code(error, std::generic_category()).message(); }

// What a non-regular file is, as the end of "'x': ...".
std::string not_regular(mode_t mode) {
  if (S_ISDIR(mode)) return "it is a directory";
  if (S_ISFIFO(mode)) return "it is a FIFO, not a regular file";
  if (S_ISCHR(mode)) return "it is a character device, not a regular file";
  if (S_ISBLK(mode)) return "it is a block device, not a regular file";
  if (S_ISSOCK(mode)) return "it is a socket, not a regular file";
  return "not a regular file";
}

}  // namespace

InputFile::InputFile(const std::filesystem::path& path) {
  // O_NOCTTY: a terminal named here must not become the process's controlling terminal.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    open_error_ = errno;
    problem_ = error_text(open_error_);
    // A socket cannot be opened at all (ENXIO); saying what it is helps more than errno.
    struct stat info {};
    if (open_error_ == ENXIO && ::stat(path.c_str(), &info) == 0) problem_ = not_regular(info.st_mode);
    return;
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    problem_ = error_text(errno);
  } else if (!S_ISREG(info.st_mode)) {
    problem_ = not_regular(info.st_mode);
  } else {
    // A regular file never blocks, but clear the flag so the reads below mean what they say.
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
      problem_ = error_text(errno);
    } else {
      fd_ = fd;
      size_ = static_cast<uint64_t>(info.st_size);
      return;
    }
  }
  ::close(fd);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

int InputFile::release() { return std::exchange(fd_, -1); }

std::string InputFile::read(std::span<std::byte> dst) {
  while (!dst.empty()) {
    const ssize_t n = ::read(fd_, dst.data(), dst.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return error_text(errno);
    if (n == 0) return fmt::format("the file ended {} bytes early (did it shrink while being read?)", dst.size());
    dst = dst.subspan(static_cast<size_t>(n));
  }
  return {};
}

std::string output_file_problem(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0) return S_ISREG(info.st_mode) ? std::string() : not_regular(info.st_mode);
  if (errno != ENOENT && errno != ENOTDIR) return error_text(errno);
  // Nothing there (or a dangling symbolic link, which the rename replaces): the directory
  // the new file goes into must exist.
  const std::filesystem::path directory = path.has_parent_path() ? path.parent_path() : ".";
  if (::stat(directory.c_str(), &info) != 0) {
    return errno == ENOENT ? fmt::format("its directory '{}' does not exist", directory.string())
                           : fmt::format("its directory '{}': {}", directory.string(), error_text(errno));
  }
  if (!S_ISDIR(info.st_mode)) return fmt::format("'{}' is not a directory", directory.string());
  return {};
}

}  // namespace resnetc::host
