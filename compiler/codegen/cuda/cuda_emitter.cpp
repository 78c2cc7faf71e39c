// The CUDA emitter's driver: runs each plan kernel's family emitter, emits each distinct kernel
// once, and assembles the translation unit and the launch list.
#include "compiler/codegen/cuda/cuda_emitter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"
#include "compiler/ir/ops.h"

namespace resnetc::codegen::cuda {
namespace detail {

Members& Members::constant(std::string_view name, int64_t value) {
  const bool small = value >= std::numeric_limits<int>::min() && value <= std::numeric_limits<int>::max();
  s_ += fmt::format("  static constexpr {} {} = {}{};\n", small ? "int" : "long long", name, value, small ? "" : "ll");
  return *this;
}

Members& Members::constant_f(std::string_view name, double value) {
  s_ += fmt::format("  static constexpr float {} = {};\n", name, float_literal(value));
  return *this;
}

Members& Members::constant_d(std::string_view name, double value) {
  s_ += fmt::format("  static constexpr double {} = {};\n", name, double_literal(value));
  return *this;
}

Members& Members::text(std::string_view code) {
  s_ += code;
  return *this;
}

namespace {
std::string with_point(std::string s) {
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}
}  // namespace

std::string float_literal(double v) {
  const auto f = static_cast<float>(v);  // 1e300 is a finite double but not a float
  if (!std::isfinite(f)) throw std::invalid_argument(fmt::format("CUDA emitter: constant {} is not a finite float", v));
  return with_point(fmt::format("{:.9g}", f)) + "f";
}

std::string double_literal(double v) {
  if (!std::isfinite(v)) throw std::invalid_argument(fmt::format("CUDA emitter: constant {} is not finite", v));
  return with_point(fmt::format("{:.17g}", v));
}

std::string indent_lines(std::string_view code, std::string_view pad) {
  std::string out;
  for (size_t start = 0; start < code.size();) {
    size_t end = code.find('\n', start);
    if (end == std::string_view::npos) end = code.size();
    out += fmt::format("{}{}\n", pad, code.substr(start, end - start));
    start = end + 1;
  }
  if (!out.empty()) out.pop_back();
  return out;
}

std::string index_type(int64_t max_elements) {
  // Headroom: indices are formed as sums of a few in-range terms.
  return max_elements < (int64_t{1} << 30) ? "int" : "long long";
}

std::string subst(std::string_view code, const std::vector<std::pair<std::string, std::string>>& values) {
  std::vector<std::pair<std::string, std::string>> sorted = values;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  std::string out;
  out.reserve(code.size());
  for (size_t i = 0; i < code.size();) {
    if (code[i] == '$') {
      bool done = false;
      for (const auto& [name, value] : sorted)
        if (code.substr(i + 1, name.size()) == name) {
          out += value;
          i += 1 + name.size();
          done = true;
          break;
        }
      if (done) continue;
    }
    out += code[i++];
  }
  return out;
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

unsigned grid_for(int64_t work, unsigned threads) {
  const int64_t blocks = std::clamp<int64_t>(ceil_div(std::max<int64_t>(work, 1), threads), 1, 65535);
  return static_cast<unsigned>(blocks);
}

std::string Emitter::where() const {
  return fmt::format("'{}' ({})", kernel_->name, ir::op_kind_name(kernel_->kind));
}

void Emitter::launch(KernelSource source) {
  launches_.push_back(std::move(source));
  owner_.push_back(current_index());
}

unsigned Emitter::grid_stride(int64_t work, unsigned threads) const {
  return std::min(grid_for(work, threads), static_cast<unsigned>(std::clamp(options_.grid_stride_blocks, 1, 65535)));
}

void Emitter::need_workspace(int64_t bytes) {
  workspace_ = std::max(workspace_, bytes);
}

}  // namespace detail

namespace {

using detail::KernelSource;
using detail::ParamType;

std::string_view type_name(ParamType t) {
  switch (t) {
    case ParamType::Out:
      return "float* __restrict__";
    case ParamType::In:
      return "const float* __restrict__";
    case ParamType::InInt:
      return "const int* __restrict__";
    case ParamType::OutBf16:
      return "unsigned short* __restrict__";
    case ParamType::InBf16:
      return "const unsigned short* __restrict__";
  }
  return "?";
}

std::string_view plain_type(ParamType t) {
  switch (t) {
    case ParamType::Out:
      return "float*";
    case ParamType::In:
      return "const float*";
    case ParamType::InInt:
      return "const int*";
    case ParamType::OutBf16:
      return "unsigned short*";
    case ParamType::InBf16:
      return "const unsigned short*";
  }
  return "?";
}

std::string signature(const KernelSource& k) {
  std::string s;
  for (size_t i = 0; i < k.params.size(); ++i)
    s += fmt::format("{}{} {}", i ? ", " : "", type_name(k.params[i].type), k.params[i].name);
  return s;
}

std::string key_of(const KernelSource& k) {
  return fmt::format("{} {}\n{}\n{}\n{}", k.threads, k.min_blocks, signature(k), k.members,
                     k.body);  // not the family: same text, one kernel
}

// Each skeleton's family emitter (ops.def gives every kind its skeleton).
void dispatch(detail::Emitter& e) {
  using ir::Skeleton;
  switch (ir::op_skeleton(e.kernel().kind)) {
    case Skeleton::WindowContraction:
      detail::emit_convolution(e);
      return;
    case Skeleton::Contraction:
      detail::emit_linear(e);
      return;
    case Skeleton::PerChannel:
      detail::emit_channel_reduction(e);
      return;
    case Skeleton::Map:
      detail::emit_map(e);
      return;
    case Skeleton::Window:
      detail::emit_pooling(e);
      return;
    case Skeleton::Loss:
      detail::emit_loss(e);
      return;
    case Skeleton::Update:
      detail::emit_update(e);
      return;
    case Skeleton::Fused:
      detail::emit_fused(e);
      return;
    case Skeleton::Alias:  // the plan makes these views of their source, never kernels
    case Skeleton::None:   // lowered to fused maps at every level (passes/lower_maps.cpp)
      break;
  }
  throw std::invalid_argument(fmt::format("CUDA emitter: no kernel for {}", e.where()));
}

std::string indent(std::string_view text, std::string_view pad) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty()) out += fmt::format("{}{}", pad, line);
    out += '\n';
    start = end + 1;
  }
  return out;
}

