#include <catch2/catch.hpp>

#include "runtime/cuda/driver_api.h"

using namespace resnetc::cuda;

// RESNETC_CUDA_DRIVER_STUB is the toolkit's stubs/libcuda.so (see CMakeLists.txt).
TEST_CASE("every driver entry point resolves, by its versioned name", "[cuda][driver]") {
  detail::DriverApi api = detail::load_driver_api(RESNETC_CUDA_DRIVER_STUB);
  CHECK(api.mem_alloc != nullptr);
  CHECK(api.event_elapsed_time != nullptr);
  CHECK(api.graph_instantiate != nullptr);
  // The stub implements nothing: every call fails, and the failure is described, not crashed on.
  const CUresult result = api.init(0);
  CHECK(result != CUDA_SUCCESS);
  CHECK_FALSE(detail::describe_result(api, result).empty());
}
