#pragma once
// The CUDA kernels of synchronized BatchNorm on GPU ranks (docs/distributed.md, "Synchronized
// BatchNorm"): around NCCL's sum of a BatchNorm's [2, C] rows across the ranks, they do on the GPU
// what the host does around MPI's (train/distributed.cpp), in double with every operation rounded
// on its own (__dmul_rn and friends: no fused multiply-add), as the host computes.
//   rc_sync_bn_contribution(sums, rows, channels, share, forward)
//       sums [2, C] double = this rank's part of the sum: forward (rows: mean, biased variance)
//       share * mean and share * (variance + mean^2), the whole batch's E[x] and E[x^2] once
//       summed; backward (rows: sum(dy * xhat), sum(dy)) share * each
//   rc_sync_bn_rows(rows, sums, channels, forward)
//       rows [2, C] float = the summed rows: forward E[x] and max(E[x^2] - E[x]^2, 0), the
//       whole batch's mean and biased variance; backward the sums as they are
//   rc_sync_bn_unbias(rows, channels, scale)
//       the variance row times `scale`, (n / (n - 1)) / (m / (m - 1)) for n the whole batch's
//       count and m the rank's, so that the running variance's update unbiases with n
// One thread per channel: C is at most a few thousand, and each kernel is a step's few microseconds.
#include <string>

namespace resnetc::codegen::cuda {

inline constexpr unsigned kSyncBnThreads = 128;  // per block; blocks = ceil(C / kSyncBnThreads)

std::string sync_bn_kernels_source();

}  // namespace resnetc::codegen::cuda
