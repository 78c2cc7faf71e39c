#pragma once
// Which arena bytes are taken while a span of kernels runs: the question the memory planner
// asks for every buffer it places. A segment tree over kernel indices holds the byte ranges,
// merged where they touch, so a question looks at about 2 log(kernels) sets of ranges instead
// of at every buffer placed before: a deep network's saved activations are all live at once,
// which made planning quadratic in depth.
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace resnetc::plan {

class ArenaOccupancy {
 public:
  // Best fit looks at the lowest this many gaps. Every example network places its buffers as a
  // search of every gap would (ResNet-152 included, at each -O level); a network thousands of
  // blocks deep has a gap per block (its weight gradients, live until the update, lie all over
  // the arena), and searching them all would make planning quadratic in depth again.
  static constexpr int kMaxGaps = 128;

  explicit ArenaOccupancy(int kernels);

  // Bytes [begin, end) are taken from kernel `first` to kernel `last`, both included.
  void take(int first, int last, int64_t begin, int64_t end);

  // Where `size` bytes go for kernels [first, last]: the lowest of the smallest gaps of at least
  // `size` among the lowest kMaxGaps gaps between the bytes taken then, or else just above the
  // highest of them (0 if none).
  int64_t best_fit(int first, int last, int64_t size) const;

 private:
  using Ranges = std::map<int64_t, int64_t>;  // begin -> end: disjoint, none touching another
  struct Node {
    Ranges whole;  // taken for every kernel of the node's span (stored here, not in its subtree)
    Ranges some;   // taken for some kernel of the span: stored at this node or below it
  };
  static void add(Ranges& ranges, int64_t begin, int64_t end);
  void take(size_t node, int lo, int hi, int first, int last, int64_t begin, int64_t end);
  void collect(size_t node, int lo, int hi, int first, int last, std::vector<const Ranges*>& out) const;

  int leaves_;
  std::vector<Node> nodes_;  // node 1 spans [0, leaves_ - 1]; node n's children are 2n and 2n + 1
};

}  // namespace resnetc::plan
