// Every generated kernel of every example compiles with NVRTC for sm_90 (no GPU needed): no
// error, no warning, and no local memory (spills, stack frames) in ptxas's report.
//
// Each example's training plan at batch 2 with TF32 tensor cores (the GPU default) and its
// forward plan; the seed's ResNet (TF32) and the small network (FMA GEMMs, TF32 fully connected
// layers) also at the batch size of their recipes (256, 128), where the big GEMMs take the
// largest tiles; and the conformance cases (tests/conformance). A kernel whose text (its name aside)
// was compiled already, for an earlier program, is not compiled again: each program contributes
// one translation unit of its prelude and its new kernels (at batch 2, ResNet-34's training plan
// adds nothing to ResNet-18's, ResNet-101's and -152's nothing to ResNet-50's). The units are
// compiled concurrently, one per thread. The bf16 training plans' GEMMs (bf16 mma.sync) and
// the kernels on their bf16 activations are compiled by a test case of their own.
#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "compiler/autodiff/training_graph.h"
#include "compiler/passes/pass.h"
#include "backends/cuda/batch_kernels.h"
#include "backends/cuda/view_kernels.h"
#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/plan/kernel_plan.h"
#include "dsl/frontend.h"
#include "runtime/cuda/nvrtc.h"
#include "runtime/cuda/parallel_compile.h"
#include "runtime/cuda/ptxas_info.h"
#include "tests/conformance/merge.h"

using namespace resnetc;
namespace fs = std::filesystem;

namespace {

struct Candidate {
  std::string name;
  codegen::cuda::CudaProgram program;
};

struct Unit {
  std::string name;
  std::string source;  // a program's prelude and the kernels no earlier unit compiled
  size_t kernels = 0;
};

std::set<std::string> kernel_names(const std::string& source) {
  std::set<std::string> names;
  const std::string tag = "extern \"C\" __global__ void __launch_bounds__(";
  for (size_t at = source.find(tag); at != std::string::npos; at = source.find(tag, at + 1)) {
    const size_t start = source.find(") ", at) + 2;
    names.insert(source.substr(start, source.find('(', start) - start));
  }
  return names;
}

// The kernels of a program, without their names and the comments naming their users.
std::set<std::string> kernel_texts(const std::string& source) {
  std::set<std::string> texts;
  for (size_t at = source.find("\nstruct "); at != std::string::npos; at = source.find("\nstruct ", at + 1)) {
    const size_t body = source.find('\n', at + 1);
    texts.insert(source.substr(body, source.find("\n};\n", at) - body));
  }
  return texts;
}

// Each unit's NVRTC log: no warning, and every kernel an entry (helpers inlined) without local
// memory. Returns the kernels compiled.
size_t check_compiled(const std::vector<Unit>& units, const std::vector<cuda::CompileResult>& results) {
  size_t kernels = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    const Unit& u = units[i];
    const std::string& log = results[i].log;
    INFO(u.name);
    std::string lower = log;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    INFO(log.substr(0, 4000));
    CHECK(lower.find("warning") == std::string::npos);
    const std::vector<cuda::FunctionResources> functions = cuda::parse_ptxas_info(log);
    const std::set<std::string> names = kernel_names(u.source);
    size_t entries = 0;
    for (const cuda::FunctionResources& f : functions) {
      INFO(f.name << ": " << f.stack_frame_bytes << " bytes stack frame, " << f.spill_store_bytes
                  << " bytes spill stores, " << f.spill_load_bytes << " bytes spill loads, " << f.lmem_bytes
                  << " bytes lmem");
      CHECK_FALSE(f.uses_local_memory());
      CHECK(f.entry);  // every helper is inlined
      entries += f.entry;
      CHECK(names.count(f.name) == 1);
    }
    CHECK(entries == u.kernels);
    CHECK(names.size() == u.kernels);
    kernels += entries;
  }
  return kernels;
}

