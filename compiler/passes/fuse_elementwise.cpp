// Elementwise fusion. First the ops with an elementwise form (ir::elementwise_form: BatchNorm's
// bn_apply and inference batchnorm) become fused maps (lower-maps made the others maps at every
// level); then, in topological order, a fused map is inlined into the
// fused ops that read it (maps and per-channel reductions over the same space), so its result
// never goes to memory:
//   bn_apply -> add -> relu            one kernel (forward BatchNorm, residual add, activation)
//   add -> relu_grad -> grad_sums      the gradient accumulation and relu's gradient computed
//                                      inside BatchNorm's backward reduction and input gradient
//   bn_apply -> relu -> dropout_mask   the mask drawn where the activation is computed
// A map with one reader is always inlined. A map with several readers is recomputed by each
// only when it loads at most two tensors, which bounds the extra reads.
#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "compiler/ir/elementwise_form.h"
#include "compiler/passes/graph_edit.h"
#include "compiler/passes/pass.h"

namespace resnetc::passes {

namespace {

using ir::FusedInstr;
using ir::FusedOpcode;
using ir::FusedProgram;

constexpr size_t kMaxRecomputedLoads = 2;

// Instructions appended with value numbering, so loads and arithmetic that two merged programs
// share are computed once.
class Emitter {
 public:
  int32_t push(FusedInstr in) {
    auto key = std::tuple{in.code, in.a, in.b, in.c, in.value};
    auto [it, inserted] = seen_.emplace(key, static_cast<int32_t>(instrs_.size()));
    if (inserted) instrs_.push_back(in);
    return it->second;
  }
  std::vector<FusedInstr> take() { return std::move(instrs_); }

