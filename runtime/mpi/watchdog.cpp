#include "runtime/mpi/watchdog.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "runtime/mpi/communicator.h"
#include "runtime/mpi/side_channel.h"

namespace resnetc::mpi {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kHeartbeatTag = 1;
constexpr int64_t kFinished = -1;  // a heartbeat's step when its rank is done
// Ranks other than 1 give rank 0 this much longer, so that one rank, not all, names it.
constexpr double kLaterWatchers = 5;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A rank that this one exchanges heartbeats with.
struct Peer {
  int rank = 0;
  int64_t heard = 0, sent = 0;  // the messages' buffers
  SideChannel::Pending receiving, sending;
  int64_t step = 0;  // the step it last said it works on
  Clock::time_point last_heard;
  bool finished = false;   // it said it is done
  bool told_done = false;  // this rank said so to it
};

}  // namespace

Watchdog::Watchdog(const Communicator& world, double timeout_seconds) : timeout_(timeout_seconds) {
  if (!world.thread_multiple())
    throw MpiError("the MPI library does not let threads call it at once (MPI_THREAD_MULTIPLE), which the "
                   "--collective-timeout watchdog needs: give --collective-timeout 0 to run without it");
  channel_ = std::make_unique<SideChannel>(world);
  thread_ = std::thread([this] {
    try {
      watch();
    } catch (const MpiError& e) {  // MPI itself failed: the job cannot be watched, nor trusted
      fmt::print(stderr, "resnetc: error: the --collective-timeout watchdog: {}; ending the job\n", e.what());
      std::fflush(stderr);
      channel_->abort_job(1);
    }
  });
}

Watchdog::~Watchdog() {
  // While an exception unwinds, the other ranks may go on without this one: no farewell to wait for.
  abandon_.store(std::uncaught_exceptions() > 0);
  finishing_.store(true);
  thread_.join();
}

void Watchdog::watch() {
  const SideChannel& c = *channel_;
  const Clock::time_point start = Clock::now();
  std::vector<Peer> peers;
  for (int r = 0; r < c.size(); ++r)
    if (r != c.rank() && (c.rank() == 0 || r == 0)) {
      Peer& p = peers.emplace_back();
      p.rank = r;
      p.last_heard = start;
    }
  for (Peer& p : peers) p.receiving = c.receive(p.rank, kHeartbeatTag, p.heard);
  const double limit = c.rank() <= 1 ? timeout_ : timeout_ + kLaterWatchers;
  const auto beat = std::chrono::duration<double>(std::clamp(timeout_ / 10, 0.01, 1.0));
  const auto tick = std::chrono::duration<double>(std::clamp(timeout_ / 50, 0.005, 0.1));
  int64_t my_step = step_.load();
  Clock::time_point my_step_start = start, last_beat = start - std::chrono::hours(1), awake = start;

  const auto end_job = [&](const Peer& p, const std::string& why) {
    fmt::print(stderr, "resnetc: error: rank {} did not reach {} within {} s (--collective-timeout): {}; ending the job\n",
               p.rank, my_step > 0 ? fmt::format("step {}", my_step) : std::string("the first step"), timeout_, why);
    std::fflush(stderr);
    c.abort_job(1);
  };

  while (!abandon_.load()) {
    const Clock::time_point now = Clock::now();
    // This process was not running (stopped, suspended) for much longer than a tick: the time it
    // missed says nothing about the others, so it is not counted against them. (Without this a
    // stopped rank that is continued only to be killed blames a rank that is already gone.)
    if (const Clock::duration missed = now - awake - std::chrono::duration_cast<Clock::duration>(tick);
        missed > 2 * beat) {
      for (Peer& p : peers) p.last_heard += missed;
      my_step_start += missed;
    }
    awake = now;
    if (const int64_t s = step_.load(std::memory_order_relaxed); s != my_step) {
      my_step = s;
      my_step_start = now;
    }
    // Everything that arrived, before anyone is judged (this thread may have slept long).
    for (Peer& p : peers)
      while (!p.finished && c.test(p.receiving)) {
        p.last_heard = now;
        if (p.heard == kFinished) {
          p.finished = true;
        } else {
          p.step = p.heard;
          p.receiving = c.receive(p.rank, kHeartbeatTag, p.heard);
        }
      }
    // A heartbeat goes to a rank once the last one to it has left; "finished" is the last of all.
    const bool finishing = finishing_.load();
    if (now - last_beat >= beat || finishing) {
      for (Peer& p : peers) {
        if (p.told_done || !c.test(p.sending)) continue;
        p.sent = finishing ? kFinished : my_step;
        p.sending = c.send(p.rank, kHeartbeatTag, p.sent);
        p.told_done = finishing;
      }
      last_beat = now;
    }
    if (std::all_of(peers.begin(), peers.end(), [&](Peer& p) { return p.told_done && p.finished && c.test(p.sending); }))
      return;
    for (const Peer& p : peers) {
      if (p.finished) continue;
      const double silent = seconds(now - p.last_heard);
      if (silent > limit)
        end_job(p, fmt::format("nothing heard from it for {:.1f} s, when it was working on step {} (stopped, hung or "
                               "cut off)",
                               silent, p.step));
      // Alive but stuck: this rank has waited at its step for the timeout, and that rank is not there yet.
      if (p.step < my_step && seconds(now - my_step_start) > limit)
        end_job(p, fmt::format("it is still at step {}", p.step));
    }
    std::this_thread::sleep_for(tick);
  }
}

}  // namespace resnetc::mpi