// Inline, not static: a translation unit whose kernels use no tensor cores (split_units makes
// such units) would otherwise draw NVRTC's warning #177 (declared but never referenced).
constexpr std::string_view kTf32Helpers = R"(#ifndef RESNETC_CUDA_EMULATION
// float32 -> TF32, rounded to nearest with ties away from zero (the low 13 mantissa bits zero).
__device__ __forceinline__ float rc_tf32(float x) {
  unsigned u;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(x));
  return __uint_as_float(u);
}
// D = A * B + D for one warp: A 16x8 (row), B 8x8 (col), TF32 in, float32 accumulate. With
// g = lane / 4 and t = lane % 4: a0 = A[g][t], a1 = A[g+8][t], a2 = A[g][t+4], a3 = A[g+8][t+4];
// b0 = B[t][g], b1 = B[t+4][g]; d0 = D[g][2t], d1 = D[g][2t+1], d2 = D[g+8][2t], d3 = D[g+8][2t+1].
__device__ __forceinline__ void rc_mma_tf32(float& d0, float& d1, float& d2, float& d3, unsigned a0, unsigned a1,
                                            unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
#endif

)";

// The bf16 GEMMs' (plan::Precision::Bf16 operands); inline for the same reason.
constexpr std::string_view kBf16Helpers = R"(#ifndef RESNETC_CUDA_EMULATION
// Two float32 -> one word of two bfloat16, each rounded to nearest with ties to even (as
// __float2bfloat16_rn): lo in the low 16 bits, hi in the high.
__device__ __forceinline__ unsigned rc_bf16x2(float lo, float hi) {
  unsigned u;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(u) : "f"(hi), "f"(lo));
  return u;
}
// D = A * B + D for one warp: A 16x16 (row), B 16x8 (col), bfloat16 in, float32 accumulate.
// Each register holds two consecutive k, the lower k in the low half. With g = lane / 4 and
// t = lane % 4: a0 = A[g][2t..2t+1], a1 = A[g+8][2t..2t+1], a2 = A[g][2t+8..2t+9],
// a3 = A[g+8][2t+8..2t+9]; b0 = B[2t..2t+1][g], b1 = B[2t+8..2t+9][g]; d as for m16n8k8.
__device__ __forceinline__ void rc_mma_bf16(float& d0, float& d1, float& d2, float& d3, unsigned a0, unsigned a1,
                                            unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
#endif

)";

