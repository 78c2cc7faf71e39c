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

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);  // creates the temporary file
  ~AtomicFile();  // removes the temporary file unless commit() got as far as the rename

  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::span<const std::byte> bytes);
  void commit();

 private:
  // Throws "<action> '<path>': <strerror(errno)>", naming the target as the source.
  [[noreturn]] void fail(std::string_view action, const std::filesystem::path& path) const;

  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  bool renamed_ = false;
};

}  // namespace resnetc::checkpoint
