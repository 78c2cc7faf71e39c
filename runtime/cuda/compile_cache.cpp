#include "runtime/cuda/compile_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "runtime/cache/cache_files.h"
#include "runtime/cache/sha256.h"

namespace resnetc::cuda {
namespace {

using cache::Sha256;

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

}  // namespace

std::string cache_key(const CompileRequest& request) {
  const NvrtcVersion version = nvrtc_version();
  Sha256 hash;
  hash.update_field(std::string_view(kMagic.data(), kMagic.size()));
  hash.update_field(fmt::format("nvrtc {}.{}", version.major, version.minor));
  // The program name appears in the log, which is cached too.
  hash.update_field(request.name);
  for (const std::string& option : nvrtc_options(request)) {
    hash.update_field(option);
  }
  hash.update_field(request.source);
  return cache::to_hex(hash.finish());
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
  if (std::optional<std::vector<std::byte>> entry = cache::read_file(path)) {
    if (std::optional<CompileResult> cached = decode_entry(*entry)) {
      return finish(std::move(*cached), true);
    }
  }
  CompileResult result = compile(request);
  cache::write_atomically(path, encode_entry(result));
  return finish(std::move(result), false);
}

}  // namespace resnetc::cuda