constexpr std::string_view kLdgHelper = R"(#ifdef RESNETC_CUDA_EMULATION
// On the GPU a load through the read-only data cache; on the host a load.
template <class T>
static inline T __ldg(const T* p) {
  return *p;
}
#endif

)";

// The header's "Convolutions: ..." sentence.
std::string convolutions_line(const plan::KernelPlan& plan, const CudaOptions& options) {
  const std::string_view tf32 =
      options.tensor_cores ? "TF32 tensor cores (mma.sync), float32 accumulation" : "float32 FMA";
  if (plan.precision != plan::Precision::Bf16) return std::string(tf32);
  return fmt::format(
      "bfloat16 operands\n"
      "// (rounded to nearest even) on tensor cores (mma.sync m16n8k16), float32 accumulation, in the forward and\n"
      "// data-gradient GEMMs of convolutions and fully connected layers; weight gradients: {}",
      tf32);
}

}  // namespace

CudaOptions options_for_precision(plan::Precision precision) {
  CudaOptions options;
  options.tensor_cores = precision != plan::Precision::Fp32;
  return options;
}

CudaProgram emit_cuda(const plan::KernelPlan& plan, const CudaOptions& options) {
  detail::Emitter e(plan, options);
  for (const plan::Kernel& k : plan.kernels) {
    e.begin(k);
    for (int in : k.inputs)
      if (plan.buffer(in).dtype == ir::DType::I32 && k.kind != ir::OpKind::SoftmaxCrossEntropy &&
          k.kind != ir::OpKind::SoftmaxCrossEntropyGrad && k.kind != ir::OpKind::Fused)  // a fused mask's (seed, step)
        throw std::invalid_argument(
            fmt::format("CUDA emitter: {} reads int32 buffer '{}'", e.where(), plan.buffer(in).name));
    if (k.epilogue_stats >= 0 && k.kind != ir::OpKind::Conv2d)
      throw std::invalid_argument(
          fmt::format("CUDA emitter: {} has epilogue statistics, which only a conv2d computes", e.where()));
    dispatch(e);
  }

  struct Unique {
    std::string name;
    const KernelSource* source;
    std::vector<int> users;  // plan kernels
  };
  std::vector<Unique> unique;
  std::map<std::string, size_t> by_key;
  std::map<std::string, int> family_count;
  CudaProgram program;
  program.workspace_bytes = e.workspace_bytes();
  const std::vector<KernelSource>& launches = e.launches();
  for (size_t i = 0; i < launches.size(); ++i) {
    const KernelSource& k = launches[i];
    if (k.params.size() > detail::kMaxKernelParams)
      throw std::invalid_argument(fmt::format("CUDA emitter: '{}' would launch a kernel with {} parameters, over {}",
                                              plan.kernels[static_cast<size_t>(e.launch_owner()[i])].name,
                                              k.params.size(), detail::kMaxKernelParams));
    for (const detail::Param& p : k.params) {  // a bf16 buffer read as float would read its bits as numbers
      const bool bf16_param = p.type == ParamType::InBf16 || p.type == ParamType::OutBf16;
      if (p.buffer != kWorkspace && bf16_param != (plan.buffer(p.buffer).dtype == ir::DType::BF16))
        throw std::invalid_argument(fmt::format("CUDA emitter: '{}' takes {} buffer '{}' as {}",
                                                plan.kernels[static_cast<size_t>(e.launch_owner()[i])].name,
                                                bf16_param ? "non-bf16" : "bf16", plan.buffer(p.buffer).name,
                                                type_name(p.type)));
    }
    auto [it, added] = by_key.try_emplace(key_of(k), unique.size());
    if (added) unique.push_back({fmt::format("{}_{}", k.family, family_count[k.family]++), &k, {}});
    Unique& u = unique[it->second];
    const int owner = e.launch_owner()[i];
    if (u.users.empty() || u.users.back() != owner) u.users.push_back(owner);
    CudaLaunch launch;
    launch.kernel = u.name;
    for (int d = 0; d < 3; ++d) launch.grid[d] = k.grid[d];
    launch.block[0] = k.threads;
    for (const detail::Param& p : k.params) launch.buffers.push_back(p.buffer);
    launch.plan_kernel = owner;
    program.launches.push_back(std::move(launch));
  }
  program.unique_kernels = unique.size();

  std::string src = fmt::format(
      "// Generated by resnetc: the CUDA kernels of plan '{}' ({} plan kernels, {} launches, {} distinct kernels).\n"
      "// One translation unit for NVRTC or nvcc (sm_90), no includes. Tensors are float32, NCHW, row-major;\n"
      "// every shape is a compile-time constant of the kernel's struct. Convolutions: {}.\n\n",
      plan.name, plan.kernels.size(), program.launches.size(), unique.size(),
      convolutions_line(plan, options));
  bool tf32 = false, bf16 = false;
  for (const Unique& u : unique) {
    tf32 = tf32 || u.source->members.find("rc_mma_tf32") != std::string::npos;
    bf16 = bf16 || u.source->members.find("rc_mma_bf16") != std::string::npos;
  }
  if (tf32) src += kTf32Helpers;
  if (bf16) src += kBf16Helpers;
  bool bf16_storage = false;
  for (const Unique& u : unique)
    for (const detail::Param& p : u.source->params)
      bf16_storage = bf16_storage || p.type == ParamType::InBf16 || p.type == ParamType::OutBf16;
  if (bf16_storage) src += detail::bf16_storage_helpers();
  bool ldg = false;
  for (const Unique& u : unique) ldg = ldg || u.source->body.find("__ldg(") != std::string::npos;
  if (ldg) src += kLdgHelper;
  program.prelude = src;
  for (const Unique& u : unique) {
    std::string text;
    const KernelSource& k = *u.source;
    const std::vector<std::pair<std::string, std::string>> name{{"K", u.name}};
    std::string users;
    for (size_t j = 0; j < u.users.size() && j < 3; ++j)
      users += fmt::format("{}{}", j ? ", " : "", plan.kernels[static_cast<size_t>(u.users[j])].name);
    if (u.users.size() > 3) users += fmt::format(" and {} more", u.users.size() - 3);
    std::string args, casts;
    for (size_t j = 0; j < k.params.size(); ++j) {
      args += fmt::format("{}{}", j ? ", " : "", k.params[j].name);
      casts += fmt::format("{}static_cast<{}>(a[{}])", j ? ", " : "", plain_type(k.params[j].type), j);
    }
    text += fmt::format("// {}\n// Used by {}.\nstruct {}_k {{\n{}", k.comment, users, u.name,
                       detail::subst(k.members, name));
    text += fmt::format("  static __device__ __forceinline__ void run({}) {{\n{}  }}\n}};\n", signature(k),
                       indent(detail::subst(k.body, name), "    "));
    // Always with a minimum of blocks per SM: without one, NVRTC 13.0's ptxas picked an occupancy
    // of its own and spilled GEMM registers (nvcc did not).
    text += fmt::format("extern \"C\" __global__ void __launch_bounds__({}, {}) {}({}) {{ {}_k::run({}); }}\n",
                       k.threads, k.min_blocks, u.name, signature(k), u.name, args);
    text += fmt::format(
        "#ifdef RESNETC_CUDA_EMULATION\nextern \"C\" RESNETC_EMU_EXPORT void {}__emu(void* const* a) {{ {}({}); "
        "}}\n#endif\n\n",
        u.name, u.name, casts);
    src += text;
    program.kernels.push_back({u.name, std::move(text)});
  }
  program.source = std::move(src);
  return program;
}

std::vector<CudaUnit> split_units(const CudaProgram& program, size_t count) {
  count = std::clamp<size_t>(count, 1, std::max<size_t>(program.kernels.size(), 1));
  // Longest kernels first, each to the unit with the least text so far: NVRTC's time follows
  // the text's size closely enough to balance by it.
  std::vector<size_t> order(program.kernels.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return program.kernels[a].text.size() > program.kernels[b].text.size();
  });
  std::vector<size_t> load(count, 0);
  std::vector<std::vector<size_t>> members(count);
  for (size_t k : order) {
    const size_t unit = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[unit] += program.kernels[k].text.size();
    members[unit].push_back(k);
  }
  std::vector<CudaUnit> units;
  for (std::vector<size_t>& m : members) {
    if (m.empty()) continue;
    std::sort(m.begin(), m.end());  // source order, so a unit reads like the whole program
    CudaUnit u{program.prelude, {}};
    for (size_t k : m) {
      u.source += program.kernels[k].text;
      u.kernels.push_back(program.kernels[k].name);
    }
    units.push_back(std::move(u));
  }
  return units;
}

}  // namespace resnetc::codegen::cuda
