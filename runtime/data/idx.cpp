#include "runtime/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <unistd.h>

#include "runtime/host/files.h"
#include "runtime/host/memory.h"

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
    // zlib prefixes its message with the name it opened, "<fd:3>" for gzdopen; ours is the path.
    std::string_view detail = msg;
    if (const size_t colon = detail.find(": "); detail.starts_with("<fd:") && colon != std::string_view::npos)
      detail.remove_prefix(colon + 2);
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

// The magic number and one 32-bit size per dimension.
uint64_t header_bytes(int rank) { return 4 + 4 * static_cast<uint64_t>(rank); }

// Refuses, before anything is allocated, a header that claims more payload than the file can
// hold: a plain file holds exactly its size, and deflate expands at most 1032:1 (zlib's own
// bound), so a gzip file of S bytes inflates to at most 1032 * S. The gzip trailer's ISIZE
// would be tighter, but it is not decisive here: read_idx accepts concatenated gzip members and
// bytes after the stream, and either leaves the last four bytes of the file meaning something
// else. The incremental read below remains the exact check.
void check_payload_fits(const fs::path& file, const std::vector<int64_t>& shape, uint64_t payload, uint64_t file_size,
                        bool plain, uint64_t header) {
  constexpr uint64_t kMaxDeflateRatio = 1032;
  const uint64_t limit = plain ? (file_size > header ? file_size - header : 0)
                               : (file_size > std::numeric_limits<uint64_t>::max() / kMaxDeflateRatio
                                      ? std::numeric_limits<uint64_t>::max()
                                      : file_size * kMaxDeflateRatio);
  if (payload <= limit) return;
  if (plain) {
    fail(file, fmt::format("truncated: dimensions {} need {} bytes of payload, the file has {} after its {}-byte header",
                           shape_string(shape), payload, limit, header));
  }
  fail(file, fmt::format("truncated: dimensions {} need {} bytes of payload, but {} bytes of gzip inflate to at most {}",
                         shape_string(shape), payload, file_size, limit));
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const fs::path& file, int rank) {
  if (rank < 1 || rank > 255) throw std::invalid_argument(fmt::format("read_idx: rank {} is not 1..255", rank));
  host::InputFile in(file);
  if (!in) {
    if (in.open_error() == ENOENT) fail(file, "no such file");
    fail(file, in.open_error() ? "cannot open: " + in.problem() : in.problem());
  }
  const uint64_t file_size = in.size();
  // gzdopen on the descriptor already checked, not gzopen on the path again (which could
  // open something else by now). It also reads uncompressed files, so one path serves both.
  const int fd = in.release();
  GzFile f(gzdopen(fd, "rb"));
  if (!f) {
    ::close(fd);
    fail(file, "cannot open: out of memory");
  }
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

  check_payload_fits(file, out.shape, payload, file_size, gzdirect(f.get()) != 0, header_bytes(rank));

  // Grow the buffer only as bytes actually arrive, so a gzip stream that ends early fails as
  // "truncated" instead of after a huge allocation; one that really inflates to more than
  // memory holds (a gzip bomb) is an error naming the numbers, not a std::bad_alloc.
  auto& data = out.data;
  while (data.size() < payload) {
    const size_t have = data.size();
    const size_t step = std::min<size_t>(payload - have, std::max<size_t>(have, size_t{1} << 20));
    try {
      data.resize(have + step);
    } catch (const std::bad_alloc&) {
      fail(file, fmt::format("out of memory: dimensions {} need {} of payload, and allocating {} failed",
                             shape_string(out.shape), host::format_bytes(payload), host::format_bytes(have + step)));
    }
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
