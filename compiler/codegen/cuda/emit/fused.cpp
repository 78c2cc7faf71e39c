// Fused elementwise programs (OpKind::Fused, made by the fusion passes; and the Map kinds'
// programs from ir::map_program over their output's shape: flatten, reshape, pad_shortcut and
// its gradient, global_avgpool_grad): straight-line code over one element of an iteration space
// [N, C, ...] (axis 1 the channel), emitted as one C++ declaration per instruction a result
// needs (`const float r3 = r1 - r2;`); input a is `in<a>`.
// - map: an elementwise kernel (emit_elementwise_kernel: grid-stride, float4 when the sizes and
//   alignments allow) in float; a channel load reads in<a>[row * C + c] through __ldg, c the
//   element's channel, a plane load in<a>[i / INNER], the element's (n, c) plane; a gather
//   in<a> at the source of the element's coordinates at0, at1, ... (split from i once).
// - reduce: the per-channel reduction of BatchNorm's statistics (emit_channel_reduce: chunks,
//   partial sums in the workspace added in order by a second pass), in double like the other
//   reductions; what depends on the channel only (channel loads, constants and what is computed
//   from them alone) is evaluated once per block, outside the element loop.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"
#include "compiler/ir/fused_extent.h"
#include "compiler/ir/gather_map.h"
#include "compiler/ir/map_program.h"
#include "compiler/ir/random_mask.h"

