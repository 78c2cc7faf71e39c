// The channel-reduction renderer: the PerChannel kinds (the BatchNorm family's and bias_grad),
// each rendered from its ir::ChannelReduction through the scalar opcodes' one table
// (fused_expression) onto the per-channel reduction kernels (emit_channel_reduce: chunks,
// partial sums in the workspace added in order by a second pass), in double. The terms'
// registers that depend on the channel only are computed once per block, outside the element
// loop; the finalize's once per channel (without terms, by a kernel of one thread a channel). A
// map is then an elementwise kernel in float that reads the finalize's results, which the
// reduction left at the workspace's start.
#include <fmt/format.h>

#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"
#include "compiler/ir/channel_reduction.h"
#include "compiler/ir/fused_extent.h"

namespace resnetc::codegen::cuda::detail {
namespace {

using ir::FusedOpcode;

// Where row `row` of an [R, C] tensor starts: "", "C + ", "2 * C + ".
std::string row_offset(int64_t row) {
  return row == 0 ? "" : row == 1 ? "C + " : fmt::format("{} * C + ", row);
}

// Nothing to sum (a per-channel map): r's finalize alone, one thread a channel, into the
// coefficients. Returns the workspace floats it uses after r.workspace_offset: none.
int64_t emit_finalize(Emitter& e, const ChannelReduce& r) {
  Members m;
  m.text(r.members);
  m.constant("THREADS", 128);
  KernelSource k;
  k.family = r.family;
  k.comment = r.comment;
  k.members = m.str();
  k.body = "const int c = blockIdx.x * THREADS + threadIdx.x;\nif (c < C) {\n" + indent_lines(r.finalize, "  ") + "\n}";
  k.params = r.params;
  k.params.push_back({"ws", ParamType::Out, kWorkspace});
  k.threads = 128;
  k.grid[0] = static_cast<unsigned>(ceil_div(r.C, 128));
  e.launch(std::move(k));
  return 0;
}

// The map of `d` at every element of `space`, in float: an elementwise kernel over the inputs it
// loads, reading the kind's channel rows and the coefficients the reduction left in the workspace.
void emit_map(Emitter& e, const ir::ChannelReduction& d, const ir::Dims& space, const std::string& members) {
  using Mode = Elementwise::Mode;
  const size_t inputs = e.kernel().inputs.size();
  std::vector<bool> loaded(inputs, false), per_channel(inputs, false);
  Elementwise w;
  w.family = std::string(ir::op_kind_name(e.kernel().kind));
  w.comment = fmt::format("{} over {}: {} at each element", w.family, ir::format_dims(space), ir::format_program(d.map));
  w.members = members;
  w.total = ir::numel(space);
  w.max_elements = w.total;
  w.code = "const int c = (int)((i / HW) % C);\n";
  for (size_t i = 0; i < d.map.instrs.size(); ++i) {
    const ir::FusedInstr& in = d.map.instrs[i];
    std::string rhs;
    if (in.code == FusedOpcode::LoadChannel && in.a == d.coefficients()) {
      rhs = fmt::format("ws[NCOEF * c + {}]", in.b);
    } else {
      if (in.code == FusedOpcode::Load) loaded.at(static_cast<size_t>(in.a)) = true;
      if (in.code == FusedOpcode::LoadChannel) per_channel.at(static_cast<size_t>(in.a)) = true;
      if (in.code == FusedOpcode::LoadPlane) throw std::logic_error("CUDA emitter: a channel reduction reads no plane");
      rhs = fused_expression(e, in, false, fmt::format("in{}_v", in.a), "");
    }
    w.code += fmt::format("const float r{} = {};\n", i, rhs);
  }
  w.code += fmt::format("y_v = r{};", d.map.results.at(0));
  for (size_t i = 0; i < inputs; ++i) {
    if (loaded[i])
      w.streams.push_back({fmt::format("in{}", i), Mode::In, e.in_index(i)});
    else if (per_channel[i])
      w.extra.push_back({fmt::format("in{}", i), in_param(e, e.in_index(i)), e.in_index(i)});
  }
  w.streams.push_back({"y", Mode::Out, e.out_index()});
  w.extra.push_back({"ws", ParamType::In, kWorkspace});
  emit_elementwise_kernel(e, w);
}

}  // namespace

void emit_channel_reduction(Emitter& e) {
  const plan::Kernel& k = e.kernel();
  std::vector<ir::Dims> shapes;
  for (size_t i = 0; i < k.inputs.size(); ++i) shapes.push_back(e.in(i).shape);
  const ir::ChannelReduction d = ir::channel_reduction(k.kind, k.attrs, shapes);
  const ir::Dims& space = shapes.at(static_cast<size_t>(d.space_input));
  const ir::FusedExtent g = ir::fused_extent(space);
  const std::string shift = "(double)" + widened(e, e.in_index(static_cast<size_t>(d.space_input)),
                                                 fmt::format("in{}[(I)c * HW]", d.space_input));
  std::vector<bool> read(k.inputs.size(), false);
  // Instruction i of `p`: a pseudo-operand (the shift, the sums) here, the rest by the table.
  auto line = [&](const ir::FusedProgram& p, size_t i) {
    const ir::FusedInstr& in = p.instrs[i];
    std::string rhs;
    if (in.code == FusedOpcode::LoadChannel && in.a == d.shift()) {
      rhs = shift;
      read.at(static_cast<size_t>(d.space_input)) = true;
    } else if (in.code == FusedOpcode::LoadChannel && in.a == d.sums()) {
      rhs = fmt::format("tot[{}]", in.b);
    } else {
      if (in.code == FusedOpcode::Load || in.code == FusedOpcode::LoadChannel)
        read.at(static_cast<size_t>(in.a)) = true;
      if (in.code == FusedOpcode::LoadPlane) throw std::logic_error("CUDA emitter: a channel reduction reads no plane");
      const std::string load =
          in.code == FusedOpcode::Load
              ? "(double)" + widened(e, e.in_index(static_cast<size_t>(in.a)), fmt::format("in{}[idx]", in.a))
              : std::string();
      rhs = fused_expression(e, in, true, load, "");
    }
    return fmt::format("const double r{} = {};\n", i, rhs);
  };

  const bool map = !d.map.empty();
  const auto ncoef = static_cast<int64_t>(d.finalize.results.size());
  ChannelReduce r;
  const bool sums = !d.terms.empty();
  r.family = std::string(ir::op_kind_name(k.kind)) + (!map ? "" : sums ? "_sums" : "_coefficients");
  r.comment = sums ? fmt::format("{} over {}: per channel the sums of {}, then {}", r.family, ir::format_dims(space),
                                 ir::format_program(d.terms), ir::format_program(d.finalize))
                   : fmt::format("{} of {}: per channel {}", r.family, ir::format_dims(space),
                                 ir::format_program(d.finalize));
  r.C = g.channels, r.NB = g.batch, r.HW = g.plane;
  r.nsum = static_cast<int>(d.terms.results.size());
  Members m;
  m.constant("NB", g.batch).constant("C", g.channels).constant("HW", g.plane).constant("COUNT", g.batch * g.plane);
  r.members = m.str();
  // Uniform: the channel's loads, constants and what is computed from them alone.
  std::vector<bool> uniform(d.terms.instrs.size());
  for (size_t i = 0; i < d.terms.instrs.size(); ++i) {
    const ir::FusedInstr& in = d.terms.instrs[i];
    if (in.code == FusedOpcode::Load) continue;
    uniform[i] = in.code == FusedOpcode::LoadChannel || in.code == FusedOpcode::Const ||
                 ir::reads_only(in, uniform);
    if (uniform[i]) r.prologue += line(d.terms, i);
  }
  for (size_t i = 0; i < d.terms.instrs.size(); ++i)
    if (!uniform[i]) r.element += line(d.terms, i);
  for (size_t q = 0; q < d.terms.results.size(); ++q)
    r.element += fmt::format("s[{}] += r{};\n", q, d.terms.results[q]);
  for (size_t i = 0; i < d.finalize.instrs.size(); ++i) r.finalize += line(d.finalize, i);
  for (size_t q = 0; q < d.finalize.results.size(); ++q)
    r.finalize += map ? fmt::format("ws[NCOEF * c + {}] = (float)r{};\n", q, d.finalize.results[q])
                      : fmt::format("y[{}c] = (float)r{};\n", row_offset(static_cast<int64_t>(q)), d.finalize.results[q]);
  if (!r.prologue.empty()) r.prologue.pop_back();
  if (!r.element.empty()) r.element.pop_back();
  r.finalize.pop_back();
  for (size_t i = 0; i < read.size(); ++i)
    if (read[i]) r.params.push_back({fmt::format("in{}", i), in_param(e, e.in_index(i)), e.in_index(i)});
  r.max_elements = ir::numel(space);
  if (!map) {
    r.params.push_back({"y", ParamType::Out, e.out_index()});
    e.need_workspace(emit_channel_reduce(e, r) * 4);
    return;
  }
  // The coefficients [C, NCOEF] first, the chunks' double sums after them, 8-byte aligned.
  m.constant("NCOEF", ncoef);
  r.members = m.str();
  r.workspace_offset = ceil_div(g.channels * ncoef, 2) * 2;
  e.need_workspace((r.workspace_offset + (sums ? emit_channel_reduce(e, r) : emit_finalize(e, r))) * 4);
  emit_map(e, d, space, m.str());
}

}  // namespace resnetc::codegen::cuda::detail
