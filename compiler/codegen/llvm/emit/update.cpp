// The update renderer: sgd_update, sgd_momentum_update, adamw_update, bn_running_update and the
// groups the passes make of them, each rendered from its ir::UpdateRule (a prologue per kernel,
// a program per element, written in place, all through the scalar opcodes' one table,
// scalar_op.h), so no kind is named here. The run-time scalars (the learning rate, AdamW's step
// count) are read from their [1] buffers once per range; constants (momentum, weight decay,
// betas, eps) are the programs' own.
//
// A group's members are laid end to end as one index space, split over the thread pool like
// a single update's elements: each range runs every member's loop over the part of the range
// that falls in that member, so small and large members balance across threads.
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/emit/scalar_op.h"
#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/ir/update_rule.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::FusedOpcode;

using Operand = llvm::function_ref<llvm::Value*(int32_t input, int32_t row)>;

// The registers of `p` in type `t` where `which` is true, the others as in `reg`; `load` reads
// an input (a Load at row 0).
std::vector<llvm::Value*> registers(Builder& b, llvm::Type* t, const ir::FusedProgram& p, std::vector<llvm::Value*> reg,
                                    const std::vector<bool>& which, Operand load) {
  reg.resize(p.instrs.size());
  for (size_t k = 0; k < reg.size(); ++k) {
    if (!which[k]) continue;
    const ir::FusedInstr& in = p.instrs[k];
    switch (in.code) {
      case FusedOpcode::Load: reg[k] = load(in.a, 0); break;
      case FusedOpcode::LoadChannel: reg[k] = load(in.a, in.b); break;
      case FusedOpcode::Const: reg[k] = llvm::ConstantFP::get(t, in.value); break;
      default:
        reg[k] = scalar_op(b, in, reg);
    }
  }
  return reg;
}

// The registers of a member's program that are the same at every element: constants, scalars
// and what is made of them only.
std::vector<bool> element_uniform(const ir::UpdateRule::Member& m) {
  const auto arrays = static_cast<int32_t>(m.arrays.size());
  std::vector<bool> uniform(m.element.instrs.size());
  for (size_t k = 0; k < uniform.size(); ++k) {
    const ir::FusedInstr& in = m.element.instrs[k];
    if (in.code == FusedOpcode::Load) continue;
    uniform[k] = in.code == FusedOpcode::LoadChannel ? in.a >= arrays
                 : in.code == FusedOpcode::Const
                     ? true
                     : ir::reads_only(in, uniform);
  }
  return uniform;
}

// Elements [begin, end) of member `m` with n elements, its arrays `arrays` (all of the kernel's
// inputs), the run-time scalars `scalars` (float).
void emit_member(Builder& b, const ir::UpdateRule::Member& m, int64_t n, llvm::ArrayRef<llvm::Value*> arrays,
                 const std::vector<llvm::Value*>& scalars, llvm::Value* begin, llvm::Value* end) {
  const auto count = static_cast<int32_t>(m.arrays.size());
  auto array = [&](int32_t j) { return arrays[static_cast<size_t>(m.arrays[static_cast<size_t>(j)])]; };
  const std::vector<bool> uniform = element_uniform(m);
  std::vector<bool> varying = uniform;
  varying.flip();
  auto scalar = [&](int32_t input, int32_t) -> llvm::Value* {
    if (input < count) throw std::logic_error("update: an element load outside the element loop");
    return scalars.at(static_cast<size_t>(input - count));
  };
  const std::vector<llvm::Value*> reg = registers(b, b.getFloatTy(), m.element, {}, uniform, scalar);
  emit_for(
      b, "i", begin, end, i64(b, 1),
      [&](llvm::Value* i) {
        auto load = [&](int32_t input, int32_t row) -> llvm::Value* {
          if (input >= count) return scalar(input, row);
          return load_f32(b, array(input), row == 0 ? i : b.CreateAdd(i64(b, row * n), i));
        };
        const std::vector<llvm::Value*> element = registers(b, b.getFloatTy(), m.element, reg, varying, load);
        for (size_t q = 0; q < m.writes.size(); ++q)
          store_f32(b, element[static_cast<size_t>(m.element.results[q])], array(m.writes[q]), i);
      },
      kVector);
}

