// bf16 contractions on the CPU backend (plan::Precision::Bf16, docs/precision.md): each GEMM
// kernel on the window GEMM against the reference executor in double (tests/bf16_bounds.h, the
// check every backend shares), twice:
//  * on the operands rounded to bfloat16 here (round to nearest even, as c10::BFloat16), where
//    only float32 accumulation separates them: |y - ref(bf16(a), bf16(b))| <= (K + 2) 2^-23 S;
//  * on the exact operands, at bf16's bound: each operand is off by at most 2^-8 relative (8
//    significant bits: half an ulp is 2^-8 of the power of two below), a product by 2^-7 + 2^-16, so
//        |y - ref(a, b)| <= (2^-7 + 2^-16 + (K + 2) 2^-23) S,
//    with S = Σ_k |a_k| |b_k| (+ |bias|) computed by the reference on |a|, |b|, K the
//    reduction length.
// Half the operands are exact ties between two bfloat16 values, so a rounding that is not to
// nearest even (truncation, ties away) breaks the first bound by far. Shapes divide no tile
// (13 rows, 75 columns, odd K), with groups, strides and a bias; a conv's epilogue statistics
// are those of its bf16 output.
#include <catch2/catch.hpp>

#include <llvm/ADT/StringMap.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Host.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "backends/cpu/cpu_precision.h"
#include "backends/cpu/cpu_program.h"
#include "backends/cpu/plan_runner.h"
#include "compiler/codegen/llvm/kernel_emitter.h"
#include "tests/bf16_bounds.h"
#include "tests/backend/kernel_harness.h"
#include "tests/conformance/graphs.h"
#include "tests/conv_case.h"

using namespace resnetc;
using testing::square_conv;
namespace conformance = testing::conformance;

namespace {

// The graph's one contraction, with reduction length K, in bf16 against the two bounds, with
// the window GEMM's formulation `path` forced (RESNETC_CONV_PATH, read when kernels are emitted).
void check_path(const ir::Graph& graph, int64_t K, const char* path) {
  INFO("RESNETC_CONV_PATH=" << path);
  const plan::KernelPlan plan = plan::make_plan(graph, {.reuse_memory = false, .precision = plan::Precision::Bf16});
  REQUIRE(plan.kernels.size() == 1);
  const plan::Kernel& kernel = plan.kernels[0];
  REQUIRE(kernel.operands == plan::Precision::Bf16);
  setenv("RESNETC_CONV_PATH", path, 1);
  cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(testing::test_jit(), plan, cpu::ThreadPool::global()),
                         cpu::ThreadPool::global());
  unsetenv("RESNETC_CONV_PATH");
  testing::check_bf16_bounds(graph, plan, K,
                             {.write = [&](int buffer, std::span<const float> values) {
                                std::span<float> to = runner.buffer(buffer);
                                std::copy(values.begin(), values.end(), to.begin());
                              },
                              .run = [&] {
                                runner.poison_arena();
                                runner.run();
                              },
                              .read = [&](int buffer) {
                                const std::span<float> from = runner.buffer(buffer);
                                return std::vector<float>(from.begin(), from.end());
                              }});
}

// Every formulation: AMX tiles (where the shape and the host allow; else the default choice),
// rows in lanes (direct, bf16 pairs of the image operand made once per call) and columns in
// lanes (im2col, the packed panels converted).
void check(const ir::Graph& graph, int64_t K) {
  for (const char* path : {"amx", "direct", "im2col"}) check_path(graph, K, path);
}

// Whether the graph's one kernel, emitted under bf16, runs on AMX tiles (its image operand's
// planes are packed by a function of its own, named *.amxb).
bool emits_amx(const ir::Graph& graph) {
  const plan::KernelPlan plan = plan::make_plan(graph, {.reuse_memory = false, .precision = plan::Precision::Bf16});
  llvm::LLVMContext context;
  llvm::Module module("amx", context);
  codegen::llvm_backend::emit_kernel(module, plan, 0, "k", {});
  return std::any_of(module.begin(), module.end(), [](const llvm::Function& f) { return f.getName().contains(".amxb"); });
}

