#pragma once
// Helpers shared by the checkpoint tests: scratch directories and hand-built file images.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace resnetc::checkpoint::test {

// A fresh directory under the system temp directory, removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> entries() const;  // file names in it, sorted

 private:
  std::filesystem::path path_;
};

// The 8-byte little-endian length prefix, `header` verbatim, then `data_bytes` bytes 0, 1, 2...
std::vector<std::byte> file_image(std::string_view header, size_t data_bytes = 0);
// An arbitrary length prefix followed by `rest`, for lying about the header length.
std::vector<std::byte> raw_image(uint64_t header_length, std::string_view rest);

std::vector<std::byte> read_bytes(const std::filesystem::path& path);
void write_bytes(const std::filesystem::path& path, std::span<const std::byte> bytes);

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& values) {
  return std::as_bytes(std::span(values));
}

}  // namespace resnetc::checkpoint::test
