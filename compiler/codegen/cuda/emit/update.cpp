// The update renderer: sgd_update, sgd_momentum_update, adamw_update, bn_running_update and the
// groups the passes make of them, each rendered from its ir::UpdateRule through the scalar
// opcodes' one table (fused_expression), so no kind is named here. Per element, a grid-stride
// loop (float4 where the member's arrays allow) runs the member's program in float and writes
// its results in place; the run-time scalars (the learning rate, AdamW's step count) are read
// from their [1] buffers once per thread, then the rule's prologue (AdamW's bias corrections)
// runs in double.
// A group of updates (made by the passes) is one launch: each member a range of blocks that
// runs its program's loop over that member (emit_update_group).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"
#include "compiler/ir/ops.h"
#include "compiler/ir/update_rule.h"

namespace resnetc::codegen::cuda::detail {
namespace {

// `if (b < FIRST) ... else ...` down to one member, so a block finds its member in
// log2(members) uniform branches.
std::string member_tree(const std::vector<GroupMember>& group, const std::vector<int64_t>& first, size_t lo,
                        size_t hi) {
  if (hi - lo == 1)
    return subst(group[lo].call, {{"B", first[lo] == 0 ? std::string("b") : fmt::format("b - {}", first[lo])}});
  const size_t mid = (lo + hi) / 2;
  return fmt::format("if (b < {}) {{\n{}\n}} else {{\n{}\n}}", first[mid],
                     indent_lines(member_tree(group, first, lo, mid), "  "),
                     indent_lines(member_tree(group, first, mid, hi), "  "));
}

void emit_group_launch(Emitter& e, const UpdateGroup& g, size_t lo, size_t hi) {
  std::vector<GroupMember> part(g.group.begin() + static_cast<std::ptrdiff_t>(lo),
                                g.group.begin() + static_cast<std::ptrdiff_t>(hi));
  std::vector<int64_t> first;
  int64_t blocks = 0;
  KernelSource s;
  s.params = g.shared;
  for (const GroupMember& m : part) {
    first.push_back(blocks);
    blocks += m.blocks;
    s.params.insert(s.params.end(), m.params.begin(), m.params.end());
  }
  if (blocks > 0x7fffffff) throw std::invalid_argument(fmt::format("CUDA emitter: {}: over 2^31 blocks", e.where()));
  s.family = g.family;
  s.comment =
      lo == 0 && hi == g.group.size()
          ? fmt::format("{}: {} members in {} blocks", g.comment, part.size(), blocks)
          : fmt::format("{}: members {} to {} of {}, in {} blocks", g.comment, lo, hi - 1, g.group.size(), blocks);
  s.members = g.members;
  s.body = g.prologue + "const int b = blockIdx.x;\n" + member_tree(part, first, 0, part.size()) + "\n";
  s.threads = g.threads;
  s.grid[0] = static_cast<unsigned>(blocks);
  e.launch(std::move(s));
}

}  // namespace

void emit_update_group(Emitter& e, const UpdateGroup& g) {
  size_t lo = 0, params = g.shared.size();
  for (size_t m = 0; m < g.group.size(); ++m) {
    const size_t more = g.group[m].params.size();
    if (m > lo && params + more > kMaxKernelParams) {
      emit_group_launch(e, g, lo, m);
      lo = m;
      params = g.shared.size();
    }
    params += more;
  }
  if (lo < g.group.size()) emit_group_launch(e, g, lo, g.group.size());
}

namespace {

using ir::FusedOpcode;
using Mode = Elementwise::Mode;

// The scalars as `s0`, `s1`, ...: input s read from parameter `scalar{s}`, then the prologue's
// results, computed in double in a block of their own.
std::string scalars_prologue(const Emitter& e, const ir::UpdateRule& r) {
  std::string code;
  for (size_t s = 0; s < r.scalars.size(); ++s) code += fmt::format("const float s{0} = scalar{0}[0];\n", s);
  if (r.prologue.empty()) return code;
  std::vector<std::string> names;
  for (size_t q = 0; q < r.prologue.results.size(); ++q) names.push_back(fmt::format("s{}", r.scalars.size() + q));
  code += fmt::format("float {};\n{{\n", fmt::join(names, ", "));
  for (size_t k = 0; k < r.prologue.instrs.size(); ++k) {
    const ir::FusedInstr& in = r.prologue.instrs[k];
    const std::string value = in.code == FusedOpcode::LoadChannel ? fmt::format("(double)s{}", in.a)
                                                                   : fused_expression(e, in, true, "", "");
    code += fmt::format("  const double r{} = {};\n", k, value);
  }
  for (size_t q = 0; q < names.size(); ++q)
    code += fmt::format("  {} = (float)r{};\n", names[q], r.prologue.results[q]);
  return code + "}\n";
}

// The streams of a member (array j as `a{j}`): the arrays it loads at the element or writes;
// `buffer(j)` is array j's parameter's buffer (-1 in a group's member function).
std::vector<Elementwise::Stream> member_streams(const ir::UpdateRule::Member& m, const std::function<int(size_t)>& buffer) {
  std::vector<bool> loads(m.arrays.size()), writes(m.arrays.size());
  for (const ir::FusedInstr& in : m.element.instrs)
    if (in.code == FusedOpcode::Load) loads.at(static_cast<size_t>(in.a)) = true;
  for (int32_t j : m.writes) writes.at(static_cast<size_t>(j)) = true;
  std::vector<Elementwise::Stream> streams;
  for (size_t j = 0; j < m.arrays.size(); ++j)
    if (loads[j] || writes[j])
      streams.push_back({fmt::format("a{}", j), loads[j] && writes[j] ? Mode::InOut : writes[j] ? Mode::Out : Mode::In,
                         buffer(j)});
  return streams;
}

// The arrays a member reads by row only (BatchNorm's [2, C] statistics): parameters, not streams.
std::vector<size_t> row_arrays(const ir::UpdateRule::Member& m, const std::vector<Elementwise::Stream>& streams) {
  std::vector<size_t> rows;
  for (size_t j = 0; j < m.arrays.size(); ++j) {
    const std::string name = fmt::format("a{}", j);
    if (std::none_of(streams.begin(), streams.end(), [&](const Elementwise::Stream& s) { return s.name == name; }))
      rows.push_back(j);
  }
  return rows;
}

// A member's program at one element, N its elements: registers r0, r1, ... then the stores
// into the streams' values.
std::string element_code(const Emitter& e, const ir::UpdateRule::Member& m) {
  const auto arrays = static_cast<int32_t>(m.arrays.size());
  std::string code;
  for (size_t k = 0; k < m.element.instrs.size(); ++k) {
    const ir::FusedInstr& in = m.element.instrs[k];
    std::string value;
    if (in.code == FusedOpcode::LoadChannel)
      value = in.a >= arrays ? fmt::format("s{}", in.a - arrays)
                             : fmt::format("a{}[{}i]", in.a, in.b == 0 ? "" : fmt::format("{} * N + ", in.b));
    else
      value = fused_expression(e, in, false, fmt::format("a{}_v", in.a), "");
    code += fmt::format("const float r{} = {};\n", k, value);
  }
  for (size_t q = 0; q < m.writes.size(); ++q)
    code += fmt::format("a{}_v = r{};\n", m.writes[q], m.element.results[q]);
  code.pop_back();
  return code;
}

std::string describe(const ir::UpdateRule& r, const ir::UpdateRule::Member& m) {
  std::string writes;
  for (int32_t j : m.writes) writes += fmt::format("{}a{}", writes.empty() ? "" : ",", j);
  return fmt::format("{}{} into {}", r.prologue.empty() ? "" : "scalars " + ir::format_program(r.prologue) + "; ",
                     ir::format_program(m.element), writes);
}

void emit_single(Emitter& e, const ir::UpdateRule& r) {
  const ir::UpdateRule::Member& m = r.members.at(0);
  Elementwise w;
  w.family = std::string(ir::op_kind_name(e.kernel().kind));
  w.comment = describe(r, m);
  w.streams = member_streams(m, [&](size_t j) { return e.in_index(static_cast<size_t>(m.arrays[j])); });
  w.total = ir::numel(e.in(static_cast<size_t>(m.arrays[0])).shape);
  for (int32_t input : m.arrays) w.max_elements = std::max(w.max_elements, ir::numel(e.in(static_cast<size_t>(input)).shape));
  for (size_t j : row_arrays(m, w.streams))
    w.extra.push_back({fmt::format("a{}", j), ParamType::In, e.in_index(static_cast<size_t>(m.arrays[j]))});
  for (size_t s = 0; s < r.scalars.size(); ++s)
    w.extra.push_back({fmt::format("scalar{}", s), ParamType::In, e.in_index(static_cast<size_t>(r.scalars[s]))});
  Members h;
  h.constant("N", w.total);
  w.members = h.str();
  w.prologue = scalars_prologue(e, r);
  w.code = element_code(e, m);
  emit_elementwise_kernel(e, w);
}

// A group: every member a range of blocks running its program's loop (float4 or not); members
// with the same program share its functions.
void emit_group(Emitter& e, const ir::UpdateRule& r) {
  const plan::Kernel& k = e.kernel();
  UpdateGroup g;
  g.family = std::string(ir::op_kind_name(k.kind));
  for (size_t s = 0; s < r.scalars.size(); ++s)
    g.shared.push_back({fmt::format("scalar{}", s), ParamType::In, e.in_index(static_cast<size_t>(r.scalars[s]))});
  g.prologue = scalars_prologue(e, r);
  const size_t scalars = r.scalars.size() + r.prologue.results.size();
  std::vector<const ir::UpdateRule::Member*> programs;  // the distinct ones
  std::vector<std::pair<bool, bool>> forms;             // per program: scalar loop used, float4 loop used
  int64_t largest = 0;
  for (size_t member = 0; member < r.members.size(); ++member) {
    const ir::UpdateRule::Member& m = r.members[member];
    auto same = [&](const ir::UpdateRule::Member* p) { return p->element == m.element && p->writes == m.writes; };
    const auto found = std::find_if(programs.begin(), programs.end(), same);
    const size_t program = static_cast<size_t>(found - programs.begin());
    if (found == programs.end()) {
      programs.push_back(&m);
      forms.emplace_back(false, false);
    }
    const int64_t n = ir::numel(e.in(static_cast<size_t>(m.arrays[0])).shape);
    for (int32_t input : m.arrays) largest = std::max(largest, ir::numel(e.in(static_cast<size_t>(input)).shape));
    GroupMember gm;
    bool vec = n % 4 == 0;
    const std::vector<Elementwise::Stream> streams = member_streams(m, [](size_t) { return -1; });
    for (size_t j = 0; j < m.arrays.size(); ++j) {
      const auto input = static_cast<size_t>(m.arrays[j]);
      const bool written = ir::writes_input(k.kind, input);
      const bool stream = std::any_of(streams.begin(), streams.end(),
                                      [&](const Elementwise::Stream& s) { return s.name == fmt::format("a{}", j); });
      if (stream) vec = vec && aligned16(e, e.in_index(input));
      gm.params.push_back({fmt::format("a{}_{}", j, member), written ? ParamType::Out : ParamType::In, e.in_index(input)});
    }
    (vec ? forms[program].second : forms[program].first) = true;
    gm.blocks = e.grid_stride(vec ? n / 4 : n, 256);
    std::string args;
    for (const Param& p : gm.params) args += p.name + ", ";
    for (size_t s = 0; s < scalars; ++s) args += fmt::format("s{}, ", s);
    gm.call = fmt::format("member{}{}<{}, {}>({}$B);", program, vec ? "_4" : "", n, gm.blocks, args);
    g.group.push_back(std::move(gm));
  }
  g.comment = describe(r, *programs[0]);
  Members h;
  h.text(fmt::format("  using I = {};\n", index_type(largest))).constant("THREADS", 256);
  for (size_t program = 0; program < programs.size(); ++program) {
    const ir::UpdateRule::Member& m = *programs[program];
    Elementwise w;
    w.streams = member_streams(m, [](size_t) { return -1; });
    w.code = element_code(e, m);
    std::string signature;
    for (size_t j = 0; j < m.arrays.size(); ++j) {
      const bool written = std::find(m.writes.begin(), m.writes.end(), static_cast<int32_t>(j)) != m.writes.end();
      signature += fmt::format("{} a{}, ", written ? "float* __restrict__" : "const float* __restrict__", j);
    }
    for (size_t s = 0; s < scalars; ++s) signature += fmt::format("float s{}, ", s);
    // One member's N elements, by the BLOCKS blocks of its range (`block` the index among them).
    for (bool vec : {false, true})
      if (vec ? forms[program].second : forms[program].first)
        h.text(fmt::format("  template <I N, int BLOCKS>\n"
                           "  static __device__ __forceinline__ void member{}{}({}int block) {{\n{}\n  }}\n",
                           program, vec ? "_4" : "", signature,
                           indent_lines(elementwise_loop(w, vec, "N", "(I)block", "(I)BLOCKS"), "    ")));
  }
  g.members = h.str();
  emit_update_group(e, g);
}

}  // namespace

void emit_update(Emitter& e) {
  const plan::Kernel& k = e.kernel();
  std::vector<ir::Dims> shapes;
  for (size_t i = 0; i < k.inputs.size(); ++i) shapes.push_back(e.in(i).shape);
  ir::UpdateRule r;
  try {
    r = ir::update_rule(k.kind, k.attrs, shapes);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(fmt::format("CUDA emitter: {}: {}", e.where(), error.what()));
  }
  if (ir::op_info(k.kind).group != 0) return emit_group(e, r);
  emit_single(e, r);
}

}  // namespace resnetc::codegen::cuda::detail