// check(), on a shape AMX tiles must take where the host has them.
void check_amx(const ir::Graph& graph, int64_t K) {
  if (testing::host_has_amx()) REQUIRE(emits_amx(graph));
  check(graph, K);
}

}  // namespace

TEST_CASE("a bf16 plan puts every convolution's operands in bf16, weight gradient included", "[backend][bf16]") {
  const plan::KernelPlan plan =
      plan::make_plan(conformance::conv_all(square_conv({2, 3, 6, 6}, 4, 3, 1, 1)), {.precision = plan::Precision::Bf16});
  CHECK(plan.precision == plan::Precision::Bf16);
  for (const plan::Kernel& k : plan.kernels) {
    INFO(k.name);
    CHECK(k.operands == plan::Precision::Bf16);
  }
  CHECK_THAT(plan::print_plan(plan), Catch::Contains("bf16 operands"));
  CHECK_THAT(plan::print_plan(plan::make_plan(conformance::conv_all(square_conv({2, 3, 6, 6}, 4, 3, 1, 1)))),
             !Catch::Contains("operands"));
}

TEST_CASE("the CPU refuses bf16 without avx512_bf16 and tf32 always, naming why", "[backend][bf16]") {
  using codegen::llvm_backend::cpu_precision_refusal;
  llvm::StringMap<bool> zen3;
  zen3["avx2"] = true;
  zen3["avx512f"] = false;
  CHECK_THAT(cpu_precision_refusal(plan::Precision::Bf16, zen3).value_or(""), Catch::Contains("lacks avx512_bf16"));
  llvm::StringMap<bool> zen4 = zen3;
  zen4["avx512f"] = zen4["avx512bf16"] = true;
  CHECK_FALSE(cpu_precision_refusal(plan::Precision::Bf16, zen4));
  CHECK_FALSE(cpu_precision_refusal(plan::Precision::Fp32, zen3));
  CHECK_THAT(cpu_precision_refusal(plan::Precision::Tf32, zen4).value_or(""), Catch::Contains("the CPU has none"));
}