// Every unit compiled by NVRTC for sm_90 at once, then checked (check_compiled): the kernels
// compiled, and the seconds NVRTC took.
std::pair<size_t, double> compile_and_check(const std::vector<Unit>& units) {
  std::vector<cuda::CompileRequest> requests;
  for (const Unit& u : units)
    requests.push_back({.name = u.name + ".cu", .source = u.source, .arch = "sm_90", .ptxas_verbose = true});
  const auto start = std::chrono::steady_clock::now();
  std::vector<cuda::CompileResult> results;
  try {
    results = cuda::compile_all_cached(requests, cuda::CacheOptions{.dir = {}, .enabled = false});
  } catch (const cuda::CudaError& e) {
    FAIL(e.what());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {check_compiled(units, results), seconds};
}

// examples/*.net, sorted.
std::vector<fs::path> example_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(RESNETC_SOURCE_DIR) / "examples"))
    if (entry.path().extension() == ".net") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 8);
  return files;
}

}  // namespace

TEST_CASE("every kernel of every example compiles with NVRTC for sm_90 without warnings or spills",
          "[cuda][nvrtc][examples]") {
  const std::vector<fs::path> files = example_files();

  codegen::cuda::CudaOptions tc;  // the GPU defaults: TF32 convolutions
  codegen::cuda::CudaOptions fma;
  fma.tensor_cores = false;
  fma.tensor_cores_linear = true;

  std::vector<Candidate> candidates;
  // The conformance cases first (tests/conformance): every kernel kind on odd shapes, the GEMMs
  // with TF32 and with FMA. Not the large ones: sized for the CPU's threads, their kernels are the
  // small cases' with other constants, and the examples below take the largest tiles.
  for (const testing::conformance::Group& group : testing::conformance::merged_groups(testing::conformance::cases())) {
    if (group.large) continue;
    const plan::KernelPlan plan = plan::make_plan(group.graph);
    candidates.push_back({group.graph.name, codegen::cuda::emit_cuda(plan, tc)});
    if (group.gemm) candidates.push_back({group.graph.name + ".fma", codegen::cuda::emit_cuda(plan, fma)});
  }
  for (const fs::path& file : files) {
    dsl::SourceManager sources;
    const dsl::CompiledNetwork net = dsl::compile_file(sources, file, {std::nullopt, 2});
    const std::string stem = file.stem().string();
    // Every example as it runs by default (-O2: fused and grouped kernels, buffers reused); the
    // conformance cases above hold every unfused kernel kind.
    const plan::KernelPlan train_plan =
        passes::optimized_plan(autodiff::make_training_graph(net.graph, {0.9, 5e-4}), passes::at_level(2));
    candidates.push_back({stem + ".train", codegen::cuda::emit_cuda(train_plan, tc)});
    candidates.push_back(
        {stem + ".forward", codegen::cuda::emit_cuda(passes::optimized_plan(net.graph, passes::at_level(2)), tc)});
    if (stem == "d2l-resnet18" || stem == "small-fashion") {
      // At the batch size of the network's recipe, where the big GEMMs take the 128x64 tiles:
      // the seed's ResNet with tensor cores, the small network with FMA.
      const int64_t batch = net.training.batch.value_or(stem == "d2l-resnet18" ? 256 : 128);
      const dsl::CompiledNetwork full = dsl::compile_file(sources, file, {std::nullopt, batch});
      for (int level : {0, 2}) {
        const plan::KernelPlan plan =
            passes::optimized_plan(autodiff::make_training_graph(full.graph, {0.9, 5e-4}), passes::at_level(level));
        candidates.push_back({fmt::format("{}.train.batch{}.O{}{}", stem, batch, level, stem == "small-fashion" ? ".fma" : ""),
                              codegen::cuda::emit_cuda(plan, stem == "small-fashion" ? fma : tc)});
      }
    }
  }
  std::vector<Unit> units;
  std::set<std::string> compiled;
  std::string skipped;
  for (const Candidate& c : candidates) {
    REQUIRE(kernel_texts(c.program.source).size() == c.program.unique_kernels);
    Unit u{c.name, c.program.prelude, 0};
    for (const codegen::cuda::CudaKernelText& k : c.program.kernels) {
      const std::set<std::string> text = kernel_texts("\n" + k.text);
      REQUIRE(text.size() == 1);
      if (!compiled.insert(*text.begin()).second) continue;
      u.source += k.text;
      ++u.kernels;
    }
    if (u.kernels == 0)
      skipped += " " + c.name;
    else
      units.push_back(std::move(u));
  }

  const auto [kernels, seconds] = compile_and_check(units);
  WARN(fmt::format("NVRTC compiled {} translation units, {} kernels, in {:.1f} s; nothing new in:{}", units.size(),
                   kernels, seconds, skipped));
}

