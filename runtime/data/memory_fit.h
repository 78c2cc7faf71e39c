// Whether a data set's decoded images fit in memory before they are decoded: a folder of photos
// kept at too large an --image-size in memory would otherwise fill the machine and be killed
// part-way (image_storage.h keeps them in a file instead).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace resnetc::data {

// The memory the system could give this process now: /proc/meminfo's MemAvailable (free memory
// and caches it can drop), none where it cannot be read.
std::optional<uint64_t> available_memory();

// Throws DataError when `needed` bytes (of `what`: "the 1300 images at 3x256x256") exceed
// `available`, naming both and what to do.
void check_memory_fits(uint64_t needed, uint64_t available, const std::string& what);

// "251.9 GB", "12.0 MB": a byte count for messages (powers of 1000, one decimal).
std::string format_bytes(uint64_t bytes);

}  // namespace resnetc::data
