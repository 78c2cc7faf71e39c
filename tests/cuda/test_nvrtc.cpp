#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "runtime/cuda/nvrtc.h"
#include "runtime/cuda/ptxas_info.h"
#include "test_kernels.h"

using namespace resnetc::cuda;

namespace {

bool is_cuda_elf(const std::vector<std::byte>& cubin) {
  constexpr std::uint16_t kMachineCuda = 190;  // EM_CUDA
  if (cubin.size() < 20 || cubin[0] != std::byte{0x7f} || cubin[1] != std::byte{'E'} || cubin[2] != std::byte{'L'} ||
      cubin[3] != std::byte{'F'}) {
    return false;
  }
  const auto machine = static_cast<std::uint16_t>(std::to_integer<unsigned>(cubin[18]) |
                                                  std::to_integer<unsigned>(cubin[19]) << 8);
  return machine == kMachineCuda;
}

}  // namespace

TEST_CASE("nvrtc version is CUDA 12 or newer", "[cuda][nvrtc]") { CHECK(nvrtc_version().major >= 12); }

TEST_CASE("nvrtc compiles a kernel to an sm_90 cubin", "[cuda][nvrtc]") {
  CompileRequest request{.name = "scale.cu", .source = test::kScaleKernel, .arch = "sm_90"};
  const auto start = std::chrono::steady_clock::now();
  CompileResult result = compile(request);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  WARN("NVRTC compiled scale.cu for sm_90 in " << ms << " ms");
  CHECK(is_cuda_elf(result.cubin));
  CHECK(result.log.find("error") == std::string::npos);
}

TEST_CASE("nvrtc options: defaults first, then the caller's", "[cuda][nvrtc]") {
  CompileRequest request{.arch = "sm_80", .options = {"--use_fast_math"}, .ptxas_verbose = true};
  const std::vector<std::string> options = nvrtc_options(request);
  REQUIRE(options.size() == 5);
  CHECK(options[0] == "--gpu-architecture=sm_80");
  CHECK(std::ranges::count(options, "-std=c++17") == 1);
  CHECK(std::ranges::count(options, "-default-device") == 1);
  CHECK(std::ranges::count(options, "--ptxas-options=-v") == 1);
  CHECK(options.back() == "--use_fast_math");
  CHECK(std::ranges::count(nvrtc_options(CompileRequest{}), "--use_fast_math") == 0);
}

TEST_CASE("a syntax error throws with the log and the offending source line", "[cuda][nvrtc]") {
  CompileRequest request{.name = "plan_unit_0.cu", .source = test::kSyntaxErrorKernel};
  try {
    compile(request);
    FAIL("compile() accepted a syntax error");
  } catch (const NvrtcError& e) {
    const std::string message = e.what();
    INFO(message);
    CHECK(e.log().find("plan_unit_0.cu(4): error") != std::string::npos);
    CHECK(message.find("plan_unit_0.cu(4): error") != std::string::npos);
    CHECK(message.find("> 4 |   data[1] = x * 2.0f;") != std::string::npos);
    CHECK(message.find("  3 |   float x = data[0]") != std::string::npos);
    CHECK(message.find("sm_90") != std::string::npos);
  }
}

TEST_CASE("an unknown option is a compile error naming it", "[cuda][nvrtc]") {
  CompileRequest request{.source = test::kScaleKernel, .options = {"--no-such-option"}};
  CHECK_THROWS_AS(compile(request), NvrtcError);
  CHECK_THROWS_WITH(compile(request), Catch::Contains("--no-such-option"));
}

TEST_CASE("a virtual architecture is rejected: the runtime loads cubins only", "[cuda][nvrtc]") {
  CompileRequest request{.source = test::kScaleKernel, .arch = "compute_90"};
  CHECK_THROWS_AS(compile(request), CudaError);
}

TEST_CASE("ptxas info flags local memory and passes a clean kernel", "[cuda][nvrtc][ptxas]") {
  CompileRequest request{.name = "two.cu",
                         .source = std::string(test::kScaleKernel) + test::kLocalArrayKernel,
                         .ptxas_verbose = true};
  CompileResult result = compile(request);
  INFO(result.log);
  const std::vector<FunctionResources> functions = parse_ptxas_info(result.log);
  REQUIRE(functions.size() == 2);
  for (const FunctionResources& f : functions) {
    CHECK(f.entry);
    CHECK(f.registers > 0);
    if (f.name == "histogram") {
      CHECK(f.uses_local_memory());
      CHECK(f.stack_frame_bytes >= 64 * sizeof(float));
    } else {
      CHECK(f.name == "scale");
      CHECK_FALSE(f.uses_local_memory());
    }
  }
}

TEST_CASE("without ptxas_verbose a clean compile has no ptxas info", "[cuda][nvrtc][ptxas]") {
  CompileResult result = compile(CompileRequest{.source = test::kScaleKernel});
  CHECK(parse_ptxas_info(result.log).empty());
}
