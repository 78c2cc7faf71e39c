// The channel-reduction renderer: bn_stats, bn_grad_weight and bias_grad, each rendered from its
// ir::ChannelReduction (the terms summed per channel, then the finalize program per channel,
// both through the scalar opcodes' one table, scalar_op.h), so no kind is named here.
//
// Channels split over the thread pool; per channel, the terms' registers that depend on the
// channel only are computed once, the others per element in double in the contiguous plane
// loop, vectorized as a reduction into double accumulators: memory-bound either way, and exact
// enough that a variance of activations with a large mean keeps its digits.
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/emit/scalar_op.h"
#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/ir/channel_reduction.h"
#include "compiler/ir/fused_extent.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::FusedOpcode;

using Operand = llvm::function_ref<llvm::Value*(int32_t input, int32_t row)>;

// Instruction k of `p` in double, from the registers before it; `load` reads an input at the
// element, `channel` a row of one at the channel.
llvm::Value* instruction(Builder& b, const ir::FusedProgram& p, size_t k, const std::vector<llvm::Value*>& reg,
                         Operand load, Operand channel) {
  const ir::FusedInstr& in = p.instrs[k];
  switch (in.code) {
    case FusedOpcode::Load: return load(in.a, 0);
    case FusedOpcode::LoadChannel: return channel(in.a, in.b);
    case FusedOpcode::Const: return f64(b, in.value);
    case FusedOpcode::LoadPlane: throw std::logic_error("channel reduction: a plane load");
    default:
      return scalar_op(b, in.code, reg[static_cast<size_t>(in.a)],
                       ir::reads_register_b(in.code) ? reg[static_cast<size_t>(in.b)] : nullptr);
  }
}

// The registers whose value is the same for every element of a channel.
std::vector<bool> channel_uniform(const ir::FusedProgram& p) {
  std::vector<bool> uniform(p.instrs.size());
  for (size_t k = 0; k < p.instrs.size(); ++k) {
    const ir::FusedInstr& in = p.instrs[k];
    if (in.code == FusedOpcode::Load || in.code == FusedOpcode::LoadPlane) continue;
    uniform[k] = in.code == FusedOpcode::LoadChannel || in.code == FusedOpcode::Const ||
                 (uniform[static_cast<size_t>(in.a)] &&
                  (!ir::reads_register_b(in.code) || uniform[static_cast<size_t>(in.b)]));
  }
  return uniform;
}

}  // namespace

void emit_channel_reduction(KernelBody& k) {
  std::vector<ir::Dims> shapes;
  for (size_t i = 0; i < k.in.size(); ++i) shapes.push_back(k.in_shape(i));
  const ir::ChannelReduction r = ir::channel_reduction(k.kernel.kind, k.attrs(), shapes);
  const auto space = static_cast<size_t>(r.space_input);
  const ir::FusedExtent g = ir::fused_extent(shapes[space]);
  const std::vector<bool> uniform = channel_uniform(r.terms);
  std::vector<llvm::Value*> arrays = k.in;
  arrays.push_back(k.out);
  const int64_t work = static_cast<int64_t>(k.in.size()) * ir::numel(shapes[space]);
  for_range(k, "channels", g.channels, work, arrays,
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              std::vector<llvm::AllocaInst*> sums;
              for (size_t q = 0; q < r.terms.results.size(); ++q) sums.push_back(local(b, b.getDoubleTy(), "sum"));
              emit_for(b, "c", begin, end, i64(b, 1), [&](llvm::Value* c) {
                auto channel = [&](int32_t input, int32_t row) -> llvm::Value* {
                  if (input == r.shift()) return to_f64(b, load_f32(b, a[space], b.CreateMul(c, i64(b, g.plane))));
                  if (input == r.sums()) return b.CreateLoad(b.getDoubleTy(), sums.at(static_cast<size_t>(row)));
                  llvm::Value* at = b.CreateAdd(i64(b, row * g.channels), c);
                  return to_f64(b, load_f32(b, a[static_cast<size_t>(input)], at));
                };
                auto no_load = [](int32_t, int32_t) -> llvm::Value* {
                  throw std::logic_error("channel reduction: an element load outside the element loop");
                };
                std::vector<llvm::Value*> reg(r.terms.instrs.size());
                for (size_t i = 0; i < reg.size(); ++i)
                  if (uniform[i]) reg[i] = instruction(b, r.terms, i, reg, no_load, channel);
                for (auto* sum : sums) b.CreateStore(f64(b, 0), sum);
                emit_for(b, "n", 0, g.batch, 1, [&](llvm::Value* n) {
                  llvm::Value* offset =
                      b.CreateMul(b.CreateAdd(b.CreateMul(n, i64(b, g.channels)), c), i64(b, g.plane), "offset");
                  emit_for(
                      b, "p", 0, g.plane, 1,
                      [&](llvm::Value* p) {
                        llvm::Value* e = b.CreateAdd(offset, p);
                        auto load = [&](int32_t input, int32_t) {
                          return to_f64(b, load_f32(b, a[static_cast<size_t>(input)], e));
                        };
                        std::vector<llvm::Value*> element = reg;
                        for (size_t i = 0; i < element.size(); ++i)
                          if (!uniform[i]) element[i] = instruction(b, r.terms, i, element, load, channel);
                        for (size_t q = 0; q < sums.size(); ++q) {
                          llvm::Value* term = element[static_cast<size_t>(r.terms.results[q])];
                          b.CreateStore(reduce_add(b, b.CreateLoad(b.getDoubleTy(), sums[q]), term), sums[q]);
                        }
                      },
                      kReduce);
                }, kOuter);
                std::vector<llvm::Value*> fin(r.finalize.instrs.size());
                for (size_t i = 0; i < fin.size(); ++i) fin[i] = instruction(b, r.finalize, i, fin, no_load, channel);
                for (size_t row = 0; row < r.finalize.results.size(); ++row)
                  store_f32(b, to_f32(b, fin[static_cast<size_t>(r.finalize.results[row])]), a.back(),
                            b.CreateAdd(i64(b, static_cast<int64_t>(row) * g.channels), c));
              }, kOuter);
            });
}

}  // namespace resnetc::codegen::llvm_backend
