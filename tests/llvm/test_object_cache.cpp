// The CPU backend's on-disk object cache: a hit loads what a miss compiled (same results, no
// optimizer, no code generator), a damaged entry is never loaded, and the cache never fails a
// compile.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>

#include "compiler/autodiff/training_graph.h"
#include "backends/cpu/cpu_program.h"
#include "compiler/codegen/llvm/jit.h"
#include "compiler/codegen/llvm/object_cache.h"
#include "compiler/passes/pass.h"
#include "compiler/plan/kernel_plan.h"
#include "dsl/frontend.h"
#include "backends/cpu/plan_runner.h"
#include "runtime/cpu/thread_pool.h"

using namespace resnetc;
using codegen::llvm_backend::Jit;
using codegen::llvm_backend::JitOptions;
using codegen::llvm_backend::JitStats;

namespace {

namespace fs = std::filesystem;

// A fresh directory under the system's temporary one, removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "resnetc-object-cache-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Every file in `dir` (entries and any stray temporary file), sorted.
std::vector<fs::path> files(const fs::path& dir) {
  std::vector<fs::path> found;
  if (fs::exists(dir))
    for (const auto& entry : fs::directory_iterator(dir)) found.push_back(entry.path());
  std::sort(found.begin(), found.end());
  return found;
}

// One training step of a small residual network: a few dozen kernels in several modules.
plan::KernelPlan small_training_plan() {
  dsl::SourceManager sources;
  const std::string text =
      "network tiny {\n input 1x8x8\n stem { conv 4 k3 p1; bn; relu }\n stage basic 8 stride=2\n"
      " head { avgpool; fc 10 }\n}";
  const ir::Graph forward = dsl::compile_source(sources, "tiny.net", text, {std::nullopt, 2}).graph;
  return passes::optimized_plan(autodiff::make_training_graph(forward, {0.9, 0.0}), passes::at_level(0));
}

// A network whose convolution has few columns (4x4 positions) for many rows (256 channels):
// the im2col GEMM, which sizes its work items by the thread count.
// A graph as every level hands it to a backend: relu, add and relu_grad lowered to fused maps.
ir::Graph lowered(ir::Graph graph) {
  passes::lower_maps(graph);
  return graph;
}

ir::Graph few_columns_network() {
  dsl::SourceManager sources;
  const std::string text =
      "network few_columns {\n input 16x4x4\n stem { conv 256 k3 p1; bn; relu }\n head { avgpool; fc 10 }\n}";
  return dsl::compile_source(sources, "few_columns.net", text, {std::nullopt, 1}).graph;
}

// Compiles `plan` with `jit` (for a pool of `threads`), runs one step from fixed inputs on one
// thread (the sums' order is fixed), and returns every buffer's bytes.
std::vector<std::vector<float>> run_step(Jit& jit, const plan::KernelPlan& plan, int threads = 1) {
  const cpu::ThreadPool generated_for(cpu::ThreadPool::Options{threads, 0});
  cpu::ThreadPool pool(cpu::ThreadPool::Options{1, 0});
  cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(jit, plan, generated_for), pool);
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const int b = static_cast<int>(i);
    if (plan.buffers[i].storage == plan::Storage::Arena || plan.buffers[i].view_of >= 0) continue;
    if (b == plan.labels) {
      auto labels = runner.int_buffer(b);
      for (size_t j = 0; j < labels.size(); ++j) labels[j] = static_cast<int32_t>(j % 10);
    } else {
      auto values = runner.buffer(b);  // positive: valid variances and a learning rate
      for (size_t j = 0; j < values.size(); ++j) values[j] = 0.05f + static_cast<float>((j * 7 + i) % 13) / 13.0f;
    }
  }
  runner.run();
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    auto values = runner.buffer(static_cast<int>(i));
    out.emplace_back(values.begin(), values.end());
  }
  return out;
}

// float add_one(float x) { return x + 1; }: a module cheap to compile.
std::unique_ptr<llvm::Module> add_one_module(Jit& jit, llvm::LLVMContext& ctx) {
  auto module = jit.new_module("add_one", ctx);
  llvm::IRBuilder<> b(ctx);
  auto* f = llvm::Function::Create(llvm::FunctionType::get(b.getFloatTy(), {b.getFloatTy()}, false),
                                   llvm::Function::ExternalLinkage, "add_one", *module);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", f));
  b.CreateRet(b.CreateFAdd(f->getArg(0), llvm::ConstantFP::get(b.getFloatTy(), 1.0)));
  return module;
}