TEST_CASE("every bf16 GEMM and every kernel on bf16 activations of every example's bf16 training plan compiles "
          "with NVRTC for sm_90 without spills",
          "[cuda][nvrtc][examples][bf16]") {
  // A bf16 plan's program differs from the TF32 one's only in the convolutions' GEMMs and the
  // fully connected layers' forward and data-gradient GEMMs (bf16 mma.sync), and in the kernels
  // that read or write its activations stored in bf16 (plan/storage_precision.h's rule);
  // its other kernels are the TF32 program's, which the test above compiles. Each example's
  // training plan at batch 2; the seed's ResNet also at its recipe's batch, where the big GEMMs
  // take the 128x64 tiles. (The bf16 GEMMs on odd shapes, every tile and K split, run under
  // emulation: test_emulated_bf16.cpp; the kernels on bf16 activations: test_emulated_bf16_storage.cpp.)
  using plan::Precision;
  std::vector<std::pair<std::string, plan::KernelPlan>> plans;  // bf16 plans
  const std::vector<fs::path> files = example_files();
  passes::PipelineOptions bf16 = passes::at_level(2);
  bf16.precision = Precision::Bf16;
  bf16.bf16_activations = true;
  for (const fs::path& file : files) {
    dsl::SourceManager sources;
    const std::string stem = file.stem().string();
    std::vector<int64_t> batches{2};
    if (stem == "d2l-resnet18") batches.push_back(256);
    for (int64_t batch : batches) {
      const dsl::CompiledNetwork net = dsl::compile_file(sources, file, {std::nullopt, batch});
      plans.emplace_back(fmt::format("{}.train.batch{}.bf16", stem, batch),
                         passes::optimized_plan(autodiff::make_training_graph(net.graph, {0.9, 5e-4}), bf16));
    }
  }
  std::vector<Unit> units;
  std::set<std::string> compiled;
  size_t gemms = 0, on_bf16 = 0;
  for (auto& [name, bf_plan] : plans) {
    INFO(name);
    const codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(bf_plan);
    plan::KernelPlan tf32_plan = bf_plan;
    tf32_plan.precision = Precision::Fp32;
    for (plan::Kernel& k : tf32_plan.kernels) k.operands = Precision::Fp32;
    const std::set<std::string> tf32_texts = kernel_texts(codegen::cuda::emit_cuda(tf32_plan).source);
    Unit u{name, program.prelude, 0};
    for (const codegen::cuda::CudaKernelText& k : program.kernels) {
      const std::string text = *kernel_texts("\n" + k.text).begin();
      const bool bf16_storage = k.text.find("unsigned short* __restrict__") != std::string::npos;
      if (k.text.find("rc_mma_bf16(") == std::string::npos && !bf16_storage) {
        CHECK(tf32_texts.count(text) == 1);  // compiled by the test above
        continue;
      }
      if (k.text.find("rc_mma_bf16(") != std::string::npos) ++gemms;
      if (bf16_storage) ++on_bf16;
      if (!compiled.insert(text).second) continue;
      u.source += k.text;
      ++u.kernels;
    }
    if (u.kernels > 0) units.push_back(std::move(u));
  }
  CHECK(gemms > plans.size());
  CHECK(on_bf16 > plans.size());
  const auto [kernels, seconds] = compile_and_check(units);
  WARN(fmt::format("NVRTC compiled {} bf16 GEMM kernels and kernels on bf16 activations in {} translation units in "
                   "{:.1f} s",
                   kernels, units.size(), seconds));
}

