#include "compiler/plan/memory_plan.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "compiler/plan/arena_occupancy.h"

namespace resnetc::plan {
namespace {

// An Arena buffer with memory of its own (not a view), and when it is live.
struct Block {
  int buffer = -1;
  int64_t size = 0;        // aligned
  int first = 0, last = 0;  // kernel indices, both included
  int64_t offset = 0;
};

int root_of(const KernelPlan& p, int buffer) {
  while (p.buffer(buffer).view_of >= 0) buffer = p.buffer(buffer).view_of;
  return buffer;
}

}  // namespace

void plan_arena(KernelPlan& p) {
  std::vector<int> block_of(p.buffers.size(), -1);
  std::vector<Block> blocks;
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const Buffer& b = p.buffers[i];
    if (b.storage != Storage::Arena || b.view_of >= 0) continue;
    block_of[i] = static_cast<int>(blocks.size());
    blocks.push_back({static_cast<int>(i), align_buffer(b.bytes)});
  }
  auto block = [&](int buffer) -> Block* {
    int b = block_of[static_cast<size_t>(root_of(p, buffer))];
    return b >= 0 ? &blocks[static_cast<size_t>(b)] : nullptr;
  };
  // Ops are in topological order, so a buffer's writer comes before its readers.
  for (size_t k = 0; k < p.kernels.size(); ++k) {
    const Kernel& kernel = p.kernels[k];
    const int at = static_cast<int>(k);
    for (int written : {kernel.output, kernel.epilogue_stats})
      if (written >= 0)
        if (Block* b = block(written)) b->first = b->last = at;
    for (int in : kernel.inputs)
      if (Block* b = block(in)) b->last = std::max(b->last, at);
  }
  const int end = std::max(static_cast<int>(p.kernels.size()) - 1, 0);
  // The preamble's results are kept from run to run (executors skip the preamble while the
  // weights are unchanged): nothing else may use their bytes.
  for (size_t k = 0; k < p.preamble_kernels; ++k)
    if (Block* b = block(p.kernels[k].output)) b->first = 0, b->last = end;
  for (int read_after_run : {p.loss, p.logits})
    if (read_after_run >= 0)
      if (Block* b = block(read_after_run)) b->last = end;

  // Greedy by size: the largest blocks first, each into the smallest gap left between the
  // blocks already placed that are live at the same time (of the lowest kMaxGaps), or above
  // all of them.
  std::vector<size_t> order(blocks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Block &x = blocks[a], &y = blocks[b];
    return std::tuple(-x.size, x.first, x.buffer) < std::tuple(-y.size, y.first, y.buffer);
  });
  ArenaOccupancy taken(end + 1);
  int64_t arena = 0;
  for (size_t i : order) {
    Block& b = blocks[i];
    b.offset = taken.best_fit(b.first, b.last, b.size);
    taken.take(b.first, b.last, b.offset, b.offset + b.size);
    arena = std::max(arena, b.offset + b.size);
  }

  // Views keep their place within their source; then the sources move.
  for (Buffer& v : p.buffers)
    if (v.storage == Storage::Arena && v.view_of >= 0) {
      const int root = root_of(p, v.view_of);
      v.offset += block(root)->offset - p.buffer(root).offset;
    }
  for (const Block& b : blocks) p.buffers[static_cast<size_t>(b.buffer)].offset = b.offset;
  p.storage_bytes[static_cast<int>(Storage::Arena)] = arena;
}

}  // namespace resnetc::plan