TEST_CASE("bf16 convolutions and fully connected layers match the reference at bf16's bound", "[backend][bf16]") {
  if (!testing::host_has_bf16()) {
    WARN("not run: this CPU lacks avx512_bf16");
    return;
  }
  SECTION("conv2d 3x3 stride 2, bias, odd K") { check(conformance::conv_forward(square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true)), 45); }
  SECTION("conv2d grouped") { check(conformance::conv_forward(square_conv({2, 8, 7, 7}, 12, 3, 1, 1, 2)), 36); }
  SECTION("conv2d 1x1 stride 2") { check(conformance::conv_forward(square_conv({2, 24, 8, 8}, 40, 1, 2, 0)), 24); }
  SECTION("conv2d 7x7 stride 2") { check(conformance::conv_forward(square_conv({2, 3, 19, 19}, 9, 7, 2, 3)), 147); }
  SECTION("conv2d_grad_input stride 2") { check(conformance::conv_grad_input(square_conv({3, 5, 9, 9}, 13, 3, 2, 1)), 117); }
  SECTION("conv2d_grad_input grouped") { check(conformance::conv_grad_input(square_conv({2, 8, 7, 7}, 12, 3, 1, 1, 2)), 54); }
  SECTION("conv2d with BatchNorm statistics in its epilogue") {
    check(conformance::conv_stats(square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true)), 45);
  }
  // Shapes AMX tiles take (stride 1, rows a multiple of 32): kc padded to whole 32-k blocks
  // (40 channels), taps over padding on every side, 9x9 maps (positions past a row dropped).
  SECTION("conv2d 3x3 stride 1 on 32-row tiles, bias, statistics") {
    check(conformance::conv_stats(square_conv({3, 40, 9, 9}, 64, 3, 1, 1, 1, true)), 360);
  }
  SECTION("conv2d 1x1 on 32-row tiles") { check(conformance::conv_forward(square_conv({2, 64, 5, 5}, 32, 1, 1, 0)), 64); }
  SECTION("conv2d_grad_input 3x3 stride 1 on 32-row tiles") {
    check(conformance::conv_grad_input(square_conv({2, 32, 6, 6}, 48, 3, 1, 1)), 432);
  }
  // Strided windows on AMX tiles (one plane per phase of the stride; the input gradient's
  // phases store every second pixel): odd maps, batch 3, padding 0 and 1, kc in no whole
  // 32-k block, the 1x1/2 projections (one phase of four read), a 7x7/2 window, unequal strides.
  SECTION("conv2d 3x3 stride 2 on 32-row tiles, bias, statistics") {
    check_amx(conformance::conv_stats(square_conv({3, 40, 9, 9}, 64, 3, 2, 1, 1, true)), 360);
  }
  SECTION("conv2d 3x3 stride 2 padding 0 on 32-row tiles") {
    check_amx(conformance::conv_forward(square_conv({3, 19, 11, 11}, 32, 3, 2, 0)), 171);
  }
  SECTION("conv2d 1x1 stride 2 on 32-row tiles") {
    check_amx(conformance::conv_forward(square_conv({3, 40, 9, 9}, 64, 1, 2, 0)), 40);
  }
  SECTION("conv2d 7x7 stride 2 on 32-row tiles") {
    check_amx(conformance::conv_forward(square_conv({3, 17, 13, 13}, 32, 7, 2, 3)), 833);
  }
  SECTION("conv2d 3x3 strides 2, 1 on 32-row tiles") {
    check_amx(conformance::conv_forward(testing::ConvCase{{3, 21, 9, 11}, 32, 3, 3, 2, 1, 1, 0}), 189);
  }
  // Few input channels (a stem): the taps join k on AMX.
  SECTION("conv2d 7x7 stride 2 from 1 channel on 32-row tiles, bias, statistics") {
    check_amx(conformance::conv_stats(square_conv({3, 1, 21, 21}, 32, 7, 2, 3, 1, true)), 49);
  }
  SECTION("conv2d 7x7 stride 2 from 3 channels on 32-row tiles") {
    check_amx(conformance::conv_forward(square_conv({3, 3, 17, 15}, 64, 7, 2, 3)), 147);
  }
  SECTION("conv2d 3x3 from 5 channels on 32-row tiles") {
    check_amx(conformance::conv_forward(square_conv({3, 5, 9, 9}, 32, 3, 1, 1)), 45);
  }
  SECTION("conv2d_grad_input 3x3 stride 2 on 32-row tiles") {
    check_amx(conformance::conv_grad_input(square_conv({3, 32, 9, 9}, 48, 3, 2, 1)), 432);
  }
  SECTION("conv2d_grad_input 3x3 stride 2 padding 0 on 32-row tiles") {
    check_amx(conformance::conv_grad_input(square_conv({3, 32, 11, 11}, 17, 3, 2, 0)), 153);
  }
  SECTION("conv2d_grad_input 1x1 stride 2 on 32-row tiles") {
    check_amx(conformance::conv_grad_input(square_conv({3, 64, 9, 9}, 40, 1, 2, 0)), 40);
  }
  // The weights' bf16 copy, 16 kc of a tap at a time: kc ending mid-vector (37, 21, 33), read
  // with gathers (kc strided: 3x3 windows, the input gradient's transposed weights) and with
  // plain loads (1x1: kc contiguous); batch 3, unequal odd map sides.
  SECTION("conv2d 3x3 from 37 channels on 32-row tiles, odd map sides, bias") {
    check_amx(conformance::conv_forward(testing::ConvCase{{3, 37, 5, 7}, 32, 3, 3, 1, 1, 1, 1, 1, true}), 333);
  }
  SECTION("conv2d_grad_input 3x3 to 64 channels from 21 on 32-row tiles, odd map sides") {
    check_amx(conformance::conv_grad_input(testing::ConvCase{{3, 64, 7, 5}, 21, 3, 3, 1, 1, 1, 1}), 189);
  }
  SECTION("conv2d 1x1 from 33 channels on 32-row tiles") {
    check_amx(conformance::conv_forward(square_conv({3, 33, 7, 7}, 32, 1, 1, 0)), 33);
  }
  // Small maps (stage 4 at 96x96): a 32-position block would hold one image's 9 outputs, so
  // the positions of all images are numbered without gaps (blocks spanning images, mid-vector
  // with 9-position images) and each tap gets its own copy of B.
  SECTION("conv2d 3x3 on 3x3 maps, batch 3, on 32-row tiles, bias, statistics") {
    check_amx(conformance::conv_stats(square_conv({3, 40, 3, 3}, 64, 3, 1, 1, 1, true)), 360);
  }
  SECTION("conv2d 3x3 stride 2 from 6x5 to 3x3 maps, batch 5, on 32-row tiles") {
    check_amx(conformance::conv_forward(testing::ConvCase{{5, 33, 6, 5}, 32, 3, 3, 2, 2, 1, 1}), 297);
  }
  SECTION("conv2d_grad_input 3x3 on 3x3 maps, batch 3, on 32-row tiles") {
    check_amx(conformance::conv_grad_input(square_conv({3, 32, 3, 3}, 48, 3, 1, 1)), 432);
  }
  SECTION("conv2d_grad_input 3x3 stride 2 to 5x5 maps, batch 3, on 32-row tiles") {
    check_amx(conformance::conv_grad_input(square_conv({3, 32, 5, 5}, 17, 3, 2, 1)), 153);
  }
  // Weight gradients, K = N*OH*OW. On AMX (one group, 16+ channels each side): 32x32 channel
  // blocks padded (19 and 21, 17 and 33, 129 and 97), odd and unequal map sides (planes of odd
  // width rounded up to pairs), batch 3 (positions spanning images), positions split over
  // items (the dilated 3x3: 3 splits) or walked in chunks (129 x 97), a dilated 3x3, 1x1s, and
  // stride 2 (x split into phases, odd padding). Few channels and groups take the float32
  // kernel on rounded operands; "direct" and "im2col" force that everywhere.
  SECTION("conv2d_grad_weight 3x3 stride 1") { check(conformance::conv_grad_weight(square_conv({3, 19, 9, 7}, 21, 3, 1, 1)), 189); }
  SECTION("conv2d_grad_weight 3x3 stride 1 dilation 2") {
    check(conformance::conv_grad_weight(testing::ConvCase{{3, 17, 15, 13}, 33, 3, 3, 1, 1, 2, 2, 1, false, 2, 2}), 585);
  }
  SECTION("conv2d_grad_weight 20 channel blocks, 2 chunks of positions each") {
    check(conformance::conv_grad_weight(square_conv({3, 129, 13, 13}, 97, 3, 1, 1)), 507);
  }
  SECTION("conv2d_grad_weight 1x1 stride 1") { check(conformance::conv_grad_weight(square_conv({3, 33, 7, 9}, 17, 1, 1, 0)), 189); }
  SECTION("conv2d_grad_weight 3x3 stride 2 on tiles") { check(conformance::conv_grad_weight(square_conv({3, 17, 13, 11}, 19, 3, 2, 1)), 126); }
  SECTION("conv2d_grad_weight 1x1 stride 2 on tiles") { check(conformance::conv_grad_weight(square_conv({3, 33, 9, 11}, 17, 1, 2, 0)), 90); }
  // 3x3 output maps: the planes would be mostly padding, x is gathered per tap instead.
  SECTION("conv2d_grad_weight 3x3 maps, gathered taps") { check(conformance::conv_grad_weight(square_conv({3, 20, 3, 3}, 18, 3, 1, 1)), 27); }
  SECTION("conv2d_grad_weight 3x3 stride 2 to 3x3 maps, gathered taps") {
    check(conformance::conv_grad_weight(square_conv({3, 17, 5, 5}, 19, 3, 2, 1)), 27);
  }
  SECTION("conv2d_grad_weight 3x3 stride 2") { check(conformance::conv_grad_weight(square_conv({3, 5, 9, 9}, 13, 3, 2, 1)), 75); }
  SECTION("conv2d_grad_weight grouped") { check(conformance::conv_grad_weight(square_conv({2, 8, 7, 7}, 12, 3, 1, 1, 2)), 98); }
  SECTION("linear with bias") { check(conformance::linear_forward(11, 37, 19, true), 37); }
  SECTION("linear_grad_input") { check(conformance::linear_grad_input(11, 37, 19), 19); }
  SECTION("linear_grad_weight") { check(conformance::linear_grad_weight(11, 37, 19), 11); }
}
