// The channel-reduction renderer: the PerChannel kinds (the BatchNorm family's and bias_grad),
// each rendered from its ir::ChannelReduction (any terms summed per channel, the finalize
// program per channel, any map per element, all through the scalar opcodes' one table,
// scalar_op.h), so no kind is named here.
//
// Channels split over the thread pool; per channel, the terms' registers that depend on the
// channel only are computed once, the others per element in double in the contiguous plane
// loop, vectorized as a reduction into double accumulators: memory-bound either way, and exact
// enough that a variance of activations with a large mean keeps its digits. A map then runs
// over the channel's planes in float, vectorized, its channel registers computed once.
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "compiler/codegen/llvm/emit/bf16.h"
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

// Instruction k of `p` in type `t`, from the registers before it; `load` reads an input at the
// element, `channel` a row of one at the channel.
llvm::Value* instruction(Builder& b, llvm::Type* t, const ir::FusedProgram& p, size_t k,
                         const std::vector<llvm::Value*>& reg, Operand load, Operand channel) {
  const ir::FusedInstr& in = p.instrs[k];
  switch (in.code) {
    case FusedOpcode::Load: return load(in.a, 0);
    case FusedOpcode::LoadChannel: return channel(in.a, in.b);
    case FusedOpcode::Const: return llvm::ConstantFP::get(t, in.value);
    case FusedOpcode::LoadPlane: throw std::logic_error("channel reduction: a plane load");
    default:
      return scalar_op(b, in, reg);
  }
}

// The registers whose value is the same for every element of a channel.
std::vector<bool> channel_uniform(const ir::FusedProgram& p) {
  std::vector<bool> uniform(p.instrs.size());
  for (size_t k = 0; k < p.instrs.size(); ++k) {
    const ir::FusedInstr& in = p.instrs[k];
    if (in.code == FusedOpcode::Load || in.code == FusedOpcode::LoadPlane) continue;
    uniform[k] = in.code == FusedOpcode::LoadChannel || in.code == FusedOpcode::Const ||
                 ir::reads_only(in, uniform);
  }
  return uniform;
}

// `p` in type `t`: the registers where `which` is true, the others as in `reg`.
std::vector<llvm::Value*> registers(Builder& b, llvm::Type* t, const ir::FusedProgram& p, std::vector<llvm::Value*> reg,
                                    const std::vector<bool>& which, Operand load, Operand channel) {
  reg.resize(p.instrs.size());
  for (size_t i = 0; i < reg.size(); ++i)
    if (which[i]) reg[i] = instruction(b, t, p, i, reg, load, channel);
  return reg;
}

// body(e) for every element e of channel c, plane by plane, the plane loop with `hints`.
void for_channel_elements(Builder& b, const ir::FusedExtent& g, llvm::Value* c, const LoopHints& hints,
                          llvm::function_ref<void(llvm::Value* e)> body) {
  emit_for(b, "n", 0, g.batch, 1, [&](llvm::Value* n) {
    llvm::Value* offset = b.CreateMul(b.CreateAdd(b.CreateMul(n, i64(b, g.channels)), c), i64(b, g.plane), "offset");
    emit_for(b, "p", 0, g.plane, 1, [&](llvm::Value* p) { body(b.CreateAdd(offset, p)); }, hints);
  }, kOuter);
}

llvm::Value* no_load(int32_t, int32_t) {
  throw std::logic_error("channel reduction: an element load outside the element loop");
}

}  // namespace

