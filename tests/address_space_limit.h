#pragma once
// Tests of running out of memory: an address-space limit (RLIMIT_AS) for the test's lifetime.
#include <sys/resource.h>

#include <catch2/catch.hpp>

#include <cstddef>
#include <fstream>
#include <string>

namespace resnetc::testing {

// Caps this process's address space at what it uses now plus `headroom`, while it lives.
class AddressSpaceLimit {
 public:
  explicit AddressSpaceLimit(size_t headroom) {
    REQUIRE(::getrlimit(RLIMIT_AS, &saved_) == 0);
    rlimit limit = saved_;
    limit.rlim_cur = static_cast<rlim_t>(virtual_size() + headroom);
    REQUIRE(::setrlimit(RLIMIT_AS, &limit) == 0);
  }
  ~AddressSpaceLimit() { ::setrlimit(RLIMIT_AS, &saved_); }
  AddressSpaceLimit(const AddressSpaceLimit&) = delete;
  AddressSpaceLimit& operator=(const AddressSpaceLimit&) = delete;

 private:
  static size_t virtual_size() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
      if (line.starts_with("VmSize:")) return std::stoull(line.substr(7)) * 1024;
    FAIL("no VmSize in /proc/self/status");
    return 0;
  }
  rlimit saved_{};
};

}  // namespace resnetc::testing
