#include "backends/cuda/sync_bn_kernels.h"

namespace resnetc::codegen::cuda {

std::string sync_bn_kernels_source() {
  return R"(
extern "C" __global__ void rc_sync_bn_contribution(double* sums, const float* rows, int channels, double share,
                                                   int forward) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= channels) return;
  const double first = rows[k], second = rows[channels + k];
  sums[k] = __dmul_rn(share, first);
  sums[channels + k] = __dmul_rn(share, forward ? __dadd_rn(second, __dmul_rn(first, first)) : second);
}

extern "C" __global__ void rc_sync_bn_rows(float* rows, const double* sums, int channels, int forward) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= channels) return;
  const double first = sums[k], second = sums[channels + k];
  const double variance = __dsub_rn(second, __dmul_rn(first, first));
  rows[k] = (float)first;
  rows[channels + k] = (float)(forward ? (variance > 0.0 ? variance : 0.0) : second);
}

extern "C" __global__ void rc_sync_bn_unbias(float* rows, int channels, double scale) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= channels) return;
  rows[channels + k] = (float)__dmul_rn((double)rows[channels + k], scale);
}

#ifdef RESNETC_CUDA_EMULATION
extern "C" RESNETC_EMU_EXPORT void rc_sync_bn_contribution__emu(void* const* a) {
  rc_sync_bn_contribution(static_cast<double*>(a[0]), static_cast<const float*>(a[1]), *static_cast<const int*>(a[2]),
                          *static_cast<const double*>(a[3]), *static_cast<const int*>(a[4]));
}
extern "C" RESNETC_EMU_EXPORT void rc_sync_bn_rows__emu(void* const* a) {
  rc_sync_bn_rows(static_cast<float*>(a[0]), static_cast<const double*>(a[1]), *static_cast<const int*>(a[2]),
                  *static_cast<const int*>(a[3]));
}
extern "C" RESNETC_EMU_EXPORT void rc_sync_bn_unbias__emu(void* const* a) {
  rc_sync_bn_unbias(static_cast<float*>(a[0]), *static_cast<const int*>(a[1]), *static_cast<const double*>(a[2]));
}
#endif
)";
}

}  // namespace resnetc::codegen::cuda
