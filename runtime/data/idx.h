// Reader for IDX files, the container format of MNIST and Fashion-MNIST.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace resnetc::data {

// Every problem with the data files on disk; the message names the file and the fault.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A uint8 IDX array: shape in file order (e.g. [n, rows, cols]), data row-major.
struct IdxArray {
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

// Reads a uint8 IDX file of the given rank (1 for labels, 3 for images), gzip-compressed
// or plain. Throws DataError on any malformed or unreadable input, including bytes after
// the payload; bytes after the end of a gzip stream are ignored, as zlib's gzread does.
IdxArray read_idx(const std::filesystem::path& file, int rank);

}  // namespace resnetc::data
