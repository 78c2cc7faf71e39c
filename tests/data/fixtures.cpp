#include "fixtures.h"

#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace resnetc::data::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "resnetc-data-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Bytes idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, const Bytes& payload) {
  Bytes out;
  auto put = [&out](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
  };
  put(magic);
  for (uint32_t d : dims) put(d);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Bytes gzip_bytes(const Bytes& raw) {
  z_stream zs{};
  // windowBits 15 + 16 selects the gzip wrapper, the format gzread expects in .gz files.
  if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  Bytes out(deflateBound(&zs, static_cast<uLong>(raw.size())));
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  return out;
}

void write_file(const fs::path& file, const Bytes& bytes) {
  std::ofstream f(file, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + file.string());
}

void write_mnist_like(const fs::path& dir, uint32_t train, uint32_t test, uint32_t h, uint32_t w) {
  auto write_split = [&](const std::string& prefix, uint32_t n, uint8_t salt) {
    Bytes pixels(static_cast<size_t>(n) * h * w), labels(n);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7 + salt);
    for (uint32_t i = 0; i < n; ++i) labels[i] = static_cast<uint8_t>(i % 10);
    write_file(dir / (prefix + "-images-idx3-ubyte.gz"), gzip_bytes(idx_bytes(0x803, {n, h, w}, pixels)));
    write_file(dir / (prefix + "-labels-idx1-ubyte.gz"), gzip_bytes(idx_bytes(0x801, {n}, labels)));
  };
  write_split("train", train, 0);
  write_split("t10k", test, 100);
}

}  // namespace resnetc::data::testing
