#pragma once

// SHA-256 (FIPS 180-4), for the kernel caches' keys and their entries' checksums.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace resnetc::cache {

class Sha256 {
public:
  using Digest = std::array<std::uint8_t, 32>;

  Sha256() noexcept;
  void update(std::span<const std::byte> data) noexcept;
  void update(std::string_view text) noexcept;
  // The field's length, then its bytes: a list of fields hashes unlike any other list, so a
  // key built from several ("ab", "c") cannot collide with another ("a", "bc").
  void update_field(std::string_view field) noexcept;
  // Ends the hash; the object must not be updated afterwards.
  Digest finish() noexcept;

private:
  void compress(const std::uint8_t* block) noexcept;

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> block_{};
  std::size_t block_used_ = 0;
  std::uint64_t total_bytes_ = 0;
};

std::string to_hex(const Sha256::Digest& digest);

// Lower-case hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);

}  // namespace resnetc::cache
