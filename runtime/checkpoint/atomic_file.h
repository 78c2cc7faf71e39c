#pragma once
// Replacing a file so that a crash at any moment leaves either the old file or the complete
// new one, never a torn mix: write a temporary file in the same directory (rename is only
// atomic within one file system), fsync it, rename it over the target, fsync the directory
// so the rename itself is durable.
#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>

namespace resnetc::checkpoint {

// Throws CheckpointError(path, why) unless a checkpoint can be written at `path`: it is a
// regular file, or nothing yet in an existing directory. A directory, FIFO or device there is
// refused (the rename would replace a FIFO and fail on a directory, after all the writing).
// AtomicFile checks this first; call it up front too, to fail before a long training run.
void require_regular_or_absent(const std::filesystem::path& path);

class AtomicFile {
 public:
  // Checks the target (require_regular_or_absent), then creates the temporary file.
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile();  // removes the temporary file unless commit() got as far as the rename

  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::span<const std::byte> bytes);
  void commit();

 private:
  // Throws "<action> '<path>': <strerror(errno)>", naming the target as the source.
  [[noreturn]] void fail(std::string_view action, const std::filesystem::path& path) const;
  // Throws "<action>: <strerror(errno)>" for the temporary file's data: the user knows the
  // target, not the temporary name, and the temporary file is removed anyway.
  [[noreturn]] void fail_data(std::string_view action) const;

  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  bool renamed_ = false;
};

}  // namespace resnetc::checkpoint
