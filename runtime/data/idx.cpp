#include "runtime/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace resnetc::data {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const fs::path& file, std::string_view what) {
  throw DataError(fmt::format("{}: {}", file.string(), what));
}

struct GzClose {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzClose>;

// gzread reports a damaged or cut-off gzip stream only through gzerror, so check it after
// every read; Z_BUF_ERROR is zlib's "unexpected end of file" inside compressed data.
void check_stream(gzFile f, const fs::path& file) {
  int code = Z_OK;
  const char* msg = gzerror(f, &code);
  if (code == Z_ERRNO) fail(file, fmt::format("read error: {}", std::strerror(errno)));
  if (code != Z_OK) {
    // zlib prefixes its message with the path, which ours already starts with.
    std::string_view detail = msg;
    const std::string prefix = file.string() + ": ";
    if (detail.starts_with(prefix)) detail.remove_prefix(prefix.size());
    fail(file, fmt::format("corrupt gzip stream ({})", detail));
  }
}

// Reads up to `want` bytes, fewer only at end of data.
size_t read_some(gzFile f, const fs::path& file, uint8_t* dst, size_t want) {
  constexpr size_t kChunk = size_t{1} << 20;  // gzread takes an unsigned count
  size_t got = 0;
  while (got < want) {
    const auto n = gzread(f, dst + got, static_cast<unsigned>(std::min(want - got, kChunk)));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  check_stream(f, file);
  return got;
}

// "[60000, 28, 28]"; by hand because fmt/ranges.h trips GCC 12's -Wstringop-overflow at -O3.
std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const fs::path& file, int rank) {
  if (rank < 1 || rank > 255) throw std::invalid_argument(fmt::format("read_idx: rank {} is not 1..255", rank));
  std::error_code ec;
  const auto status = fs::status(file, ec);
  if (!fs::exists(status)) fail(file, "no such file");
  if (!fs::is_regular_file(status)) fail(file, "not a regular file");

  // gzopen also reads uncompressed files transparently, so one path serves .gz and plain.
  GzFile f(gzopen(file.c_str(), "rb"));
  if (!f) fail(file, fmt::format("cannot open: {}", std::strerror(errno)));
  gzbuffer(f.get(), 1u << 17);  // larger than the 8 KiB default: fewer syscalls on 26 MB files

  std::array<uint8_t, 4> magic_bytes{};
  const size_t magic_got = read_some(f.get(), file, magic_bytes.data(), magic_bytes.size());
  if (magic_got < magic_bytes.size()) {
    fail(file, fmt::format("truncated: expected a 4-byte IDX magic number, got {} bytes", magic_got));
  }
  // Magic = 0x00, 0x00, element type (0x08 = uint8), number of dimensions.
  const uint32_t magic = big_endian_u32(magic_bytes.data());
  const uint32_t expected_magic = 0x00000800u | static_cast<uint32_t>(rank);
  if (magic != expected_magic) {
    fail(file, fmt::format("bad magic number 0x{:08X}, expected 0x{:08X} (uint8 IDX with {} dimension{})",
                           magic, expected_magic, rank, rank == 1 ? "" : "s"));
  }

  std::vector<uint8_t> dim_bytes(4 * static_cast<size_t>(rank));
  const size_t dims_got = read_some(f.get(), file, dim_bytes.data(), dim_bytes.size());
  if (dims_got < dim_bytes.size()) {
    fail(file, fmt::format("truncated: expected {} bytes of header dimensions, got {}", dim_bytes.size(), dims_got));
  }
  IdxArray out;
  uint64_t payload = 1;
  bool overflow = false;
  for (int i = 0; i < rank; ++i) {
    const uint32_t d = big_endian_u32(dim_bytes.data() + 4 * i);
    out.shape.push_back(d);
    overflow = overflow || (d != 0 && payload > std::numeric_limits<uint64_t>::max() / d);
    payload *= d;
  }
  if (overflow || payload > static_cast<uint64_t>(std::numeric_limits<std::ptrdiff_t>::max())) {
    fail(file, fmt::format("absurd dimensions {}: the payload size overflows", shape_string(out.shape)));
  }

  // Grow the buffer only as bytes actually arrive, so a header claiming billions of
  // items fails as "truncated" instead of attempting a huge allocation up front.
  auto& data = out.data;
  while (data.size() < payload) {
    const size_t have = data.size();
    const size_t step = std::min<size_t>(payload - have, std::max<size_t>(have, size_t{1} << 20));
    data.resize(have + step);
    const size_t got = read_some(f.get(), file, data.data() + have, step);
    if (got < step) {
      fail(file, fmt::format("truncated: dimensions {} need {} bytes of payload, got {}", shape_string(out.shape), payload,
                             have + got));
    }
  }
  uint8_t extra = 0;
  if (read_some(f.get(), file, &extra, 1) != 0) {
    fail(file, fmt::format("trailing garbage after the {} bytes of payload for dimensions {}", payload,
                           shape_string(out.shape)));
  }
  return out;
}

}  // namespace resnetc::data
