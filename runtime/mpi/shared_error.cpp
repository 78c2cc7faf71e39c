#include "runtime/mpi/shared_error.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "runtime/mpi/side_channel.h"

namespace resnetc::mpi {
namespace {

using Clock = std::chrono::steady_clock;

// FNV-1a, 64 bits: the same value on every machine, unlike std::hash.
int64_t fingerprint(std::string_view text) {
  uint64_t hash = 14695981039346656037ULL;
  for (const unsigned char byte : text) {
    hash ^= byte;
    hash *= 1099511628211ULL;
  }
  return static_cast<int64_t>(hash);
}

// Whether `p` completed before `deadline`.
bool wait_until(const SideChannel& channel, SideChannel::Pending& p, Clock::time_point deadline) {
  while (!channel.test(p)) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

std::string rank_prefixed(int rank, std::string_view message) {
  std::string out;
  for (size_t begin = 0; begin < message.size();) {
    const size_t end = std::min(message.find('\n', begin), message.size());
    out += fmt::format("rank {}: {}\n", rank, message.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

void print_shared_error(const SideChannel& channel, std::string_view message, std::FILE* to, double wait_seconds) {
  const auto wait = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait_seconds));
  const int64_t mine[1] = {fingerprint(message)};
  std::vector<int64_t> all(static_cast<size_t>(channel.size()));
  SideChannel::Pending gathered = channel.all_gather(mine, all);
  const bool every_rank_alike = wait_until(channel, gathered, Clock::now() + wait) &&
                                std::all_of(all.begin(), all.end(), [&](int64_t f) { return f == mine[0]; });
  if (!every_rank_alike) {
    fmt::print(to, "{}", rank_prefixed(channel.rank(), message));
    std::fflush(to);
    return;
  }
  if (channel.rank() == 0) {
    fmt::print(to, "{}", message);
    std::fflush(to);
  }
  // The other ranks end only after rank 0 has printed: mpirun ends the job when the first exits.
  SideChannel::Pending printed = channel.barrier();
  wait_until(channel, printed, Clock::now() + wait);
}

}  // namespace resnetc::mpi