void emit_channel_reduction(KernelBody& k) {
  std::vector<ir::Dims> shapes;
  for (size_t i = 0; i < k.in.size(); ++i) shapes.push_back(k.in_shape(i));
  const ir::ChannelReduction r = ir::channel_reduction(k.kernel.kind, k.attrs(), shapes);
  const auto space = static_cast<size_t>(r.space_input);
  const ir::FusedExtent g = ir::fused_extent(shapes[space]);
  const std::vector<bool> uniform = channel_uniform(r.terms), map_uniform = channel_uniform(r.map);
  std::vector<bool> varying = uniform, map_varying = map_uniform;
  varying.flip();
  map_varying.flip();
  const std::vector<bool> every(r.finalize.instrs.size(), true);
  const bool map = !r.map.empty();
  // A bf16 input's loads widen its bits; a bf16 output's stores round (bf16.h).
  const std::vector<ir::DType> dtypes = input_dtypes(k);
  const ir::DType out_dtype = output_dtype(k);
  auto load_input = [&](Builder& b, llvm::ArrayRef<llvm::Value*> a, int32_t input, llvm::Value* index) {
    const auto i = static_cast<size_t>(input);
    return load_element(b, a[i], index, dtypes.at(i));
  };
  std::vector<llvm::Value*> arrays = k.in;
  arrays.push_back(k.out);
  const int64_t work = static_cast<int64_t>(k.in.size() + (map ? 1 : 0)) * ir::numel(shapes[space]);
  for_range(k, "channels", g.channels, work, arrays, [&](Builder& b, llvm::Value* begin, llvm::Value* end,
                                                          llvm::ArrayRef<llvm::Value*> a) {
    llvm::Type* f64_type = b.getDoubleTy();
    std::vector<llvm::AllocaInst*> sums;
    for (size_t q = 0; q < r.terms.results.size(); ++q) sums.push_back(local(b, f64_type, "sum"));
    emit_for(b, "c", begin, end, i64(b, 1), [&](llvm::Value* c) {
      auto channel = [&](int32_t input, int32_t row) -> llvm::Value* {
        if (input == r.shift()) return to_f64(b, load_input(b, a, r.space_input, b.CreateMul(c, i64(b, g.plane))));
        if (input == r.sums()) return b.CreateLoad(f64_type, sums.at(static_cast<size_t>(row)));
        return to_f64(b, load_input(b, a, input, b.CreateAdd(i64(b, row * g.channels), c)));
      };
      const std::vector<llvm::Value*> reg = registers(b, f64_type, r.terms, {}, uniform, no_load, channel);
      for (auto* sum : sums) b.CreateStore(f64(b, 0), sum);
      // A per-channel map (no terms) sums nothing.
      if (!sums.empty()) for_channel_elements(b, g, c, kReduce, [&](llvm::Value* e) {
        auto load = [&](int32_t input, int32_t) { return to_f64(b, load_input(b, a, input, e)); };
        const std::vector<llvm::Value*> element = registers(b, f64_type, r.terms, reg, varying, load, channel);
        for (size_t q = 0; q < sums.size(); ++q) {
          llvm::Value* term = element[static_cast<size_t>(r.terms.results[q])];
          b.CreateStore(reduce_add(b, b.CreateLoad(f64_type, sums[q]), term), sums[q]);
        }
      });
      const std::vector<llvm::Value*> fin = registers(b, f64_type, r.finalize, {}, every, no_load, channel);
      auto result = [&](size_t row) { return to_f32(b, fin[static_cast<size_t>(r.finalize.results.at(row))]); };
      if (!map) {
        for (size_t row = 0; row < r.finalize.results.size(); ++row)
          store_element(b, result(row), a.back(), b.CreateAdd(i64(b, static_cast<int64_t>(row) * g.channels), c), out_dtype);
        return;
      }
      // The map in float: the coefficients rounded, the channel's loads read once.
      auto channel_f32 = [&](int32_t input, int32_t row) -> llvm::Value* {
        if (input == r.coefficients()) return result(static_cast<size_t>(row));
        return load_input(b, a, input, b.CreateAdd(i64(b, row * g.channels), c));
      };
      const std::vector<llvm::Value*> mreg = registers(b, b.getFloatTy(), r.map, {}, map_uniform, no_load, channel_f32);
      for_channel_elements(b, g, c, kVector, [&](llvm::Value* e) {
        auto load = [&](int32_t input, int32_t) -> llvm::Value* { return load_input(b, a, input, e); };
        const std::vector<llvm::Value*> element =
            registers(b, b.getFloatTy(), r.map, mreg, map_varying, load, channel_f32);
        store_element(b, element[static_cast<size_t>(r.map.results[0])], a.back(), e, out_dtype);
      });
    }, kOuter);
  });
}

}  // namespace resnetc::codegen::llvm_backend
