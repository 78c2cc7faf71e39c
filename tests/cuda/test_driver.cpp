#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <string>

#include "runtime/cuda/driver.h"
#include "runtime/cuda/driver_api.h"

using namespace resnetc::cuda;

TEST_CASE("a missing driver library gives a clear CudaError", "[cuda][driver]") {
  CHECK_THROWS_AS(detail::load_driver_api("libresnetc-no-such-driver.so.1"), CudaError);
  CHECK_THROWS_WITH(detail::load_driver_api("libresnetc-no-such-driver.so.1"),
                    Catch::StartsWith("no NVIDIA driver found (libresnetc-no-such-driver.so.1 could not be loaded: ") &&
                        Catch::EndsWith("); use --device cpu"));
}

TEST_CASE("without libcuda.so.1, no driver is available and Device throws", "[cuda][driver]") {
  // Asked of the dynamic loader directly: this test must not load the driver itself.
  void* libcuda = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
  if (libcuda == nullptr) {
    libcuda = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  }
  if (libcuda != nullptr) {
    WARN("libcuda.so.1 is installed here; test_cuda_gpu covers this machine");
    return;
  }
  CHECK_FALSE(driver_available());
  CHECK_FALSE(driver_available());  // a failed load is retried, and still never throws
  CHECK_THROWS_AS(Device(), CudaError);
  CHECK_THROWS_WITH(Device(0), Catch::Contains("libcuda.so.1 could not be loaded") &&
                                   Catch::Contains("use --device cpu"));
  CHECK_THROWS_AS(device_count(), CudaError);
}