namespace resnetc::codegen::cuda::detail {
namespace {

using ir::FusedInstr;
using ir::FusedOpcode;

// The instructions some result depends on: the others would be unused variables (an NVRTC
// warning) and their inputs unused parameters.
std::vector<bool> live_instructions(const ir::FusedProgram& p) {
  std::vector<bool> live(p.instrs.size(), false);
  for (int32_t r : p.results) live.at(static_cast<size_t>(r)) = true;
  for (size_t k = p.instrs.size(); k-- > 0;) {
    if (!live[k]) continue;
    const FusedInstr& in = p.instrs[k];
    if (ir::reads_register_a(in.code)) live.at(static_cast<size_t>(in.a)) = true;
    if (ir::reads_register_b(in.code)) live.at(static_cast<size_t>(in.b)) = true;
    if (ir::reads_register_c(in.code)) live.at(static_cast<size_t>(in.c)) = true;
  }
  return live;
}

// The instructions whose value is the same for every element of a channel.
std::vector<bool> channel_uniform(const ir::FusedProgram& p) {
  std::vector<bool> uniform(p.instrs.size(), false);
  for (size_t k = 0; k < p.instrs.size(); ++k) {
    const FusedInstr& in = p.instrs[k];
    switch (in.code) {
      case FusedOpcode::Load:
      case FusedOpcode::LoadPlane:
      case FusedOpcode::Gather:
        break;
      case FusedOpcode::LoadChannel:
      case FusedOpcode::Const:
      case FusedOpcode::MaskKey:
        uniform[k] = true;
        break;
      case FusedOpcode::Keep:
      case FusedOpcode::KeepSample:
        break;
      default:
        uniform[k] = ir::reads_only(in, uniform);
    }
  }
  return uniform;
}

// Where row `row` of an [R, C] tensor starts: "", "C + ", "2 * C + ".
std::string row_offset(int64_t row) {
  return row == 0 ? "" : row == 1 ? "C + " : fmt::format("{} * C + ", row);
}

std::string declare(const Emitter& e, const ir::FusedProgram& p, size_t k, bool dbl, const std::string& load,
                    std::string_view plane, std::string_view index) {
  const char* type = p.instrs[k].code == FusedOpcode::MaskKey ? "unsigned" : dbl ? "double" : "float";
  return fmt::format("const {} r{} = {};\n", type, k, fused_expression(e, p.instrs[k], dbl, load, plane, index));
}

bool draws_masks(const ir::FusedProgram& p) {
  return std::any_of(p.instrs.begin(), p.instrs.end(), [](const FusedInstr& in) { return in.code == FusedOpcode::MaskKey; });
}

// The dropout masks' hash (ir/random_mask.h), the same 32-bit unsigned operations the reference
// and the LLVM renderer compute, so the GPU draws the CPU's masks.
std::string mask_helpers() {
  namespace rm = ir::random_mask;
  return fmt::format(
      "  static __device__ __forceinline__ unsigned mix(unsigned x) {{\n"
      "    x ^= x >> 16;\n"
      "    x *= {}u;\n"
      "    x ^= x >> 15;\n"
      "    x *= {}u;\n"
      "    x ^= x >> 16;\n"
      "    return x;\n"
      "  }}\n"
      "  static __device__ __forceinline__ bool keeps(unsigned key, unsigned long long index, unsigned threshold) {{\n"
      "    return (mix(mix(key ^ (unsigned)index) ^ (unsigned)(index >> 32)) >> 8) >= threshold;\n"
      "  }}\n",
      rm::kMul1, rm::kMul2);
}

}  // namespace

std::string fused_expression(const Emitter& e, const FusedInstr& in, bool dbl, const std::string& load,
                       std::string_view plane, std::string_view index) {
  const std::string zero = dbl ? "0.0" : "0.0f";
  const auto reg = [](int32_t r) { return fmt::format("r{}", r); };
  switch (in.code) {
    case FusedOpcode::Load:
      return load;
    case FusedOpcode::LoadChannel:
      return fmt::format("{}{}", dbl ? "(double)" : "",
                         widened(e, e.in_index(static_cast<size_t>(in.a)),
                                 fmt::format("__ldg(in{} + {}c)", in.a, row_offset(in.b))));
    case FusedOpcode::Const:
      if (!std::isfinite(dbl ? in.value : static_cast<float>(in.value)))
        throw std::invalid_argument(fmt::format("CUDA emitter: {}: constant {} is not finite in {}", e.where(),
                                                in.value, dbl ? "double" : "float"));
      return dbl ? double_literal(in.value) : float_literal(in.value);
    case FusedOpcode::Add:
      return fmt::format("{} + {}", reg(in.a), reg(in.b));
    case FusedOpcode::Sub:
      return fmt::format("{} - {}", reg(in.a), reg(in.b));
    case FusedOpcode::Mul:
      return fmt::format("{} * {}", reg(in.a), reg(in.b));
    case FusedOpcode::Relu:
      return fmt::format("{0} > {1} ? {0} : {1}", reg(in.a), zero);
    case FusedOpcode::ReluMask:
      return fmt::format("{} > {} ? {} : {}", reg(in.b), zero, reg(in.a), zero);
    case FusedOpcode::Rsqrt:
      return fmt::format("{} / {}({})", dbl ? "1.0" : "1.0f", dbl ? "sqrt" : "sqrtf", reg(in.a));
    case FusedOpcode::LoadPlane:
      return fmt::format(
          "{}{}", dbl ? "(double)" : "",
          widened(e, e.in_index(static_cast<size_t>(in.a)), fmt::format("__ldg(in{} + {})", in.a, plane)));
    case FusedOpcode::Sigmoid:  // exp(-x) = +inf below about -88 (float) gives 0, never a NaN
      return fmt::format("{1} / ({1} + {2}(-{0}))", reg(in.a), dbl ? "1.0" : "1.0f", dbl ? "exp" : "expf");
    case FusedOpcode::Max:
      return fmt::format("{1} > {0} || {1} != {1} ? {1} : {0}", reg(in.a), reg(in.b));
    case FusedOpcode::Div:
      return fmt::format("{} / {}", reg(in.a), reg(in.b));
    case FusedOpcode::Sqrt:
      return fmt::format("{}({})", dbl ? "sqrt" : "sqrtf", reg(in.a));
    case FusedOpcode::Exp:
      return fmt::format("{}({})", dbl ? "exp" : "expf", reg(in.a));
    case FusedOpcode::MaskKey:
      return fmt::format("mix((unsigned)in{0}[0] ^ mix((unsigned)in{0}[1] ^ mix({1}u)))", in.a,
                         static_cast<uint32_t>(in.value));
    case FusedOpcode::Keep:
    case FusedOpcode::KeepSample: {
      namespace rm = ir::random_mask;
      const double scale = rm::scale(in.value);
      const std::string at = in.code == FusedOpcode::Keep ? std::string(index) : fmt::format("({}) / C", plane);
      return fmt::format("keeps({}, (unsigned long long)({}), {}u) ? {} * {} : {}", reg(in.b), at, rm::threshold(in.value),
                         reg(in.a), dbl ? double_literal(scale) : float_literal(scale), zero);
    }
    case FusedOpcode::Log:
      return fmt::format("{}({})", dbl ? "log" : "logf", reg(in.a));
    case FusedOpcode::Select:  // a NaN condition compares false: the else branch, as the reference
      return fmt::format("{} > {} ? {} : {}", reg(in.a), zero, reg(in.b), reg(in.c));
    case FusedOpcode::AtLabel:  // the row renderer's (loss.cpp)
    case FusedOpcode::OnLabel:
    case FusedOpcode::Gather:  // the map renderer's (gather_declaration, below)
      break;
  }
  throw std::invalid_argument(fmt::format("CUDA emitter: {}: unknown fused opcode", e.where()));
}

namespace {

// The element's coordinate on each axis of `space`, at0 ... from its index i.
std::string coordinates(const ir::Dims& space) {
  std::vector<std::string> axes;
  int64_t inner = 1;
  for (size_t axis = space.size(); axis-- > 0;) {
    const std::string index = inner == 1 ? "i" : fmt::format("i / {}", inner);
    axes.push_back(axis == 0 ? fmt::format("at0 = {}", index) : fmt::format("at{} = {} % {}", axis, index, space[axis]));
    inner *= space[axis];
  }
  return fmt::format("const I {};\n", fmt::join(axes, ", "));
}

// Gather instruction k: in<a> at the source of the element's coordinates, with only the checks
// that can fail; the load is conditional, so a missing source is never read.
std::string gather_declaration(const Emitter& e, const ir::FusedProgram& p, size_t k, const ir::Dims& space) {
  const FusedInstr& in = p.instrs[k];
  const auto input = static_cast<size_t>(in.a);
  std::vector<std::string> terms, checks;
  const std::vector<ir::GatherRead> reads = ir::gather_reads(p, in, space, e.in(input).shape);
  for (size_t axis = 0; axis < reads.size(); ++axis) {
    const ir::GatherRead& g = reads[axis];
    std::string scaled = fmt::format("at{}", axis);
    if (g.num != 1) scaled += fmt::format(" * {}", g.num);
    const std::string at = g.den == 1 ? scaled : fmt::format("{} / {}", scaled, g.den);
    if (g.off_grid) checks.push_back(fmt::format("{} % {} == 0", scaled, g.den));
    if (g.past_end) checks.push_back(fmt::format("{} < {}", at, g.extent));
    terms.push_back(g.stride == 1 ? at : fmt::format("{} * {}", at, g.stride));
  }
  const std::string load =
      widened(e, e.in_index(input), fmt::format("__ldg(in{} + {})", in.a, fmt::join(terms, " + ")));
  if (checks.empty()) return fmt::format("const float r{} = {};\n", k, load);
  return fmt::format("const float r{} = {} ? {} : 0.0f;\n", k, fmt::join(checks, " && "), load);
}

void emit_program(Emitter& e, const ir::FusedProgram& p, const ir::Dims& space) {
  if (p.results.empty()) throw std::invalid_argument(fmt::format("CUDA emitter: {}: no result", e.where()));
  const ir::FusedExtent extent = ir::fused_extent(space);
  const int64_t total = ir::numel(space), channels = extent.channels, inner = extent.plane;
  const std::vector<bool> live = live_instructions(p);
  // What each input is read as: elementwise (a Load) and/or per channel or plane (a parameter).
  std::vector<bool> loaded(e.kernel().inputs.size(), false), per_channel(e.kernel().inputs.size(), false),
      integer(e.kernel().inputs.size(), false);
  bool any_channel = false, any_gather = false;
  int64_t max_elements = total;
  for (size_t k = 0; k < p.instrs.size(); ++k) {
    if (!live[k]) continue;
    const FusedInstr& in = p.instrs[k];
    if (in.code == FusedOpcode::Gather) {
      per_channel.at(static_cast<size_t>(in.a)) = any_gather = true;
      max_elements = std::max(max_elements, ir::numel(e.in(static_cast<size_t>(in.a)).shape));
    }
    if (in.code == FusedOpcode::Load) loaded.at(static_cast<size_t>(in.a)) = true;
    if (in.code == FusedOpcode::LoadChannel) per_channel.at(static_cast<size_t>(in.a)) = any_channel = true;
    if (in.code == FusedOpcode::LoadPlane) per_channel.at(static_cast<size_t>(in.a)) = true;
    if (in.code == FusedOpcode::MaskKey) integer.at(static_cast<size_t>(in.a)) = true;
  }
  const std::string helpers = draws_masks(p) ? mask_helpers() : "";
  const std::string program = ir::format_program(p);

  if (!p.reduce) {
    using Mode = Elementwise::Mode;
    Elementwise w;
    w.family = any_gather ? "gather_map" : "fused_map";  // kernels are numbered per family
    w.comment = fmt::format("fused map over {}: {}", ir::format_dims(space), program);
    w.total = total;
    w.max_elements = max_elements;
    Members m;
    m.constant("C", channels).constant("INNER", inner);
    w.members = m.str() + helpers;
    for (size_t i = 0; i < loaded.size(); ++i) {
      if (loaded[i])
        w.streams.push_back({fmt::format("in{}", i), Mode::In, e.in_index(i)});
      else if (per_channel[i])
        w.extra.push_back({fmt::format("in{}", i), in_param(e, e.in_index(i)), e.in_index(i)});
      else if (integer[i])
        w.extra.push_back({fmt::format("in{}", i), ParamType::InInt, e.in_index(i)});
    }
    w.streams.push_back({"y", Mode::Out, e.out_index()});
    if (any_channel) w.code = "const int c = (int)((i / INNER) % C);\n";
    if (any_gather) w.code += coordinates(space);
    for (size_t k = 0; k < p.instrs.size(); ++k)
      if (live[k])
        w.code += p.instrs[k].code == FusedOpcode::Gather
                      ? gather_declaration(e, p, k, space)
                      : declare(e, p, k, false, fmt::format("in{}_v", p.instrs[k].a), "i / INNER", "i");
    w.code += fmt::format("y_v = r{};", p.results[0]);
    emit_elementwise_kernel(e, w);
    return;
  }

  if (any_gather) throw std::invalid_argument(fmt::format("CUDA emitter: {}: a reduction gathers", e.where()));
  const std::vector<bool> uniform = channel_uniform(p);
  ChannelReduce r;
  r.family = "fused_reduce";
  r.comment = fmt::format("fused reduction over {}: {}", ir::format_dims(space), program);
  r.C = channels, r.NB = extent.batch, r.HW = inner;
  r.nsum = static_cast<int>(p.results.size());
  Members m;
  m.constant("NB", extent.batch).constant("C", channels).constant("HW", inner).constant("COUNT", extent.batch * inner);
  r.members = m.str() + helpers;
  bool uses_idx = false;
  for (size_t k = 0; k < p.instrs.size(); ++k) {
    if (!live[k]) continue;
    const int32_t input = p.instrs[k].a;
    const std::string load =
        p.instrs[k].code == FusedOpcode::Load
            ? "(double)" + widened(e, e.in_index(static_cast<size_t>(input)), fmt::format("in{}[idx]", input))
            : std::string();
    const std::string line = declare(e, p, k, true, load, "idx / HW", "idx");
    (uniform[k] ? r.prologue : r.element) += line;
    uses_idx = uses_idx || p.instrs[k].code == FusedOpcode::Load || p.instrs[k].code == FusedOpcode::LoadPlane ||
               p.instrs[k].code == FusedOpcode::Keep || p.instrs[k].code == FusedOpcode::KeepSample;
  }
  if (!r.prologue.empty()) r.prologue.pop_back();
  if (!uses_idx) r.element += "(void)idx;\n";  // a sum of channel constants: count * value
  for (size_t q = 0; q < p.results.size(); ++q) {
    r.element += fmt::format("s[{}] += r{};\n", q, p.results[q]);
    r.finalize += fmt::format("y[{}c] = (float)tot[{}];\n", row_offset(static_cast<int64_t>(q)), q);
  }
  r.element.pop_back();
  r.finalize.pop_back();
  for (size_t i = 0; i < loaded.size(); ++i)
    if (loaded[i] || per_channel[i] || integer[i])
      r.params.push_back(
          {fmt::format("in{}", i), integer[i] ? ParamType::InInt : in_param(e, e.in_index(i)), e.in_index(i)});
  r.params.push_back({"y", ParamType::Out, e.out_index()});
  r.max_elements = total;
  e.need_workspace(emit_channel_reduce(e, r) * 4);
}

}  // namespace

void emit_fused(Emitter& e) { emit_program(e, e.attrs().program, e.attrs().shape); }

void emit_map(Emitter& e) {
  emit_program(e, ir::map_program(e.kernel().kind, e.attrs(), e.out().shape), e.out().shape);
}

}  // namespace resnetc::codegen::cuda::detail
