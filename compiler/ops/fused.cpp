// The fused family: `fused`, the elementwise maps and per-channel reductions the optimization
// passes build as one program over a small scalar instruction set (ir::FusedProgram). Everything
// about this kind that is not a backend kernel, one section per layer (compiler/ops/family.h):
// its shape rule, parameters and kind checks; its gradient (the passes make it after autodiff,
// so it has none); how the reference executor interprets the program (reference/fused_ops.cpp).
#include "compiler/ops/family.h"

#if defined(RESNETC_OPS_IR)
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "compiler/ir/fused_extent.h"
#include "compiler/ir/shape_rules/checks.h"
#include "compiler/ir/shape_rules/rules.h"
#include "compiler/ir/verify/kind_checks.h"

namespace resnetc::ir {
namespace shape_rules {

// A fused program must be straight-line code over registers defined before their use, loading
// inputs that exist and fit the iteration space. Only a map loading nothing per channel or plane
// may run over a space without a channel axis.
ShapeResult Fused(std::span<const Dims> d, const Attrs& a) {
  const Dims& space = a.shape;
  const FusedProgram& p = a.program;
  if (space.size() < 2) {
    const bool per_channel = std::any_of(p.instrs.begin(), p.instrs.end(), [](const FusedInstr& in) {
      return in.code == FusedOpcode::LoadChannel || in.code == FusedOpcode::LoadPlane;
    });
    if (p.reduce || per_channel)
      return fail(fmt::format("fused: the iteration space {} has no channel axis", format_dims(space)));
  }
  const int64_t channels = fused_extent(space).channels;
  const auto count = static_cast<int32_t>(p.instrs.size());
  for (int32_t i = 0; i < count; ++i) {
    const FusedInstr& in = p.instrs[static_cast<size_t>(i)];
    auto bad = [&](std::string_view why) { return fail(fmt::format("fused: instruction r{}: {}", i, why)); };
    if (static_cast<uint8_t>(in.code) > static_cast<uint8_t>(kLastFusedOpcode)) return bad("unknown opcode");
    if (in.code == FusedOpcode::AtLabel || in.code == FusedOpcode::OnLabel)
      return bad(fmt::format("{} reads a row's label: only a loss's row reduction has one", fused_opcode_name(in.code)));
    // The fusion passes treat every load as reading the element's own index; a gather reads
    // others', so only a Map kind's program (ir/map_program.h) has one, never a pass's.
    if (in.code == FusedOpcode::Gather) return bad("gather reads other elements: only a Map kind's program may");
    if ((reads_register_a(in.code) && (in.a < 0 || in.a >= i)) || (reads_register_b(in.code) && (in.b < 0 || in.b >= i)) ||
        (reads_register_c(in.code) && (in.c < 0 || in.c >= i)))
      return bad("reads a register not defined before it");
    if (in.code == FusedOpcode::MaskKey &&
        (in.a < 0 || static_cast<size_t>(in.a) >= d.size() || d[static_cast<size_t>(in.a)] != Dims{2}))
      return bad(fmt::format("mask_key reads input {}, not the [2] seed and step", in.a));
    if (in.code == FusedOpcode::MaskKey && !(in.value >= 0 && in.value < 4294967296.0 && in.value == std::floor(in.value)))
      return bad(fmt::format("mask_key's salt {} is not a 32-bit unsigned integer", in.value));
    if ((in.code == FusedOpcode::Keep || in.code == FusedOpcode::KeepSample) && !(in.value >= 0 && in.value < 1))
      return bad(fmt::format("{}'s drop rate {} is not in [0, 1)", fused_opcode_name(in.code), in.value));
    if (in.code == FusedOpcode::Load || in.code == FusedOpcode::LoadChannel || in.code == FusedOpcode::LoadPlane) {
      if (in.a < 0 || static_cast<size_t>(in.a) >= d.size()) return bad(fmt::format("loads input {}, of {}", in.a, d.size()));
      if (reads_mask_key(p, in.a)) return bad(fmt::format("loads input {}, the int32 seed and step of a mask_key", in.a));
      const Dims& src = d[static_cast<size_t>(in.a)];
      if (in.code == FusedOpcode::Load && numel(src) != numel(space))
        return bad(fmt::format("loads {} elementwise over the space {}", format_dims(src), format_dims(space)));
      if (in.code == FusedOpcode::LoadChannel) {
        const bool row_ok = (src.size() == 1 && src[0] == channels && in.b == 0) ||
                            (src.size() == 2 && src[1] == channels && in.b >= 0 && in.b < src[0]);
        if (!row_ok)
          return bad(fmt::format("loads row {} of {} per channel of {}", in.b, format_dims(src), format_dims(space)));
      }
      if (in.code == FusedOpcode::LoadPlane) {
        const bool plane_ok = (src.size() == 2 || (src.size() == 4 && src[2] == 1 && src[3] == 1)) &&
                              src[0] == space[0] && src[1] == channels;
        if (!plane_ok) return bad(fmt::format("loads {} per sample and channel of {}", format_dims(src), format_dims(space)));
      }
    }
  }
  if (p.results.empty() || (!p.reduce && p.results.size() != 1))
    return fail(fmt::format("fused: a {} has {} results", p.reduce ? "reduction" : "map", p.results.size()));
  for (int32_t r : p.results)
    if (r < 0 || r >= count) return fail(fmt::format("fused: result r{} is not a register", r));
  if (p.reduce) return {{static_cast<int64_t>(p.results.size()), channels}, {}};
  return {space, {}};
}

}  // namespace shape_rules

namespace param_rules {
RESNETC_NO_PARAMS(Fused)
}  // namespace param_rules

namespace kind_checks {
RESNETC_NO_KIND_CHECKS(Fused)
}  // namespace kind_checks
}  // namespace resnetc::ir

#elif defined(RESNETC_OPS_AUTODIFF)
#include "compiler/autodiff/gradients/rule.h"

namespace resnetc::autodiff::gradients {

RESNETC_NOT_DIFFERENTIABLE(Fused)

}  // namespace resnetc::autodiff::gradients

#elif defined(RESNETC_OPS_REFERENCE)
#include "compiler/reference/run.h"

namespace resnetc::reference::run {

ops::Buffer Fused(const OpArgs& args) {
  std::vector<ops::TensorRef> inputs;
  for (size_t i = 0; i < args.input_count(); ++i) inputs.push_back(args.in(i));
  return ops::fused(inputs, args.attrs.program, args.attrs.shape);
}

}  // namespace resnetc::reference::run
#endif