TEST_CASE("the batch and shuffle kernels compile with NVRTC for sm_90 without warnings or spills", "[cuda][nvrtc]") {
  // The seed's recipe: Fashion-MNIST's 60000 28x28 training images, batches of 256 at 96x96;
  // and CIFAR's 50000 3x32x32 images, batches of 128 unresized; each also normalized.
  const codegen::cuda::BatchShape shape = GENERATE(
      codegen::cuda::BatchShape{256, 28, 28, 96, 96, 2, 2, 60000},
      codegen::cuda::BatchShape{128, 32, 32, 32, 32, 1, 1, 50000, 3},
      codegen::cuda::BatchShape{256, 28, 28, 96, 96, 2, 2, 60000, 1, {0.2860f}, {0.3530f}},
      codegen::cuda::BatchShape{128, 32, 32, 32, 32, 1, 1, 50000, 3, {0.4914f, 0.4822f, 0.4465f}, {0.247f, 0.243f, 0.261f}});
  INFO(shape.channels << " channels" << (shape.mean.empty() ? "" : ", normalized"));
  cuda::CompileResult result;
  try {
    result = cuda::compile(
        {.name = "batches.cu", .source = codegen::cuda::batch_kernels_source(shape), .arch = "sm_90", .ptxas_verbose = true});
  } catch (const cuda::CudaError& e) {
    FAIL(e.what());
  }
  INFO(result.log.substr(0, 4000));
  CHECK(result.log.find("warning") == std::string::npos);
  const std::vector<cuda::FunctionResources> functions = cuda::parse_ptxas_info(result.log);
  CHECK(functions.size() == 4);
  for (const cuda::FunctionResources& f : functions) {
    INFO(f.name);
    CHECK_FALSE(f.uses_local_memory());
  }
}

TEST_CASE("the augmentation's view kernels compile with NVRTC for sm_90 without warnings or spills",
          "[cuda][nvrtc][augment]") {
  // CIFAR's random crop (pad 4) with its normalization; a random-resized crop of 256x256
  // images to 224x224, tables of the most taps any view needs.
  const codegen::cuda::ViewShape shape = GENERATE(
      codegen::cuda::ViewShape{{128, 32, 32, 32, 32, 1, 1, 50000, 3, {0.4914f, 0.4822f, 0.4465f}, {0.247f, 0.243f, 0.261f}},
                               33},
      codegen::cuda::ViewShape{{256, 256, 256, 224, 224, 5, 5, 100000, 3}, 261});
  cuda::CompileResult result;
  try {
    result = cuda::compile(
        {.name = "views.cu", .source = codegen::cuda::view_kernels_source(shape), .arch = "sm_90", .ptxas_verbose = true});
  } catch (const cuda::CudaError& e) {
    FAIL(e.what());
  }
  INFO(result.log.substr(0, 4000));
  CHECK(result.log.find("warning") == std::string::npos);
  const std::vector<cuda::FunctionResources> functions = cuda::parse_ptxas_info(result.log);
  CHECK(functions.size() == 2);
  for (const cuda::FunctionResources& f : functions) {
    INFO(f.name);
    CHECK_FALSE(f.uses_local_memory());
  }
}

