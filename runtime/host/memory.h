// Large host allocations (a plan's buffers, a data set) made explicit: a failure is an
// OutOfMemory error that says what was being allocated and how much, never a bare
// std::bad_alloc or a null pointer.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace resnetc::host {

// The message is complete ("out of memory allocating X (3.20 GiB); try ..."), so a generic
// catch of std::exception can print it as it is.
class OutOfMemory : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "512 B", "15.7 KiB", "3.20 GiB": sizes as a user reads them.
std::string format_bytes(size_t bytes);

struct FreeBytes {
  void operator()(std::byte* p) const;
};
using Bytes = std::unique_ptr<std::byte[], FreeBytes>;

// `bytes` zeroed bytes aligned to `alignment` (a power of two). On failure throws
// OutOfMemory("out of memory allocating {what} ({size}){advice}"): `what` names the memory
// ("the training step's buffers of 'tiny' at batch 4096"), `advice` is appended as written
// ("; try a smaller --batch", or empty).
Bytes allocate_zeroed(size_t bytes, size_t alignment, std::string_view what, std::string_view advice = {});

}  // namespace resnetc::host