 private:
  std::vector<FusedInstr> instrs_;
  std::map<std::tuple<FusedOpcode, int32_t, int32_t, int32_t, double>, int32_t> seen_;
};

// Whether instruction `code` names an input in `a` (a mask key its (seed, step)).
bool loads_input(FusedOpcode code) {
  return code == FusedOpcode::Load || code == FusedOpcode::LoadChannel || code == FusedOpcode::LoadPlane ||
         code == FusedOpcode::MaskKey;
}

// Copies `from`'s instructions into `out`: inputs through `input_map`, registers through the
// returned table (`replaced[k] >= 0`: register k is that register instead, no instruction).
std::vector<int32_t> append(Emitter& out, const FusedProgram& from, const std::vector<int32_t>& input_map,
                            const std::vector<int32_t>& replaced) {
  std::vector<int32_t> reg(from.instrs.size());
  for (size_t k = 0; k < from.instrs.size(); ++k) {
    if (replaced[k] >= 0) {
      reg[k] = replaced[k];
      continue;
    }
    FusedInstr in = from.instrs[k];
    if (loads_input(in.code)) {
      in.a = input_map[static_cast<size_t>(in.a)];
    } else {
      if (ir::reads_register_a(in.code)) in.a = reg[static_cast<size_t>(in.a)];
      if (ir::reads_register_b(in.code)) in.b = reg[static_cast<size_t>(in.b)];
      if (ir::reads_register_c(in.code)) in.c = reg[static_cast<size_t>(in.c)];
    }
    reg[k] = out.push(in);
  }
  return reg;
}

// Inlines the fused map `p` into the fused op `u`, which reads p's output only through loads.
void inline_into(ir::Op& u, const ir::Op& p) {
  std::vector<ir::ValueId> inputs;
  auto index_of = [&](ir::ValueId v) {
    auto it = std::find(inputs.begin(), inputs.end(), v);
    if (it != inputs.end()) return static_cast<int32_t>(it - inputs.begin());
    inputs.push_back(v);
    return static_cast<int32_t>(inputs.size() - 1);
  };
  std::vector<int32_t> u_inputs(u.inputs.size(), -1), p_inputs(p.inputs.size());
  for (size_t i = 0; i < u.inputs.size(); ++i)
    if (u.inputs[i] != p.output) u_inputs[i] = index_of(u.inputs[i]);
  for (size_t i = 0; i < p.inputs.size(); ++i) p_inputs[i] = index_of(p.inputs[i]);

  Emitter out;
  const FusedProgram& pp = p.attrs.program;
  const std::vector<int32_t> p_reg = append(out, pp, p_inputs, std::vector<int32_t>(pp.instrs.size(), -1));
  const int32_t p_result = p_reg[static_cast<size_t>(pp.results[0])];
  FusedProgram& up = u.attrs.program;
  std::vector<int32_t> replaced(up.instrs.size(), -1);
  for (size_t k = 0; k < up.instrs.size(); ++k)
    if (up.instrs[k].code == FusedOpcode::Load && u.inputs[static_cast<size_t>(up.instrs[k].a)] == p.output)
      replaced[k] = p_result;
  const std::vector<int32_t> u_reg = append(out, up, u_inputs, replaced);
  for (int32_t& r : up.results) r = u_reg[static_cast<size_t>(r)];
  up.instrs = out.take();
  u.inputs = std::move(inputs);
}

bool draws_masks(const ir::Op& op) {
  return std::any_of(op.attrs.program.instrs.begin(), op.attrs.program.instrs.end(),
                     [](const FusedInstr& in) { return in.code == FusedOpcode::MaskKey; });
}

// Whether `u` can take `p` inline: a fused op over the same space reading p only elementwise.
// Not a mask into a reduction: the hash in its loop changes the vector width LLVM picks for the
// sums, hence their order and last bits, and the masks are to change no trained value.
bool can_inline(const ir::Op& u, const ir::Op& p) {
  if (u.kind != ir::OpKind::Fused || u.attrs.shape != p.attrs.shape) return false;
  if (u.attrs.program.reduce && draws_masks(p)) return false;
  for (const FusedInstr& in : u.attrs.program.instrs)
    if ((in.code == FusedOpcode::LoadChannel || in.code == FusedOpcode::LoadPlane) &&
        u.inputs[static_cast<size_t>(in.a)] == p.output)
      return false;
  return true;
}

size_t tensors_loaded(const ir::Op& op) {
  std::vector<int32_t> loaded;
  for (const FusedInstr& in : op.attrs.program.instrs)
    if (in.code == FusedOpcode::Load && std::find(loaded.begin(), loaded.end(), in.a) == loaded.end())
      loaded.push_back(in.a);
  return loaded.size();
}

// Each op reading a value once, in op order. Taken before any inlining: inlining a map into
// its readers only gives them inputs produced before that map, so the readers of every value
// the loop reaches later are still these.
std::vector<std::vector<ir::OpId>> distinct_users(const ir::Graph& g) {
  std::vector<std::vector<ir::OpId>> users = value_users(g);
  for (std::vector<ir::OpId>& u : users) u.erase(std::unique(u.begin(), u.end()), u.end());
  return users;
}

}  // namespace

void fuse_elementwise(ir::Graph& g) {
  for (ir::Op& op : g.ops)
    if (std::optional<FusedProgram> program = ir::elementwise_form(op.kind, op.attrs)) {
      ir::Op fused = fused_op(op.name, op.inputs, g.shape(op.output), std::move(*program), op.loc);
      fused.output = op.output;
      op = std::move(fused);
    }

  const std::vector<std::vector<ir::OpId>> readers = distinct_users(g);
  std::vector<bool> inlined(g.ops.size());
  for (size_t o = 0; o < g.ops.size(); ++o) {
    const ir::Op& p = g.ops[o];
    if (p.kind != ir::OpKind::Fused || p.attrs.program.reduce || is_graph_result(g, p.output)) continue;
    const std::vector<ir::OpId>& users = readers[static_cast<size_t>(p.output)];
    if (users.empty() || (users.size() > 1 && tensors_loaded(p) > kMaxRecomputedLoads)) continue;
    if (!std::all_of(users.begin(), users.end(), [&](ir::OpId u) { return can_inline(g.op(u), p); })) continue;
    for (ir::OpId u : users) inline_into(g.ops[static_cast<size_t>(u)], p);
    inlined[o] = true;
  }
  Rewriter r(g);
  for (size_t o = 0; o < g.ops.size(); ++o)
    if (!inlined[o]) r.keep(g.ops[o]);
  r.finish();
}

}  // namespace resnetc::passes
