#pragma once
// An error in a job of several ranks, printed once: a deterministic error (a refused recipe, a
// bad data set, a compile error) hits every rank alike, and N identical lines say nothing more
// than one (docs/distributed.md).
#include <cstdio>
#include <string>
#include <string_view>

namespace resnetc::mpi {

class SideChannel;

// Prints `message` (one or more lines) to `to` on behalf of this rank, which failed with it:
// once, by rank 0, when every rank failed with the same message within `wait_seconds`; else
// from each rank that failed, every line prefixed with "rank R: " (other ranks failed otherwise,
// or not at all). Collective on `channel` among the ranks that fail; never blocks longer than
// about twice `wait_seconds`.
void print_shared_error(const SideChannel& channel, std::string_view message, std::FILE* to, double wait_seconds);

// `message` with every line prefixed with "rank R: ".
std::string rank_prefixed(int rank, std::string_view message);

}  // namespace resnetc::mpi
