#include "runtime/cuda/nvrtc.h"

#include <nvrtc.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/cuda/nvrtc_diagnostics.h"

namespace resnetc::cuda {
namespace {

void check(nvrtcResult result, const char* call) {
  if (result != NVRTC_SUCCESS) {
    throw CudaError(fmt::format("{}: {}", call, nvrtcGetErrorString(result)));
  }
}

// Owns an nvrtcProgram.
class Program {
public:
  explicit Program(const CompileRequest& request) {
    check(nvrtcCreateProgram(&program_, request.source.c_str(), request.name.c_str(), 0, nullptr, nullptr),
          "nvrtcCreateProgram");
  }
  ~Program() { nvrtcDestroyProgram(&program_); }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  nvrtcProgram get() const noexcept { return program_; }

  std::string log() const {
    std::size_t size = 0;
    check(nvrtcGetProgramLogSize(program_, &size), "nvrtcGetProgramLogSize");
    std::string log(size, '\0');
    check(nvrtcGetProgramLog(program_, log.data()), "nvrtcGetProgramLog");
    while (!log.empty() && (log.back() == '\0' || log.back() == '\n')) {
      log.pop_back();  // the size counts the terminating NUL
    }
    return log;
  }

private:
  nvrtcProgram program_ = nullptr;
};

}  // namespace

NvrtcVersion nvrtc_version() {
  NvrtcVersion version;
  check(nvrtcVersion(&version.major, &version.minor), "nvrtcVersion");
  return version;
}

std::vector<std::string> nvrtc_options(const CompileRequest& request) {
  // -default-device: generated helpers need no __device__ annotation.
  std::vector<std::string> options = {"--gpu-architecture=" + request.arch, "-std=c++17", "-default-device"};
  if (request.ptxas_verbose) {
    // Found by experiment with NVRTC 13.0, compiling to a cubin for sm_90: "--ptxas-options=-v"
    // and "-Xptxas=-v" both work, and ptxas's report lands in the program log (the log is
    // otherwise empty on success). Per kernel it reads:
    //   ptxas info    : Compiling entry function 'k' for 'sm_90'
    //   ptxas info    : Function properties for k
    //   ptxas         .     1024 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    //   ptxas info    : Used 32 registers, used 0 barriers, 1024 bytes cumulative stack size
    options.emplace_back("--ptxas-options=-v");
  }
  options.insert(options.end(), request.options.begin(), request.options.end());
  return options;
}

CompileResult compile(const CompileRequest& request) {
  Program program(request);
  const std::vector<std::string> options = nvrtc_options(request);
  std::vector<const char*> argv;
  argv.reserve(options.size());
  for (const std::string& option : options) {
    argv.push_back(option.c_str());
  }

  nvrtcResult result = nvrtcCompileProgram(program.get(), static_cast<int>(argv.size()), argv.data());
  CompileResult compiled{{}, program.log()};
  if (result != NVRTC_SUCCESS) {
    // The options are listed because NVRTC logs nothing for a bad one (NVRTC_ERROR_INVALID_OPTION).
    std::string quoted = quote_error_lines(compiled.log, request.name, request.source);
    std::string message = fmt::format("NVRTC could not compile {} for {} ({}; options: {}):\n{}{}{}", request.name,
                                      request.arch, nvrtcGetErrorString(result), fmt::join(options, " "), quoted,
                                      quoted.empty() ? "" : "NVRTC log:\n", compiled.log);
    throw NvrtcError(message, std::move(compiled.log));
  }

  std::size_t size = 0;
  check(nvrtcGetCUBINSize(program.get(), &size), "nvrtcGetCUBINSize");
  if (size == 0) {
    throw CudaError(fmt::format("NVRTC produced no cubin for {}: {} is not a real GPU architecture (sm_XX)",
                                request.name, request.arch));
  }
  compiled.cubin.resize(size);
  check(nvrtcGetCUBIN(program.get(), reinterpret_cast<char*>(compiled.cubin.data())), "nvrtcGetCUBIN");
  return compiled;
}

}  // namespace resnetc::cuda