// What compile_plan does with one module: the cache's object, or the module optimized, compiled
// and stored. Returns add_one(1).
float compile_add_one(Jit& jit) {
  auto tsc = Jit::new_context();
  auto module = add_one_module(jit, *tsc.getContext());
  if (auto object = jit.cached_object(*module))
    jit.add_object(std::move(object));
  else
    jit.add_module(std::move(module), tsc);
  return jit.lookup<float(float)>("add_one")(1.0f);
}

bool same_stats(const JitStats& a, const JitStats& b) {
  return a.optimized == b.optimized && a.compiled == b.compiled && a.cached == b.cached;
}

}  // namespace

TEST_CASE("object cache: a hit runs the same kernels without optimizing or compiling", "[llvm][cache]") {
  TempDir dir;
  const plan::KernelPlan plan = small_training_plan();
  const size_t modules = (plan.kernels.size() + codegen::llvm_backend::kKernelsPerModule - 1) /
                         codegen::llvm_backend::kKernelsPerModule;
  REQUIRE(modules >= 2);

  Jit uncached;
  const auto expected = run_step(uncached, plan);
  CHECK(files(dir.path()).empty());

  Jit cold(JitOptions{.cache_dir = dir.path()});
  CHECK(run_step(cold, plan) == expected);
  CHECK(same_stats(cold.stats(), {.optimized = static_cast<int>(modules), .compiled = static_cast<int>(modules), .cached = 0}));
  const std::vector<fs::path> entries = files(dir.path());
  CHECK(entries.size() == modules);  // one entry a module, no temporary file left behind
  for (const fs::path& entry : entries) CHECK(entry.extension() == ".o");

  Jit warm(JitOptions{.cache_dir = dir.path()});
  CHECK(run_step(warm, plan) == expected);
  CHECK(same_stats(warm.stats(), {.optimized = 0, .compiled = 0, .cached = static_cast<int>(modules)}));
  CHECK(files(dir.path()) == entries);
}

TEST_CASE("object cache: a truncated or flipped entry is rewritten and never loaded", "[llvm][cache]") {
  TempDir dir;
  const plan::KernelPlan plan = small_training_plan();
  Jit cold(JitOptions{.cache_dir = dir.path()});
  const auto expected = run_step(cold, plan);
  const int modules = cold.stats().compiled;

  // Damage the smallest entry, the quickest to compile again.
  std::vector<fs::path> entries = files(dir.path());
  const fs::path victim = *std::min_element(entries.begin(), entries.end(), [](const fs::path& a, const fs::path& b) {
    return fs::file_size(a) < fs::file_size(b);
  });
  const std::string intact = read_all(victim);
  std::string flipped = intact;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x10);
  std::string bad_length = intact;
  bad_length[8] = static_cast<char>(bad_length[8] ^ 0x01);  // the header's object size
  const std::string damaged[] = {intact.substr(0, intact.size() / 2), flipped, bad_length, ""};
  for (const std::string& bytes : damaged) {
    write_all(victim, bytes);
    Jit jit(JitOptions{.cache_dir = dir.path()});
    CHECK(run_step(jit, plan) == expected);
    CHECK(same_stats(jit.stats(), {.optimized = 1, .compiled = 1, .cached = modules - 1}));
    CHECK(read_all(victim) == intact);  // compiled again and stored again, whole
    CHECK(files(dir.path()) == entries);
  }
}

