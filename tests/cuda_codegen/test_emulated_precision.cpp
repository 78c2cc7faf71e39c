// What each --precision runs on a GPU (docs/precision.md, "Where each precision runs"), through
// the options the CUDA backend takes from the plan (codegen::cuda::options_for_precision): fp32
// has no tensor cores, tf32 TF32 mma.sync in every convolution GEMM and none in the fully
// connected layers, bf16 bf16 mma.sync in every convolution GEMM and in the fully connected
// layers' forward and data gradient. fp32 and tf32 programs match the reference executor under
// emulation at their own tolerances.
#include <catch2/catch.hpp>

#include <string>

#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/plan/kernel_plan.h"
#include "tests/conformance/graphs.h"
#include "tests/conv_case.h"
#include "tests/cuda_codegen/emulation_test.h"

using namespace resnetc;
using plan::Precision;
using testing::square_conv;
namespace conformance = testing::conformance;

namespace {

bool is_conv(ir::OpKind kind) {
  return kind == ir::OpKind::Conv2d || kind == ir::OpKind::ConvGradInput || kind == ir::OpKind::ConvGradWeight;
}

bool is_linear(ir::OpKind kind) {
  return kind == ir::OpKind::Linear || kind == ir::OpKind::LinearGradInput || kind == ir::OpKind::LinearGradWeight;
}

// Whether a CUDA function that plan kernel `k` launches calls `helper`.
bool launches_call(const codegen::cuda::CudaProgram& program, size_t k, const std::string& helper) {
  for (const codegen::cuda::CudaLaunch& l : program.launches)
    if (l.plan_kernel == static_cast<int>(k))
      for (const codegen::cuda::CudaKernelText& t : program.kernels)
        if (t.name == l.kernel && t.text.find(helper) != std::string::npos) return true;
  return false;
}

struct Expected {
  bool tf32_mma, bf16_mma;
  Precision operands;
};

// The tensor cores each contraction of `graph` runs on, planned and emitted as the CUDA backend
// does for `precision`; `expect` says what a contraction of a kind should get.
template <class Expect>
void check_kernels(const ir::Graph& graph, Precision precision, Expect expect) {
  const plan::KernelPlan p = plan::make_plan(graph, {.precision = precision});
  const codegen::cuda::CudaProgram program =
      codegen::cuda::emit_cuda(p, codegen::cuda::options_for_precision(p.precision));
  if (precision == Precision::Fp32) CHECK(program.source.find("mma.sync") == std::string::npos);
  int contractions = 0;
  for (size_t k = 0; k < p.kernels.size(); ++k) {
    const ir::OpKind kind = p.kernels[k].kind;
    if (!is_conv(kind) && !is_linear(kind)) continue;
    ++contractions;
    const Expected e = expect(kind);
    INFO(plan::precision_name(precision) << ": " << p.kernels[k].name);
    CHECK(launches_call(program, k, "rc_mma_tf32(") == e.tf32_mma);
    CHECK(launches_call(program, k, "rc_mma_bf16(") == e.bf16_mma);
    CHECK(p.kernels[k].operands == e.operands);
  }
  CHECK(contractions == 3);  // forward, input and weight gradients
}

}  // namespace

TEST_CASE("each precision's CUDA program runs its convolutions on the tensor cores it names",
          "[cuda][emulation][precision]") {
  const ir::Graph conv = conformance::conv_all(square_conv({2, 3, 6, 6}, 4, 3, 1, 1));
  check_kernels(conv, Precision::Fp32, [](ir::OpKind) { return Expected{false, false, Precision::Fp32}; });
  check_kernels(conv, Precision::Tf32, [](ir::OpKind) { return Expected{true, false, Precision::Tf32}; });
  check_kernels(conv, Precision::Bf16, [](ir::OpKind) { return Expected{false, true, Precision::Bf16}; });
}

TEST_CASE("fully connected layers stay off TF32 in every precision but bf16", "[cuda][emulation][precision]") {
  const ir::Graph linear = conformance::linear_all(6, 20, 7, true);
  for (Precision p : {Precision::Fp32, Precision::Tf32})
    check_kernels(linear, p, [](ir::OpKind) { return Expected{false, false, Precision::Fp32}; });
  check_kernels(linear, Precision::Bf16, [](ir::OpKind) { return Expected{false, true, Precision::Bf16}; });
}

TEST_CASE("fp32 and tf32 programs of a convolution match the reference under emulation",
          "[cuda][emulation][precision]") {
  const ir::Graph conv = conformance::conv_all(square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true));
  testing::EmulationOptions o;
  SECTION("fp32: float32 FMA, float32's tolerance") {
    o.precision = Precision::Fp32;
    o.cuda = codegen::cuda::options_for_precision(o.precision);
    o.tolerance = 1e-4;
    testing::check_emulated(conv, o);
  }
  SECTION("tf32: TF32's 10-bit mantissa") {
    o.precision = Precision::Tf32;
    o.cuda = codegen::cuda::options_for_precision(o.precision);
    o.tolerance = 1e-2;
    testing::check_emulated(conv, o);
  }
}
