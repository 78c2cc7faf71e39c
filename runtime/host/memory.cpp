#include "runtime/host/memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>

namespace resnetc::host {

std::string format_bytes(size_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  auto value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  // Two decimals from GiB on, where one step of 0.1 is already a lot of memory.
  return unit >= 3 ? fmt::format("{:.2f} {}", value, kUnits[unit]) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

void FreeBytes::operator()(std::byte* p) const { std::free(p); }

Bytes allocate_zeroed(size_t bytes, size_t alignment, std::string_view what, std::string_view advice) {
  // aligned_alloc wants a non-zero multiple of the alignment; a size that overflows the
  // rounding is as impossible to allocate as one the allocator refuses.
  const size_t want = std::max<size_t>(bytes, 1);
  const size_t rounded = want + (alignment - 1);
  void* p = rounded < want ? nullptr : std::aligned_alloc(alignment, rounded / alignment * alignment);
  if (p == nullptr)
    throw OutOfMemory(fmt::format("out of memory allocating {} ({}){}", what, format_bytes(bytes), advice));
  std::memset(p, 0, bytes);
  return Bytes(static_cast<std::byte*>(p));
}

}  // namespace resnetc::host
