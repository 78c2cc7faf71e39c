#pragma once
// The CUDA emitter: a kernel plan -> one self-contained CUDA C++ translation unit that NVRTC
// and nvcc both accept for sm_90, plus the launches that run the plan on one stream.
//
// Every kernel is `extern "C" __global__` with `__launch_bounds__`, every shape a compile-time
// constant (a `static constexpr` member of the kernel's own struct), and its parameters plain
// pointers: `float*` for what it writes, `const float* __restrict__` for what it reads, labels
// `const int*`, a buffer of bf16 activations `unsigned short*` (emit/bf16_storage.cpp), the
// learning rate read from its [1] buffer. Kernels with the same text (the
// repeated blocks of a ResNet stage) are emitted once and launched many times.
//
// Layout is the plan's: NCHW, row-major, each buffer at its byte offset in its memory.
//
// Kernels (compiler/codegen/cuda/emit/, one file per op family): convolutions and fully
// connected layers are implicit GEMMs tiled through shared memory (emit/gemm.cpp: 128x64 or
// smaller tiles, TF32 mma.sync or 8x4 / 4x4 FMA register blocks, split-K for the weight
// gradients); a strided convolution's data gradient is split into stride^2 phases, each a dense
// GEMM over its own taps. A conv2d with `epilogue_stats` (a merged bn_stats) also sums each
// channel's values and squares in double as its epilogue holds the output tile in registers,
// one partial pair per row tile to the workspace, and a small channel reduction per conv turns
// them into mean and variance (under split-K, the splits' sum does both: it is then a channel
// reduction). BatchNorm statistics and gradients are per-channel reductions in double;
// elementwise kernels use float4; pooling gradients gather (no atomics). The passes' kinds
// (emit/fused.cpp, emit/update.cpp): a fused map is an elementwise kernel running its program
// per element; a fused reduction is a channel reduction of its program's results; a grouped
// update is one launch whose blocks are split between the members by compile-time boundaries
// (split into several launches past 512 pointer parameters, 4 KB). Views have no kernel: the
// plan makes them addresses inside their source.
//
// Running a CudaProgram (what a CUDA runtime executor does):
//   1. compile `source` once (NVRTC, sm_90);
//   2. allocate the plan's three memories and `workspace_bytes` of scratch (may be 0);
//   3. for each launch, in order, on one stream: the arguments are, for each entry of
//      `buffers`, the device address base(storage of that buffer) + its offset, or the
//      workspace's address for kWorkspace; grid/block/shared_bytes as given. When
//      `zero_output_first` is set, memset the plan kernel's output buffer to 0 first (no
//      kernel emitted today sets it: no reduction uses atomics).
//
// Determinism: no atomics anywhere. Reductions (BatchNorm statistics and gradients, also in a
// convolution's epilogue, bias gradients, split-K GEMMs, the loss) write per-block partial
// results to the workspace and a second pass sums them in a fixed order, so results are bitwise
// reproducible run to run.
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/plan/kernel_plan.h"

namespace resnetc::codegen::cuda {

// A launch argument that is the workspace, not a plan buffer.
inline constexpr int kWorkspace = -1;

struct CudaLaunch {
  std::string kernel;  // the extern "C" kernel name in CudaProgram::source
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  unsigned shared_bytes = 0;       // dynamic shared memory (static shared memory is in the kernel)
  std::vector<int> buffers;        // one per kernel parameter, in order: a plan buffer index or kWorkspace
  bool zero_output_first = false;  // memset the plan kernel's output to 0 before this launch
  int plan_kernel = -1;            // index of the plan kernel this launch belongs to
};

// One distinct kernel's text in CudaProgram::source.
struct CudaKernelText {
  std::string name;  // the extern "C" kernel
  std::string text;  // its struct and __global__ function
};

struct CudaProgram {
  std::string source;                // one translation unit, no #include: prelude + every kernel's text
  std::string prelude;               // the header comment and the helpers the kernels share
  std::vector<CudaKernelText> kernels;  // the distinct kernels, in source order
  std::vector<CudaLaunch> launches;  // in execution order; a plan kernel may need several
  int64_t workspace_bytes = 0;       // scratch shared by all launches (reused kernel to kernel)
  size_t unique_kernels = 0;         // distinct __global__ functions in `source`
};

struct CudaOptions {
  // TF32 tensor cores (mma.sync.m16n8k8) for convolutions, as PyTorch's cuDNN does by default
  // (torch.backends.cudnn.allow_tf32 = True); off: float32 FMA loops.
  bool tensor_cores = true;
  // The same for fully connected layers; off by default, as PyTorch's matmuls
  // (torch.backends.cuda.matmul.allow_tf32 = False).
  bool tensor_cores_linear = false;
  // Blocks a kernel should have to fill the GPU (2 per SM of an H100): GEMMs with fewer tiles
  // split their K loop, channel reductions split each channel, until they reach it.
  int target_blocks = 264;
  // The least K (multiply-adds per output) one split of a split-K GEMM does, and the least
  // elements one block of a channel reduction sums. Tests lower them to exercise the splits.
  int64_t min_split_k = 256;
  int64_t min_reduce_chunk = 4096;
  // The most blocks an elementwise or pooling kernel launches; its threads loop over the rest
  // (a grid-stride loop). Tests lower it so the loops take several turns.
  int grid_stride_blocks = 2048;
};

// The program as at most `count` translation units of about equal size, each the prelude and a
// share of the kernels (every kernel in exactly one), for NVRTC to compile concurrently: one
// NVRTC compile is single-threaded.
struct CudaUnit {
  std::string source;
  std::vector<std::string> kernels;  // the names it defines
};
std::vector<CudaUnit> split_units(const CudaProgram& program, size_t count);

// The options a plan of `precision` runs with on a GPU (docs/precision.md): fp32 turns the TF32
// tensor cores off (float32 FMA throughout); tf32 and bf16 keep TF32 for the convolutions that do
// not take bf16. Fully connected layers stay off TF32 in every precision, as PyTorch's matmuls.
CudaOptions options_for_precision(plan::Precision precision);

// Throws std::invalid_argument for a kernel it cannot generate (an op kind or dtype it does
// not know), naming the kernel.
CudaProgram emit_cuda(const plan::KernelPlan& plan, const CudaOptions& options = {});

}  // namespace resnetc::codegen::cuda
