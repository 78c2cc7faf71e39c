// The convolution kernels of the d2l ResNet-18 (examples/d2l-resnet18.net), one at a time:
// forward, gradient of the input and of the weight of every distinct conv shape, each
// compiled alone by the CPU backend and timed on the thread pool, in GFLOP/s (2 x the
// multiply-accumulates, as PyTorch users count them). With --torch, the same convolutions
// run in PyTorch (bench/conv_kernels_torch.py, same thread count) in the same run, side by
// side.
//
//   build/bench/conv_kernels [--input 28|96] [--batch N] [--threads T] [--torch [PYTHON]] [--only NAME]
//                            [--ir fwd|dx|dw]   (print the optimized LLVM IR of the --only convs instead)
//                            [--cpu-time]       (time the calling thread's CPU time: for --threads 1 on a busy machine)
//                            [--shape C,O,HW,K,S,P ...]  (these convolutions instead of ResNet-18's)
//                            [--precision fp32|bf16]  (the plan's precision, docs/precision.md)
//                            [--bf16-activations]  (with bf16: x and dy stored as bf16 buffers, ir::DType::BF16)
//
// Timings are the fastest of several repetitions (the machine may be shared).
#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "backends/cpu/cpu_program.h"
#include "compiler/ir/builder.h"
#include "compiler/ir/shape_inference.h"
#include "compiler/plan/kernel_plan.h"
#include "backends/cpu/plan_runner.h"
#include "runtime/cpu/thread_pool.h"

using namespace resnetc;
using ir::OpKind;