TEST_CASE("object cache: the key covers the IR, the CPU features and the optimization level", "[llvm][cache]") {
  TempDir dir;
  auto entries = [&] { return files(dir.path()).size(); };

  Jit base(JitOptions{.cache_dir = dir.path()});
  CHECK(compile_add_one(base) == 2.0f);
  CHECK(entries() == 1);

  // The same IR and target hit, from another Jit.
  Jit same(JitOptions{.cache_dir = dir.path()});
  CHECK(compile_add_one(same) == 2.0f);
  CHECK(same.stats().cached == 1);
  CHECK(entries() == 1);

  // Whether or not this CPU has AVX-512, "-avx512f" changes the feature string, and -O2 the
  // pipeline: each is a miss with an entry of its own.
  Jit no_avx512(JitOptions{.features = "-avx512f", .cache_dir = dir.path()});
  CHECK(compile_add_one(no_avx512) == 2.0f);
  CHECK(no_avx512.stats().cached == 0);
  CHECK(entries() == 2);
  Jit o2(JitOptions{.opt_level = 2, .cache_dir = dir.path()});
  CHECK(compile_add_one(o2) == 2.0f);
  CHECK(o2.stats().cached == 0);
  CHECK(entries() == 3);

  // Other IR (a function renamed): another key.
  Jit other(JitOptions{.cache_dir = dir.path()});
  auto tsc = Jit::new_context();
  auto module = add_one_module(other, *tsc.getContext());
  module->getFunction("add_one")->setName("add_two");
  CHECK(other.cached_object(*module) == nullptr);
}

TEST_CASE("object cache: the key covers the thread count the kernels were generated for", "[llvm][cache]") {
  TempDir dir;
  const plan::KernelPlan plan = plan::make_plan(lowered(few_columns_network()), {.reuse_memory = false});
  REQUIRE(plan.kernels.size() <= codegen::llvm_backend::kKernelsPerModule);  // one module
  const cpu::ThreadPool one(cpu::ThreadPool::Options{1, 0}), four(cpu::ThreadPool::Options{4, 0});
  Jit ir_one, ir_four;
  const std::string for_one = codegen::llvm_backend::plan_llvm_ir(ir_one, plan, one);
  REQUIRE(for_one != codegen::llvm_backend::plan_llvm_ir(ir_four, plan, four));  // the code depends on it

  Jit cold(JitOptions{.cache_dir = dir.path()});
  codegen::llvm_backend::compile_plan(cold, plan, one);
  CHECK(files(dir.path()).size() == 1);
  Jit other(JitOptions{.cache_dir = dir.path()});
  codegen::llvm_backend::compile_plan(other, plan, four);
  CHECK(same_stats(other.stats(), {.optimized = 1, .compiled = 1, .cached = 0}));
  CHECK(files(dir.path()).size() == 2);
  Jit warm(JitOptions{.cache_dir = dir.path()});
  codegen::llvm_backend::compile_plan(warm, plan, four);
  CHECK(same_stats(warm.stats(), {.optimized = 0, .compiled = 0, .cached = 1}));
}

TEST_CASE("object cache: kernels sized for more threads compute the same bytes", "[llvm][cache]") {
  // The thread count only splits the work: no sum changes its order.
  const plan::KernelPlan plan =
      plan::make_plan(lowered(autodiff::make_training_graph(few_columns_network(), {0.9, 0.0})), {.reuse_memory = false});
  Jit one, four;
  CHECK(run_step(one, plan, 1) == run_step(four, plan, 4));
}

TEST_CASE("object cache: an unusable directory only costs the cache", "[llvm][cache]") {
  TempDir dir;
  const fs::path blocker = dir.path() / "not-a-directory";
  write_all(blocker, "a file where the cache directory should be");
  Jit jit(JitOptions{.cache_dir = blocker / "cpu"});
  CHECK(compile_add_one(jit) == 2.0f);
  CHECK(same_stats(jit.stats(), {.optimized = 1, .compiled = 1, .cached = 0}));
  CHECK(files(dir.path()) == std::vector<fs::path>{blocker});
}

TEST_CASE("object cache: without a cache directory nothing is cached", "[llvm][cache]") {
  Jit jit;
  auto tsc = Jit::new_context();
  auto module = add_one_module(jit, *tsc.getContext());
  CHECK(jit.cached_object(*module) == nullptr);
  CHECK(module->getNamedMetadata("resnetc.cache_key") == nullptr);  // not even keyed
}

TEST_CASE("object cache: lives in the CUDA cache's directory, in cpu/", "[llvm][cache]") {
  CHECK(codegen::llvm_backend::object_cache_dir("/some/dir") == fs::path("/some/dir/cpu"));
  const char* old = getenv("XDG_CACHE_HOME");
  const std::string saved = old != nullptr ? old : "";
  setenv("XDG_CACHE_HOME", "/xdg/cache", 1);
  CHECK(codegen::llvm_backend::object_cache_dir() == fs::path("/xdg/cache/resnetc/cpu"));
  if (old != nullptr)
    setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  else
    unsetenv("XDG_CACHE_HOME");
}