TEST_CASE("kernels over tensors of more than 2^30 elements index with long long and compile cleanly", "[cuda][nvrtc]") {
  // 2048 x 64 x 96 x 96 = 1.2e9 elements: never run, only compiled.
  const char* text = R"(
network huge {
  input 64x96x96
  stem { conv 64 k3 p1; bn; relu; maxpool k3 s2 p1 }
  stage basic 64
  head { avgpool; fc 10 }
})";
  dsl::SourceManager sources;
  const ir::Graph graph = autodiff::make_training_graph(
      dsl::compile_source(sources, "huge.net", text, {std::nullopt, 2048}).graph, {0.9, 5e-4});
  const codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(passes::optimized_plan(graph, passes::at_level(0)));
  CHECK(program.source.find("using I = long long;") != std::string::npos);
  cuda::CompileResult result;
  try {
    result = cuda::compile({.name = "huge.cu", .source = program.source, .arch = "sm_90", .ptxas_verbose = true});
  } catch (const cuda::CudaError& e) {
    FAIL(e.what());
  }
  INFO(result.log.substr(0, 4000));
  CHECK(result.log.find("warning") == std::string::npos);
  const std::vector<cuda::FunctionResources> functions = cuda::parse_ptxas_info(result.log);
  CHECK(functions.size() == program.unique_kernels);
  for (const cuda::FunctionResources& f : functions) {
    INFO(f.name);
    CHECK_FALSE(f.uses_local_memory());
  }
}

TEST_CASE("a program split into translation units defines every kernel once, and each unit compiles",
          "[cuda][nvrtc]") {
  dsl::SourceManager sources;
  const dsl::CompiledNetwork net =
      dsl::compile_file(sources, fs::path(RESNETC_SOURCE_DIR) / "examples" / "small-fashion.net", {std::nullopt, 2});
  const codegen::cuda::CudaProgram program =
      codegen::cuda::emit_cuda(passes::optimized_plan(autodiff::make_training_graph(net.graph, {0.9, 5e-4}),
                                                      passes::at_level(2)));
  REQUIRE(program.kernels.size() == program.unique_kernels);
  CHECK(codegen::cuda::split_units(program, 1).front().source == program.source);
  CHECK(codegen::cuda::split_units(program, 1000).size() == program.kernels.size());  // at most one per kernel

  const std::vector<codegen::cuda::CudaUnit> units = codegen::cuda::split_units(program, 4);
  REQUIRE(units.size() == 4);
  std::multiset<std::string> defined;
  size_t smallest = SIZE_MAX, largest = 0;
  std::vector<cuda::CompileRequest> requests;
  for (size_t i = 0; i < units.size(); ++i) {
    const std::set<std::string> names = kernel_names(units[i].source);
    CHECK(names == std::set<std::string>(units[i].kernels.begin(), units[i].kernels.end()));
    defined.insert(units[i].kernels.begin(), units[i].kernels.end());
    smallest = std::min(smallest, units[i].source.size());
    largest = std::max(largest, units[i].source.size());
    requests.push_back({.name = fmt::format("unit{}.cu", i), .source = units[i].source, .arch = "sm_90",
                        .ptxas_verbose = true});
  }
  CHECK(std::set<std::string>(defined.begin(), defined.end()) == kernel_names(program.source));
  CHECK(defined.size() == program.kernels.size());  // none twice
  CHECK(largest < 2 * smallest);                    // balanced by text
  std::vector<cuda::CompileResult> results;
  try {
    results = cuda::compile_all_cached(requests, cuda::CacheOptions{.dir = {}, .enabled = false});
  } catch (const cuda::CudaError& e) {
    FAIL(e.what());
  }
  for (size_t i = 0; i < units.size(); ++i) {
    INFO("unit " << i << ": " << results[i].log.substr(0, 2000));
    CHECK(results[i].log.find("warning") == std::string::npos);
    CHECK(cuda::parse_ptxas_info(results[i].log).size() == units[i].kernels.size());
  }
}
