#pragma once

// Streams, timing events and CUDA graphs captured from a stream: the training step is recorded
// once and replayed as one graph launch per iteration.

#include "runtime/cuda/driver.h"

struct CUevent_st;
struct CUgraphExec_st;

namespace resnetc::cuda {

class Graph;
class Event;

// A non-blocking stream: it does not synchronise with the legacy default stream.
class Stream {
public:
  explicit Stream(const Device& device);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  StreamHandle get() const noexcept { return stream_; }
  void synchronize() const;
  // True once all work enqueued so far is done (cuStreamQuery): for waits that must also watch
  // something else, as NCCL's errors.
  bool done() const;
  // Work enqueued on this stream from now on starts after the work that preceded `event`'s
  // latest record (on any stream): how two streams of one device are ordered without the host.
  void wait(const Event& event) const;

  // Work enqueued on this stream between begin_capture() and end_capture() is recorded, not
  // run. Capture is thread-local: only this thread's unsafe calls (allocations, synchronisation)
  // invalidate it, so other threads keep using the driver freely.
  void begin_capture();
  Graph end_capture();
  // Ends a capture whose recording failed and discards what it recorded, so the stream runs
  // work again. Never throws: it is called on the way out of an error.
  void abandon_capture() noexcept;

private:
  StreamHandle stream_ = nullptr;
};

// An instantiated (executable) graph.
class Graph {
public:
  ~Graph();
  Graph(Graph&& other) noexcept;
  Graph& operator=(Graph&& other) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  void launch(const Stream& stream) const;

private:
  friend class Stream;
  explicit Graph(CUgraphExec_st* exec) noexcept : exec_(exec) {}

  CUgraphExec_st* exec_ = nullptr;
};

// An event: with `timing`, one that records timestamps (cuEventCreate's default flags);
// without, one that only orders streams (CU_EVENT_DISABLE_TIMING, cheaper to record and wait for).
class Event {
public:
  explicit Event(const Device& device, bool timing = true);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void record(const Stream& stream);
  void synchronize() const;

private:
  friend class Stream;
  friend float elapsed_ms(const Event& start, const Event& end);
  CUevent_st* event_ = nullptr;
};

// Milliseconds between two recorded events; waits for `end` to complete first.
float elapsed_ms(const Event& start, const Event& end);

}  // namespace resnetc::cuda
