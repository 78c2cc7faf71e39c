#include "runtime/cuda/compile_cache.h"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

#include "runtime/cuda/sha256.h"

namespace resnetc::cuda {
namespace {

// Entry layout: magic, cubin size, log size (native-endian u64: the cache is per machine),
// SHA-256 of cubin + log, the cubin, the log. Bump the magic when the layout changes.
constexpr std::array<char, 8> kMagic = {'R', 'S', 'N', 'C', 'B', 'I', 'N', '1'};
constexpr std::size_t kHeaderSize = kMagic.size() + 2 * sizeof(std::uint64_t) + 32;
constexpr std::array<std::byte, 4> kElfMagic = {std::byte{0x7f}, std::byte{'E'}, std::byte{'L'}, std::byte{'F'}};

Sha256::Digest payload_checksum(std::span<const std::byte> cubin, std::string_view log) {
  Sha256 hash;
  hash.update(cubin);
  hash.update(log);
  return hash.finish();
}

std::vector<std::byte> encode_entry(const CompileResult& result) {
  const std::uint64_t sizes[2] = {result.cubin.size(), result.log.size()};
  const Sha256::Digest checksum = payload_checksum(result.cubin, result.log);
  std::vector<std::byte> entry(kHeaderSize + result.cubin.size() + result.log.size());
  std::byte* out = entry.data();
  std::memcpy(out, kMagic.data(), kMagic.size());
  std::memcpy(out + kMagic.size(), sizes, sizeof sizes);
  std::memcpy(out + kMagic.size() + sizeof sizes, checksum.data(), checksum.size());
  std::memcpy(out + kHeaderSize, result.cubin.data(), result.cubin.size());
  std::memcpy(out + kHeaderSize + result.cubin.size(), result.log.data(), result.log.size());
  return entry;
}

// The entry's contents, or nothing when it does not hold exactly what encode_entry() wrote.
std::optional<CompileResult> decode_entry(std::span<const std::byte> entry) {
  if (entry.size() < kHeaderSize || std::memcmp(entry.data(), kMagic.data(), kMagic.size()) != 0) {
    return std::nullopt;
  }
  std::uint64_t sizes[2];
  std::memcpy(sizes, entry.data() + kMagic.size(), sizeof sizes);
  if (sizes[0] < kElfMagic.size() || sizes[0] > entry.size() - kHeaderSize ||
      sizes[1] != entry.size() - kHeaderSize - sizes[0]) {
    return std::nullopt;
  }
  std::span<const std::byte> cubin = entry.subspan(kHeaderSize, sizes[0]);
  std::span<const std::byte> log = entry.subspan(kHeaderSize + sizes[0]);
  std::string_view log_text(reinterpret_cast<const char*>(log.data()), log.size());
  Sha256::Digest stored;
  std::memcpy(stored.data(), entry.data() + kMagic.size() + sizeof sizes, stored.size());
  if (stored != payload_checksum(cubin, log_text) || !std::equal(kElfMagic.begin(), kElfMagic.end(), cubin.begin())) {
    return std::nullopt;
  }
  return CompileResult{{cubin.begin(), cubin.end()}, std::string(log_text)};
}

std::optional<std::vector<std::byte>> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    return std::nullopt;
  }
  const std::streamoff size = in.tellg();
  if (size < 0) {
    return std::nullopt;
  }
  std::vector<std::byte> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    return std::nullopt;
  }
  return bytes;
}

// Writes a temporary file beside `path` and renames it over `path`: rename() is atomic, so a
// concurrent reader sees the old entry or the whole new one, and a crash leaves at worst a stray
// temporary file. Failures are ignored because the cache only saves time.
void write_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  std::filesystem::path temp = path;
  temp += fmt::format(".tmp.{}.{}", static_cast<long>(getpid()), counter++);
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {
      out.close();
      std::filesystem::remove(temp, ec);
      return;
    }
  }
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
  }
}

// Hashes a length before each field so that no two field lists hash the same bytes.
void add_field(Sha256& hash, std::string_view field) {
  const std::uint64_t size = field.size();
  hash.update(std::as_bytes(std::span(&size, 1)));
  hash.update(field);
}

}  // namespace

std::filesystem::path default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "resnetc";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / ".cache" / "resnetc";
  }
  return std::filesystem::temp_directory_path() / "resnetc-cache";
}

std::string cache_key(const CompileRequest& request) {
  const NvrtcVersion version = nvrtc_version();
  Sha256 hash;
  add_field(hash, std::string_view(kMagic.data(), kMagic.size()));
  add_field(hash, fmt::format("nvrtc {}.{}", version.major, version.minor));
  // The program name appears in the log, which is cached too.
  add_field(hash, request.name);
  for (const std::string& option : nvrtc_options(request)) {
    add_field(hash, option);
  }
  add_field(hash, request.source);
  return to_hex(hash.finish());
}

std::filesystem::path cache_entry_path(const CompileRequest& request, const CacheOptions& options) {
  const std::filesystem::path dir = options.dir.empty() ? default_cache_dir() : options.dir;
  return dir / (cache_key(request) + ".cubin");
}

CompileResult compile_cached(const CompileRequest& request, const CacheOptions& options, CompileStats* stats) {
  const auto start = std::chrono::steady_clock::now();
  auto finish = [&](CompileResult result, bool hit) {
    if (stats != nullptr) {
      stats->cache_hit = hit;
      stats->milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    }
    return result;
  };
  if (!options.enabled) {
    return finish(compile(request), false);
  }

  const std::filesystem::path path = cache_entry_path(request, options);
  if (std::optional<std::vector<std::byte>> entry = read_file(path)) {
    if (std::optional<CompileResult> cached = decode_entry(*entry)) {
      return finish(std::move(*cached), true);
    }
  }
  CompileResult result = compile(request);
  write_atomically(path, encode_entry(result));
  return finish(std::move(result), false);
}

}  // namespace resnetc::cuda
