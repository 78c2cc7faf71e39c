// Helpers that write IDX files (plain, gzip, or deliberately broken) into a scratch directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/data/idx.h"

namespace resnetc::data::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

using Bytes = std::vector<uint8_t>;

// Header (magic, big-endian dimensions) followed by the payload, exactly as given.
Bytes idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, const Bytes& payload);
Bytes gzip_bytes(const Bytes& raw);
void write_file(const std::filesystem::path& file, const Bytes& bytes);

// Writes the four files of an MNIST-like data set: `train` images of h x w pixels with
// labels i % 10, likewise `test`; pixel values are a function of (split, image, pixel).
void write_mnist_like(const std::filesystem::path& dir, uint32_t train, uint32_t test, uint32_t h, uint32_t w);

// The message of the DataError that f() throws, for matching with CHECK_THAT; any other
// exception escapes and fails the test.
template <class F>
std::string data_error_message(F&& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "<no DataError thrown>";
}

}  // namespace resnetc::data::testing
