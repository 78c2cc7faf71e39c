#pragma once

// Small kernels shared by the NVRTC and cache tests.

namespace resnetc::cuda::test {

inline constexpr const char* kScaleKernel = R"(extern "C" __global__ void __launch_bounds__(256)
scale(const float* __restrict__ in, float* __restrict__ out, float factor, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    out[i] = in[i] * factor;
  }
}
)";

// A histogram in a local array, written and read at data-dependent indices, cannot live in
// registers: ptxas gives it a stack frame (local memory).
inline constexpr const char* kLocalArrayKernel = R"(extern "C" __global__ void __launch_bounds__(128)
histogram(const float* __restrict__ in, const int* __restrict__ bin, float* __restrict__ out) {
  float table[64];
  for (int k = 0; k < 64; ++k) {
    table[k] = 0.0f;
  }
  for (int k = 0; k < 64; ++k) {
    table[bin[k * 128 + threadIdx.x] & 63] += in[k * 128 + threadIdx.x];
  }
  out[threadIdx.x] = table[bin[threadIdx.x] & 63];
}
)";

// Line 3 lacks its semicolon; NVRTC reports the error on line 4.
inline constexpr const char* kSyntaxErrorKernel = R"(extern "C" __global__ void broken(float* data) {
  // generated code
  float x = data[0]
  data[1] = x * 2.0f;
}
)";

}  // namespace resnetc::cuda::test
