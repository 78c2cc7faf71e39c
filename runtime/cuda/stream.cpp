#include "runtime/cuda/stream.h"

#include <utility>

#include "runtime/cuda/driver_api.h"

namespace resnetc::cuda {

using detail::check;
using detail::driver;

Stream::Stream(const Device& device) {
  device.make_current();
  check(driver().stream_create(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
}

Stream::~Stream() { driver().stream_destroy(stream_); }

void Stream::synchronize() const { check(driver().stream_synchronize(stream_), "cuStreamSynchronize"); }

bool Stream::done() const {
  const CUresult result = driver().stream_query(stream_);
  if (result == CUDA_ERROR_NOT_READY) return false;
  check(result, "cuStreamQuery");
  return true;
}

void Stream::wait(const Event& event) const {
  check(driver().stream_wait_event(stream_, event.event_, CU_EVENT_WAIT_DEFAULT), "cuStreamWaitEvent");
}

void Stream::begin_capture() {
  check(driver().stream_begin_capture(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
}

Graph Stream::end_capture() {
  const auto& api = driver();
  CUgraph graph = nullptr;
  check(api.stream_end_capture(stream_, &graph), "cuStreamEndCapture");
  // The executable graph is independent of the captured one, which is only needed to build it.
  CUgraphExec exec = nullptr;
  CUresult result = api.graph_instantiate(&exec, graph, 0);
  api.graph_destroy(graph);
  check(result, "cuGraphInstantiateWithFlags");
  return Graph(exec);
}

void Stream::abandon_capture() noexcept {
  const auto& api = driver();
  CUgraph graph = nullptr;
  api.stream_end_capture(stream_, &graph);  // fails when the capture was invalidated: nothing to keep either way
  if (graph != nullptr) api.graph_destroy(graph);
}

Graph::~Graph() {
  if (exec_ != nullptr) {
    driver().graph_exec_destroy(exec_);
  }
}

Graph::Graph(Graph&& other) noexcept : exec_(std::exchange(other.exec_, nullptr)) {}

Graph& Graph::operator=(Graph&& other) noexcept {
  if (this != &other) {
    if (exec_ != nullptr) {
      driver().graph_exec_destroy(exec_);
    }
    exec_ = std::exchange(other.exec_, nullptr);
  }
  return *this;
}

void Graph::launch(const Stream& stream) const { check(driver().graph_launch(exec_, stream.get()), "cuGraphLaunch"); }

Event::Event(const Device& device, bool timing) {
  device.make_current();
  check(driver().event_create(&event_, timing ? CU_EVENT_DEFAULT : CU_EVENT_DISABLE_TIMING), "cuEventCreate");
}

Event::~Event() { driver().event_destroy(event_); }

void Event::record(const Stream& stream) { check(driver().event_record(event_, stream.get()), "cuEventRecord"); }

void Event::synchronize() const { check(driver().event_synchronize(event_), "cuEventSynchronize"); }

float elapsed_ms(const Event& start, const Event& end) {
  end.synchronize();
  float ms = 0.0f;
  check(driver().event_elapsed_time(&ms, start.event_, end.event_), "cuEventElapsedTime");
  return ms;
}

}  // namespace resnetc::cuda
