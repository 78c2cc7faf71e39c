// The reference's channel-reduction interpreter: an ir::ChannelReduction (the BatchNorm family's
// kinds and bias_grad) evaluated in double, the terms summed per channel in
// element order, then the finalize program once per channel, then any map at every element.
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "compiler/ir/fused_extent.h"
#include "compiler/reference/interpret.h"
#include "compiler/reference/ops.h"

namespace resnetc::reference::ops {

namespace {

// Program `p` in registers `r`; `load(input)` reads an input at the element, `channel(input,
// row)` one at the channel.
template <class Load, class Channel>
void run(const ir::FusedProgram& p, std::vector<double>& r, Load load, Channel channel) {
  interpret(p, r, [&](const ir::FusedInstr& in, size_t, double, double) -> std::optional<double> {
    if (in.code == ir::FusedOpcode::Load) return load(in.a);
    if (in.code == ir::FusedOpcode::LoadChannel) return channel(in.a, in.b);
    return std::nullopt;
  });
}

}  // namespace

Buffer channel_reduce(std::span<const TensorRef> inputs, const ir::ChannelReduction& r) {
  const TensorRef& space = inputs[static_cast<size_t>(r.space_input)];
  const ir::FusedExtent e = ir::fused_extent(space.shape);
  const auto channels = static_cast<size_t>(e.channels);
  const size_t nsum = r.terms.results.size(), rows = r.finalize.results.size();
  const bool map = !r.map.empty();
  Buffer sums(nsum * channels), finals(rows * channels), out(map ? space.data.size() : 0);
  std::vector<double> reg(std::max({r.terms.instrs.size(), r.finalize.instrs.size(), r.map.instrs.size()}));
  for (int64_t c = 0; c < e.channels; ++c) {
    const auto at = [&](int32_t input, int32_t row) {
      const size_t rc = static_cast<size_t>(row) * channels + static_cast<size_t>(c);
      if (input == r.shift()) return space[c * e.plane];
      if (input == r.sums()) return sums[rc];
      if (input == r.coefficients()) return finals[rc];
      return inputs[static_cast<size_t>(input)][row * e.channels + c];
    };
    for (int64_t n = 0; n < e.batch; ++n)
      for (int64_t p = 0; p < e.plane; ++p) {
        const int64_t i = (n * e.channels + c) * e.plane + p;
        run(r.terms, reg, [&](int32_t input) { return inputs[static_cast<size_t>(input)][i]; }, at);
        for (size_t q = 0; q < nsum; ++q)
          sums[q * channels + static_cast<size_t>(c)] += reg[static_cast<size_t>(r.terms.results[q])];
      }
    const auto no_load = [](int32_t) -> double { throw std::logic_error("reference: a finalize loads no element"); };
    run(r.finalize, reg, no_load, at);
    for (size_t q = 0; q < rows; ++q)
      finals[q * channels + static_cast<size_t>(c)] = reg[static_cast<size_t>(r.finalize.results[q])];
    if (!map) continue;
    for (int64_t n = 0; n < e.batch; ++n)
      for (int64_t p = 0; p < e.plane; ++p) {
        const int64_t i = (n * e.channels + c) * e.plane + p;
        run(r.map, reg, [&](int32_t input) { return inputs[static_cast<size_t>(input)][i]; }, at);
        out[static_cast<size_t>(i)] = reg[static_cast<size_t>(r.map.results[0])];
      }
  }
  return map ? out : finals;
}

}  // namespace resnetc::reference::ops
