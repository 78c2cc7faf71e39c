#pragma once

#include <stdexcept>

namespace resnetc::cuda {

// Every failure of the CUDA layer (no driver, a failed driver call, a failed NVRTC compile) is a
// CudaError, so a caller can fall back to "--device cpu" with a single catch clause.
class CudaError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

}  // namespace resnetc::cuda
