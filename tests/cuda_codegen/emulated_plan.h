#pragma once
// Runs the CUDA emitter's output on the host under emulation (tests/cuda_codegen/emulation.h)
// and compares it with the double-precision reference executor.
//
// The generated source is compiled with the host C++ compiler into a shared object (cached
// under the build directory by a hash of the source, the emulation header and the flags) and
// loaded with dlopen. Every plan buffer and the workspace get their own allocation, placed
// against a PROT_NONE guard page with a canary in the slack, so a kernel that reads or writes
// out of bounds faults or fails the canary check; the arena and the workspace are filled with
// NaN before the run, so an element a kernel forgets to write fails the comparison.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/ir/graph.h"
#include "compiler/plan/kernel_plan.h"

namespace resnetc::testing {

// A compiled and loaded generated translation unit.
class EmulatedModule {
 public:
  explicit EmulatedModule(const std::string& source);  // throws std::runtime_error with the compiler's output
  ~EmulatedModule();
  EmulatedModule(const EmulatedModule&) = delete;
  EmulatedModule& operator=(const EmulatedModule&) = delete;

  // Runs kernel `name` over the grid; throws std::runtime_error with the emulator's message.
  void launch(const std::string& name, const unsigned grid[3], const unsigned block[3], void* const* args) const;

  double compile_seconds() const { return compile_seconds_; }

 private:
  void* handle_ = nullptr;
  void* launcher_ = nullptr;
  double compile_seconds_ = 0;
};

// Memory with a guard page right after the last 64-byte line of the data (and one before it).
class GuardedBuffer {
 public:
  explicit GuardedBuffer(int64_t bytes);
  ~GuardedBuffer();
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;
  void* data() const { return data_; }
  int64_t bytes() const { return bytes_; }
  bool canary_intact() const;

 private:
  char* map_ = nullptr;
  size_t map_bytes_ = 0;
  char* data_ = nullptr;
  int64_t bytes_ = 0, slack_ = 0;
};

// A plan's CUDA program compiled under emulation, every buffer and the workspace in guarded
// memory of their own: the arena and the workspace filled with NaN (a bf16 buffer with bf16
// NaNs), the rest zero until set.
class EmulatedPlan {
 public:
  EmulatedPlan(plan::KernelPlan plan, const codegen::cuda::CudaOptions& options);

  const plan::KernelPlan& plan() const { return plan_; }
  const codegen::cuda::CudaProgram& program() const { return program_; }
  double compile_seconds() const { return module_.compile_seconds(); }
  // The buffer's memory (a view's is inside its source's).
  char* address(int buffer) const;
  std::span<float> floats(int buffer) const;  // a float32 buffer's elements
  // The elements as float: a bf16 buffer's widened.
  std::vector<float> values(int buffer) const;
  // Every launch, in order; throws std::runtime_error naming the plan kernel.
  void run() const;
  // The launches of plan kernel `kernel` alone.
  void run_kernel(int kernel) const;
  bool canary_intact(int buffer) const { return memory_[static_cast<size_t>(buffer)]->canary_intact(); }
  bool workspace_intact() const { return workspace_.canary_intact(); }

 private:
  plan::KernelPlan plan_;
  codegen::cuda::CudaProgram program_;
  void launch(const codegen::cuda::CudaLaunch& launch) const;

  EmulatedModule module_;
  std::vector<std::unique_ptr<GuardedBuffer>> memory_;
  GuardedBuffer workspace_;
};

struct EmulationOptions {
  unsigned seed = 1;
  double tolerance = 1e-4;
  float input_scale = 1.0f;
  bool quantize_inputs = false;  // inputs on a grid of 0.25: many exact ties (maxpool's tie rule)
  bool positive_inputs = false;  // from [0.1, 0.1 + scale]: a zeroed element always shows
  bool batchnorm_near_identity = false;  // BatchNorm weights and biases as tests/batchnorm_draw.h says
  // What `--precision fp32` runs on a GPU: float32 FMA, no tensor cores.
  codegen::cuda::CudaOptions cuda = codegen::cuda::options_for_precision(plan::Precision::Fp32);
  plan::Precision precision = plan::Precision::Fp32;  // the plan's: Bf16 puts the GEMMs on bf16 mma.sync
};

struct EmulationMismatch {
  std::string value;  // the buffer's name
  double error;       // max |emulated - reference| / max(max |reference|, 1e-6); inf when not finite
};

struct EmulationResult {
  std::vector<EmulationMismatch> mismatches;  // values beyond the tolerance, and broken canaries
  std::string worst_value;                    // the value with the largest relative error, and that error
  double worst_error = 0;
  size_t launches = 0, unique_kernels = 0;
  double compile_seconds = 0, run_seconds = 0;
  std::string describe() const;
  bool ok() const { return mismatches.empty(); }
};

// Emits the graph's plan, runs it under emulation and the reference executor on the same
// random inputs, and compares every value the kernels produce or update.
EmulationResult compare_emulated(const ir::Graph& graph, const EmulationOptions& options = {});

}  // namespace resnetc::testing
