// The reference kernels of the kinds the optimization passes make: fused elementwise programs
// (maps and per-channel reductions) interpreted in double, and views. The elementwise kinds of
// the map table (ir/maps.def) run through the interpreter too, so the semantics of the scalar
// opcodes below, in double, are what every backend's rendering of them is checked against (the
// window renderers' combining opcodes too, reference/forward_ops.cpp). The Map kinds
// (ir/map_program.h: flatten, the option-A shortcut, ...) run here too.
#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "compiler/ir/fused_extent.h"
#include "compiler/ir/gather_map.h"
#include "compiler/ir/random_mask.h"
#include "compiler/reference/interpret.h"
#include "compiler/reference/ops.h"

namespace resnetc::reference::ops {

namespace {

// The logistic sigmoid 1 / (1 + exp(-x)), without overflow for large |x|.
double sigmoid(double x) {
  const double e = std::exp(-std::abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

// The dropout masks' key from (seed, step) and the salt, a 32-bit integer held exactly.
double mask_key(const TensorRef& rng, double salt) {
  namespace rm = ir::random_mask;
  return rm::key(static_cast<uint32_t>(static_cast<int64_t>(rng[0])), static_cast<uint32_t>(static_cast<int64_t>(rng[1])),
                 static_cast<uint32_t>(salt));
}

// x / (1 - rate) if the draw of `key` at counter `index` keeps it, else 0.
double keep(double x, double key, int64_t index, double rate) {
  namespace rm = ir::random_mask;
  return rm::keeps(rm::bits(static_cast<uint32_t>(key), static_cast<uint64_t>(index)), rm::threshold(rate))
             ? x / (1.0 - rate)
             : 0.0;
}

// Input x at the source of element i of `space` through a gather's per-axis reads (ir/gather_map.h),
// or 0 where some axis has none.
double gather(const TensorRef& x, const std::vector<ir::GatherRead>& reads, const ir::Dims& space, int64_t i) {
  int64_t source = 0;
  for (size_t axis = space.size(); axis-- > 0;) {
    const int64_t coord = i % space[axis] * reads[axis].num;
    i /= space[axis];
    const int64_t at = coord / reads[axis].den;
    if (coord % reads[axis].den != 0 || at >= reads[axis].extent) return 0;
    source += at * reads[axis].stride;
  }
  return x[source];
}

}  // namespace

double scalar_op(ir::FusedOpcode code, double a, double b, double c) {
  using ir::FusedOpcode;
  switch (code) {
    case FusedOpcode::Add: return a + b;
    case FusedOpcode::Sub: return a - b;
    case FusedOpcode::Mul: return a * b;
    case FusedOpcode::Relu: return a > 0 ? a : 0;
    case FusedOpcode::ReluMask: return b > 0 ? a : 0;
    case FusedOpcode::Rsqrt: return 1 / std::sqrt(a);
    case FusedOpcode::Sigmoid: return sigmoid(a);
    case FusedOpcode::Max: return b > a || std::isnan(b) ? b : a;
    case FusedOpcode::Div: return a / b;
    case FusedOpcode::Sqrt: return std::sqrt(a);
    case FusedOpcode::Exp: return std::exp(a);
    case FusedOpcode::Log: return std::log(a);
    case FusedOpcode::Select: return a > 0 ? b : c;
    case FusedOpcode::Load:
    case FusedOpcode::LoadChannel:
    case FusedOpcode::LoadPlane:
    case FusedOpcode::Const:
    case FusedOpcode::MaskKey:
    case FusedOpcode::Keep:
    case FusedOpcode::KeepSample:
    case FusedOpcode::AtLabel:
    case FusedOpcode::OnLabel:
    case FusedOpcode::Gather: break;
  }
  throw std::logic_error(fmt::format("reference: {} is not arithmetic", ir::fused_opcode_name(code)));
}

Buffer fused(std::span<const TensorRef> inputs, const ir::FusedProgram& program, const ir::Dims& space) {
  using ir::FusedOpcode;
  const int64_t total = ir::numel(space);
  const ir::FusedExtent extent = ir::fused_extent(space);
  const int64_t channels = extent.channels, inner = extent.plane;
  const auto rows = static_cast<int64_t>(program.results.size());
  Buffer out(static_cast<size_t>(program.reduce ? rows * channels : total), 0.0);
  std::vector<double> r(program.instrs.size());
  std::vector<std::vector<ir::GatherRead>> reads(program.instrs.size());
  for (size_t k = 0; k < program.instrs.size(); ++k)
    if (const ir::FusedInstr& in = program.instrs[k]; in.code == FusedOpcode::Gather)
      reads[k] = ir::gather_reads(program, in, space, inputs[static_cast<size_t>(in.a)].shape);
  for (int64_t i = 0; i < total; ++i) {
    const int64_t plane = i / inner, channel = plane % channels;
    interpret(program, r, [&](const ir::FusedInstr& in, size_t k, double a, double b) -> std::optional<double> {
      const auto x = [&]() -> const TensorRef& { return inputs[static_cast<size_t>(in.a)]; };  // a load's input
      switch (in.code) {
        case FusedOpcode::Load: return x()[i];
        case FusedOpcode::LoadChannel: return x()[in.b * channels + channel];
        case FusedOpcode::LoadPlane: return x()[plane];
        case FusedOpcode::MaskKey: return mask_key(x(), in.value);
        case FusedOpcode::Keep: return keep(a, b, i, in.value);
        case FusedOpcode::KeepSample: return keep(a, b, plane / channels, in.value);
        case FusedOpcode::Gather: return gather(x(), reads[k], space, i);
        default: return std::nullopt;
      }
    });
    if (program.reduce) {
      for (int64_t row = 0; row < rows; ++row)
        out[static_cast<size_t>(row * channels + channel)] += r[static_cast<size_t>(program.results[static_cast<size_t>(row)])];
    } else {
      out[static_cast<size_t>(i)] = r[static_cast<size_t>(program.results[0])];
    }
  }
  return out;
}

Buffer view(const TensorRef& x, int64_t offset, int64_t count) {
  auto first = x.data.begin() + offset;
  return Buffer(first, first + count);
}

}  // namespace resnetc::reference::ops
