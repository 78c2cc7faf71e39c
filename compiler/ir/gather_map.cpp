#include "compiler/ir/gather_map.h"

#include <fmt/format.h>

#include <stdexcept>

namespace resnetc::ir {

std::vector<GatherRead> gather_reads(const FusedProgram& program, const FusedInstr& in, const Dims& space,
                                     const Dims& source) {
  const auto b = static_cast<size_t>(in.b);
  if (in.b < 0 || b >= program.gathers.size())
    throw std::invalid_argument(fmt::format("gather: no map {} (the program has {})", in.b, program.gathers.size()));
  const GatherMap& map = program.gathers[b];
  if (map.size() != space.size() || source.size() != space.size())
    throw std::invalid_argument(fmt::format("gather: a map of {} axes reads {} over the space {}", map.size(),
                                            format_dims(source), format_dims(space)));
  std::vector<GatherRead> reads(space.size());
  int64_t stride = 1;
  for (size_t axis = space.size(); axis-- > 0;) {
    const GatherAxis& m = map[axis];
    constexpr int64_t kMax = int64_t{1} << 31;
    if (m.num < 1 || m.num > kMax || m.den < 1 || m.den > kMax)
      throw std::invalid_argument(
          fmt::format("gather: axis {} maps by {}/{}, not by 1 to 2^31 over 1 to 2^31", axis, m.num, m.den));
    GatherRead& r = reads[axis];
    r.num = m.num, r.den = m.den, r.extent = source[axis], r.stride = stride;
    r.off_grid = m.num % m.den != 0;
    r.past_end = (space[axis] - 1) * m.num / m.den >= source[axis];
    stride *= source[axis];
  }
  return reads;
}

}  // namespace resnetc::ir
