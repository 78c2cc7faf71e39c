// The runtime's own classes (runtime/cuda) on the fake driver, which ctest names in
// RESNETC_CUDA_DRIVER: what only a driver can exercise, without a GPU.
#include <catch2/catch.hpp>

#include "runtime/cuda/driver.h"
#include "runtime/cuda/stream.h"

using namespace resnetc;

TEST_CASE("a capture abandoned after a failure leaves the stream usable") {
  cuda::Device device;
  cuda::Stream stream(device);
  stream.begin_capture();
  // Synchronising a capturing stream is refused and spoils the capture, as a failure while
  // recording the training step would leave it.
  CHECK_THROWS_AS(stream.synchronize(), cuda::CudaError);
  stream.abandon_capture();
  CHECK_NOTHROW(stream.synchronize());
  stream.begin_capture();
  CHECK_NOTHROW(stream.end_capture());
  // Abandoning an intact capture discards it too.
  stream.begin_capture();
  stream.abandon_capture();
  CHECK_NOTHROW(stream.synchronize());
}