// The scalars: the [1] inputs as float, then the prologue's results, computed in double and
// rounded to float.
std::vector<llvm::Value*> emit_scalars(Builder& b, const ir::UpdateRule& r, llvm::ArrayRef<llvm::Value*> arrays) {
  std::vector<llvm::Value*> scalars;
  for (int32_t s : r.scalars) scalars.push_back(load_f32(b, arrays[static_cast<size_t>(s)], 0));
  if (r.prologue.empty()) return scalars;
  const std::vector<bool> every(r.prologue.instrs.size(), true);
  const std::vector<llvm::Value*> reg =
      registers(b, b.getDoubleTy(), r.prologue, {}, every,
                [&](int32_t s, int32_t) { return to_f64(b, scalars.at(static_cast<size_t>(s))); });
  for (int32_t q : r.prologue.results) scalars.push_back(to_f32(b, reg[static_cast<size_t>(q)]));
  return scalars;
}

// Runs member(m, lo, hi) for the part [lo, hi) of [begin, end) that falls in member m, whose
// elements are [offsets[m], offsets[m + 1]) of the kernel's index space; lo, hi are relative to
// the member (an empty part runs no iteration). One member runs [begin, end) itself.
void for_each_member(Builder& b, llvm::Value* begin, llvm::Value* end, const std::vector<int64_t>& offsets,
                     llvm::function_ref<void(size_t m, llvm::Value* lo, llvm::Value* hi)> member) {
  if (offsets.size() == 2) return member(0, begin, end);
  for (size_t m = 0; m + 1 < offsets.size(); ++m) {
    llvm::Value* first = i64(b, offsets[m]);
    llvm::Value* last = i64(b, offsets[m + 1]);
    llvm::Value* lo = b.CreateSelect(b.CreateICmpSGT(begin, first), begin, first);
    llvm::Value* hi = b.CreateSelect(b.CreateICmpSLT(end, last), end, last);
    member(m, b.CreateSub(lo, first), b.CreateSub(hi, first));
  }
}

// Elements touched per element of the index space: the arrays loaded and stored.
int64_t touched(const ir::UpdateRule::Member& m) {
  int64_t loads = 0;
  for (const ir::FusedInstr& in : m.element.instrs)
    if (in.code == FusedOpcode::Load || (in.code == FusedOpcode::LoadChannel && in.a < static_cast<int32_t>(m.arrays.size())))
      ++loads;
  return loads + static_cast<int64_t>(m.writes.size());
}

}  // namespace

void emit_update(KernelBody& k) {
  std::vector<ir::Dims> shapes;
  for (size_t i = 0; i < k.in.size(); ++i) shapes.push_back(k.in_shape(i));
  ir::UpdateRule r;
  try {
    r = ir::update_rule(k.kernel.kind, k.attrs(), shapes);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("{}: {}", k.kernel.name, e.what()));
  }
  std::vector<int64_t> offsets{0};
  for (const ir::UpdateRule::Member& m : r.members)
    offsets.push_back(offsets.back() + ir::numel(shapes[static_cast<size_t>(m.arrays[0])]));
  const int64_t n = offsets.back();
  for_range(k, "params", n, n * touched(r.members.at(0)), k.in,
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              const std::vector<llvm::Value*> scalars = emit_scalars(b, r, a);
              for_each_member(b, begin, end, offsets, [&](size_t m, llvm::Value* lo, llvm::Value* hi) {
                emit_member(b, r.members[m], offsets[m + 1] - offsets[m], a, scalars, lo, hi);
              });
            });
}

}  // namespace resnetc::codegen::llvm_backend
