// Paths the user gives, opened so that nothing can block or surprise. An input is opened with
// O_NONBLOCK (open() itself would wait forever on a FIFO with no writer) and then checked with
// fstat on the open descriptor, so no rename between a check and the open can swap a FIFO or
// a device in. An output path is checked before anything is written to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace resnetc::host {

// A regular file open for reading (blocking reads, close-on-exec), or why it is not one.
// Callers turn a failure into their own error type:
//   host::InputFile in(path);
//   if (!in) throw MyError(path.string() + ": " + in.problem());
class InputFile {
 public:
  explicit InputFile(const std::filesystem::path& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  explicit operator bool() const { return fd_ >= 0; }
  // The errno of a failed open() (ENOENT, EACCES, ...); 0 when the file opened, even if it
  // then turned out not to be a regular file.
  int open_error() const { return open_error_; }
  // Without the path: the open error's text ("Permission denied"), or what the path is
  // instead of a regular file ("it is a directory", "it is a FIFO, not a regular file").
  const std::string& problem() const { return problem_; }

  int fd() const { return fd_; }
  uint64_t size() const { return size_; }  // when it was opened
  // Hands the descriptor to a new owner (gzdopen); this object then closes nothing.
  int release();

  // Fills `dst` from the current position, retrying interrupted and short reads. Returns an
  // empty string, or the problem: the read error's text, or that the file ended early.
  std::string read(std::span<std::byte> dst);

 private:
  int fd_ = -1;
  int open_error_ = 0;
  uint64_t size_ = 0;
  std::string problem_;
};

// Why `path` cannot be written as a file by replacing it, or an empty string when it can: it
// is a regular file, or nothing is there yet and its directory exists. For example "it is a
// directory", "it is a FIFO, not a regular file", "its directory 'runs' does not exist".
std::string output_file_problem(const std::filesystem::path& path);

}  // namespace resnetc::host
