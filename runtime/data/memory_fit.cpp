#include "runtime/data/memory_fit.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "runtime/data/idx.h"

namespace resnetc::data {

std::optional<uint64_t> available_memory() {
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  return std::nullopt;
}

void check_memory_fits(uint64_t needed, uint64_t available, const std::string& what) {
  if (needed <= available) return;
  throw DataError(fmt::format("{} need {} of memory, kept decoded as uint8, but {} is available: give a smaller "
                              "--image-size (or `image_size` in the train section), free memory, or keep them in a "
                              "file (--image-cache disk)",
                              what, format_bytes(needed), format_bytes(available)));
}

std::string format_bytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1e12) return fmt::format("{:.1f} TB", b / 1e12);
  if (b >= 1e9) return fmt::format("{:.1f} GB", b / 1e9);
  if (b >= 1e6) return fmt::format("{:.1f} MB", b / 1e6);
  if (b >= 1e3) return fmt::format("{:.1f} kB", b / 1e3);
  return fmt::format("{} bytes", bytes);
}

}  // namespace resnetc::data