namespace {

struct ConvCase {
  std::string name;
  int64_t c, o, hw, k, s, p;
  int count;  // how many convs of the network have this shape
};

// The distinct convolutions of the d2l ResNet-18 for a square input of `hw` pixels.
std::vector<ConvCase> resnet18_convs(int64_t hw) {
  auto out = [](int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; };
  std::vector<ConvCase> cases;
  int64_t h = out(hw, 7, 2, 3);
  cases.push_back({"stem 7x7/2", 1, 64, hw, 7, 2, 3, 1});
  h = out(h, 3, 2, 1);  // maxpool
  cases.push_back({"s1 3x3 64", 64, 64, h, 3, 1, 1, 4});
  int64_t c = 64;
  for (int64_t o : {128, 256, 512}) {
    cases.push_back({fmt::format("s{} 3x3/2 {}", o == 128 ? 2 : o == 256 ? 3 : 4, o), c, o, h, 3, 2, 1, 1});
    cases.push_back({fmt::format("s{} 1x1/2 {}", o == 128 ? 2 : o == 256 ? 3 : 4, o), c, o, h, 1, 2, 0, 1});
    h = out(h, 3, 2, 1);
    cases.push_back({fmt::format("s{} 3x3 {}", o == 128 ? 2 : o == 256 ? 3 : 4, o), o, o, h, 3, 1, 1, 3});
    c = o;
  }
  return cases;
}

ir::Attrs attrs_of(const ConvCase& cc, bool bias) {
  ir::Attrs a;
  a.out_channels = cc.o;
  a.kernel[0] = a.kernel[1] = cc.k;
  a.stride[0] = a.stride[1] = cc.s;
  a.padding[0] = a.padding[1] = cc.p;
  a.bias = bias;
  return a;
}

ir::Graph graph_of(const ConvCase& cc, int64_t batch, OpKind kind) {
  ir::Dims x{batch, cc.c, cc.hw, cc.hw};
  ir::GraphBuilder g("bench", x);
  ir::Attrs a = attrs_of(cc, kind == OpKind::Conv2d);
  if (kind == OpKind::Conv2d) return std::move(g).finish(g.add(kind, "conv", {g.input()}, a, {}));
  ir::ShapeResult y = ir::infer_shape(OpKind::Conv2d, std::span<const ir::Dims>(&x, 1), a);
  ir::ValueId dy = g.add_value("dy", y.dims, ir::ValueRole::Input);
  if (kind == OpKind::ConvGradInput) {
    a.shape = x;
    ir::ValueId w = g.add_value("conv.weight", {cc.o, cc.c, cc.k, cc.k}, ir::ValueRole::Parameter);
    return std::move(g).finish(g.apply(kind, "conv.grad_input", {dy, w}, a, {}));
  }
  return std::move(g).finish(g.apply(kind, "conv.grad_weight", {dy, g.input()}, a, {}));
}

// Stores the activation operands of the plan's one kernel (x, dy) as bfloat16 bits, as a bf16
// training plan stores activations between kernels.
void store_activations_bf16(plan::KernelPlan& plan) {
  const plan::Kernel& k = plan.kernels.at(0);
  for (size_t i = 0; i < k.inputs.size(); ++i) {
    plan::Buffer& b = plan.buffers[static_cast<size_t>(k.inputs[i])];
    if (b.role == ir::ValueRole::Parameter) continue;  // the weights stay float32
    b.dtype = ir::DType::BF16;
    b.bytes = ir::numel(b.shape) * ir::dtype_bytes(b.dtype);
  }
}

// bfloat16 bits of v, rounded to nearest even (v finite).
uint16_t bf16_bits(float v) {
  uint32_t u = 0;
  std::memcpy(&u, &v, sizeof u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

double flops(const ConvCase& cc, int64_t batch) {
  int64_t oh = (cc.hw + 2 * cc.p - cc.k) / cc.s + 1;
  return 2.0 * static_cast<double>(batch * cc.o * cc.c * cc.k * cc.k * oh * oh);
}

bool g_cpu_time = false;  // --cpu-time: the calling thread's CPU time (with --threads 1)

double now() {
  timespec t{};
  clock_gettime(g_cpu_time ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Fastest of `reps` repetitions, each the mean over enough runs to take ~20 ms.
double time_seconds(cpu::PlanRunner& runner, int reps) {
  runner.run();
  double t0 = now();
  runner.run();
  double once = now() - t0;
  int inner = std::max(1, static_cast<int>(0.02 / std::max(once, 1e-7)));
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    double start = now();
    for (int i = 0; i < inner; ++i) runner.run();
    best = std::min(best, (now() - start) / inner);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t hw = 28, batch = 64;
  bool batch_given = false, bf16_activations = false;
  int threads = 0, reps = 7;
  std::string python, only, ir_kind;
  plan::PlanOptions plan_options;
  std::vector<std::string> shapes;  // --shape C,O,HW,K,S,P: these convs instead of ResNet-18's
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "{} needs a value\n", arg);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--input") hw = std::stoll(next());
    else if (arg == "--batch") batch = std::stoll(next()), batch_given = true;
    else if (arg == "--threads") threads = std::stoi(next());
    else if (arg == "--reps") reps = std::stoi(next());
    else if (arg == "--only") only = next();
    else if (arg == "--ir") ir_kind = next();
    else if (arg == "--cpu-time") g_cpu_time = true;
    else if (arg == "--shape") shapes.push_back(next());
    else if (arg == "--bf16-activations") bf16_activations = true;
    else if (arg == "--precision") {
      const std::string name = next();
      std::optional<plan::Precision> precision = plan::parse_precision(name);
      if (!precision || *precision == plan::Precision::Tf32) {
        fmt::print(stderr, "--precision wants fp32 or bf16, got `{}`\n", name);
        return 2;
      }
      plan_options.precision = *precision;
    }
    else if (arg == "--torch") python = (i + 1 < argc && argv[i + 1][0] != '-') ? argv[++i] : "/usr/bin/python3";
    else {
      fmt::print(stderr, "usage: conv_kernels [--input 28|96] [--batch N] [--threads T] [--reps R] [--torch [PYTHON]] "
                         "[--only NAME] [--ir fwd|dx|dw] [--cpu-time] [--precision fp32|bf16] [--bf16-activations]\n");
      return 2;
    }
  }
  if (bf16_activations && plan_options.precision != plan::Precision::Bf16) {
    fmt::print(stderr, "--bf16-activations needs --precision bf16\n");
    return 2;
  }
  if (!batch_given && hw == 96) batch = 32;
  cpu::ThreadPool pool(cpu::ThreadPool::Options{.num_threads = threads});
  std::vector<ConvCase> cases = resnet18_convs(hw);
  if (!shapes.empty()) {
    cases.clear();
    for (const std::string& sh : shapes) {
      ConvCase cc{sh, 0, 0, 0, 0, 0, 0, 1};
      if (std::sscanf(sh.c_str(), "%ld,%ld,%ld,%ld,%ld,%ld", &cc.c, &cc.o, &cc.hw, &cc.k, &cc.s, &cc.p) != 6) {
        fmt::print(stderr, "--shape wants C,O,HW,K,S,P, got `{}`\n", sh);
        return 2;
      }
      cases.push_back(cc);
    }
  }
  const OpKind kinds[3] = {OpKind::Conv2d, OpKind::ConvGradInput, OpKind::ConvGradWeight};
  if (!ir_kind.empty()) {
    OpKind kind = ir_kind == "dx" ? OpKind::ConvGradInput : ir_kind == "dw" ? OpKind::ConvGradWeight : OpKind::Conv2d;
    for (const ConvCase& cc : cases) {
      if (!only.empty() && cc.name.find(only) == std::string::npos) continue;
      plan::KernelPlan plan = plan::make_plan(graph_of(cc, batch, kind), plan_options);
      if (bf16_activations) store_activations_bf16(plan);
      codegen::llvm_backend::Jit jit;
      fmt::print("; {}\n{}", cc.name, codegen::llvm_backend::plan_llvm_ir(jit, plan, pool));
    }
    return 0;
  }

  // PyTorch first (its own process), so the two never share the cores.
  std::map<std::string, std::vector<double>> torch;
  if (!python.empty()) {
    std::string script = fmt::format("{}/bench/conv_kernels_torch.py", RESNETC_SOURCE_DIR);
    std::string cmd = fmt::format("{} {} {} {} {} {}", python, script, batch, pool.num_threads(), reps,
                                  g_cpu_time ? "cpu" : "wall");
    for (const ConvCase& cc : cases) cmd += fmt::format(" {},{},{},{},{},{}", cc.c, cc.o, cc.hw, cc.k, cc.s, cc.p);
    if (FILE* f = popen(cmd.c_str(), "r")) {
      char line[512];
      size_t index = 0;
      while (fgets(line, sizeof line, f) && index < cases.size()) {
        double a = 0, b = 0, c = 0;
        if (std::sscanf(line, "%lf %lf %lf", &a, &b, &c) == 3) torch[cases[index++].name] = {a, b, c};
      }
      pclose(f);
    }
    if (torch.empty()) fmt::print(stderr, "warning: no timings from `{}`\n", cmd);
  }

  fmt::print("d2l ResNet-18 convolutions, input 1x{}x{}, batch {}, {} threads, {}{}; GFLOP/s (ms)\n", hw, hw, batch,
             pool.num_threads(), plan::precision_name(plan_options.precision), bf16_activations ? ", activations in bf16" : "");
  fmt::print("{:<14} {:>5} {:>8} | {:>16} {:>16} {:>16}", "conv", "count", "MFLOP", "forward", "grad input",
             "grad weight");
  if (!torch.empty()) fmt::print(" | {:>16} {:>16} {:>16}", "torch fwd", "torch dx", "torch dw");
  fmt::print("\n");
  double total_ours = 0, total_torch = 0, compile_seconds = 0;
  for (const ConvCase& cc : cases) {
    if (!only.empty() && cc.name.find(only) == std::string::npos) continue;
    const double f = flops(cc, batch);
    fmt::print("{:<14} {:>5} {:>8.1f} |", cc.name, cc.count, f / 1e6);
    for (OpKind kind : kinds) {
      ir::Graph g = graph_of(cc, batch, kind);
      plan::KernelPlan plan = plan::make_plan(g, plan_options);
      if (bf16_activations) store_activations_bf16(plan);
      codegen::llvm_backend::Jit jit;  // one per plan: kernel symbols are per plan
      const bool cpu_time = g_cpu_time;
      g_cpu_time = false;
      double c0 = now();
      std::vector<cpu::KernelFn> fns = codegen::llvm_backend::compile_plan(jit, plan, pool);
      compile_seconds += now() - c0;
      g_cpu_time = cpu_time;
      cpu::PlanRunner runner(plan, std::move(fns), pool);
      std::mt19937 rng(1);
      std::uniform_real_distribution<float> u(-1, 1);
      for (size_t i = 0; i < plan.buffers.size(); ++i) {
        const plan::Buffer& b = plan.buffers[i];
        if (b.storage == plan::Storage::Arena) continue;
        std::span<float> memory = runner.buffer(static_cast<int>(i));
        if (b.dtype == ir::DType::BF16) {
          auto* bits = reinterpret_cast<uint16_t*>(memory.data());
          for (int64_t j = 0; j < ir::numel(b.shape); ++j) bits[j] = bf16_bits(u(rng));
        } else {
          for (float& v : memory) v = u(rng);
        }
      }
      double t = time_seconds(runner, reps);
      if (!(kind == OpKind::ConvGradInput && cc.c == 1)) total_ours += t * cc.count;
      fmt::print(" {:>7.1f} ({:>6.2f})", f / t / 1e9, t * 1e3);
    }
    if (auto it = torch.find(cc.name); it != torch.end()) {
      fmt::print(" |");
      for (size_t i = 0; i < it->second.size(); ++i) {
        const double t = it->second[i];
        fmt::print(" {:>7.1f} ({:>6.2f})", f / t / 1e9, t * 1e3);
        if (!(i == 1 && cc.c == 1)) total_torch += t * cc.count;
      }
    }
    fmt::print("\n");
  }
  // The stem's input gradient is not part of training (the image needs none): left out.
  fmt::print("all convs of one training step (x count; no input gradient for the image): resnetc {:.1f} ms",
             total_ours * 1e3);
  if (total_torch > 0) fmt::print(", torch {:.1f} ms", total_torch * 1e3);
  fmt::print("\nJIT compile time of these kernels: {:.2f} s\n", compile_seconds);
  return 0;
}
