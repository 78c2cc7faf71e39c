#pragma once

// CUDA C++ source -> cubin with NVRTC (linked directly: libnvrtc needs no GPU or driver).

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "runtime/cuda/error.h"

namespace resnetc::cuda {

struct CompileRequest {
  std::string name = "resnetc.cu";  // program name; NVRTC's diagnostics refer to it
  std::string source{};
  std::string arch = "sm_90";  // Device::arch(), or e.g. "sm_90a" for Hopper-only instructions
  // Extra NVRTC options, after the defaults. IEEE float semantics are the default: pass
  // "--use_fast_math" here to give them up.
  std::vector<std::string> options{};
  // Ask ptxas for per-kernel resource usage (registers, stack, spills) in the log; parse it
  // with parse_ptxas_info().
  bool ptxas_verbose = false;
};

struct CompileResult {
  std::vector<std::byte> cubin;
  std::string log;  // NVRTC's log, warnings and ptxas info included; often empty
};

// NVRTC refused the CUDA source: what() holds the log and the offending source lines with
// context. Not ir::CompileError, which is an error in the user's network.
class NvrtcError : public CudaError {
public:
  NvrtcError(const std::string& message, std::string log) : CudaError(message), log_(std::move(log)) {}
  const std::string& log() const noexcept { return log_; }

private:
  std::string log_;
};

struct NvrtcVersion {
  int major = 0;
  int minor = 0;
};

NvrtcVersion nvrtc_version();

// Every option passed to NVRTC for `request`, defaults first; the compile cache hashes these.
std::vector<std::string> nvrtc_options(const CompileRequest& request);

// Compiles to a cubin for request.arch; throws NvrtcError on a compile error and CudaError
// on any other NVRTC failure.
CompileResult compile(const CompileRequest& request);

}  // namespace resnetc::cuda
