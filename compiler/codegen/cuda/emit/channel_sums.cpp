// emit_channel_reduce: per-channel sums in double over x [N, C, ...] (a channel is N planes). A
// block sums a chunk of one channel (a warp-shuffle tree, then the warps in order); when a
// channel is split into several chunks, a second kernel adds the chunks' partial sums in order,
// so the result does not depend on scheduling. The PerChannel kinds with sums are rendered onto
// it by channel_reduction.cpp, and the fused reductions (fused.cpp) and a convolution's epilogue
// statistics (gemm.cpp) use it too.
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"

namespace resnetc::codegen::cuda::detail {
namespace {

constexpr std::string_view kPartial = R"(const int c = blockIdx.y;
const int chunk = blockIdx.x;
$PROLOGUE
double s[NSUM];
#pragma unroll
for (int q = 0; q < NSUM; ++q) s[q] = 0.0;
const I begin = (I)chunk * CHUNK_LEN;
const I end = begin + CHUNK_LEN < COUNT ? begin + CHUNK_LEN : COUNT;
#pragma unroll 4
for (I e = begin + threadIdx.x; e < end; e += THREADS) {
  const I idx = ((e / HW) * C + c) * HW + e % HW;
$ELEMENT
}
__shared__ double part[NSUM][THREADS / 32];
const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
for (int q = 0; q < NSUM; ++q) {
#pragma unroll
  for (int o = 16; o > 0; o /= 2) s[q] += __shfl_xor_sync(0xffffffffu, s[q], o);
  if (lane == 0) part[q][warp] = s[q];
}
__syncthreads();
if (threadIdx.x == 0) {
  double tot[NSUM];
#pragma unroll
  for (int q = 0; q < NSUM; ++q) {
    tot[q] = 0.0;
    for (int w = 0; w < THREADS / 32; ++w) tot[q] += part[q][w];
  }
$DONE
})";

constexpr std::string_view kStore =
    R"(  double* out = reinterpret_cast<double*>(ws + WS_OFF) + ((I)c * CHUNKS + chunk) * NSUM;
#pragma unroll
  for (int q = 0; q < NSUM; ++q) out[q] = tot[q];)";

constexpr std::string_view kFinal = R"(const int c = blockIdx.x * THREADS + threadIdx.x;
if (c < C) {
  const double* in = reinterpret_cast<const double*>(ws + WS_OFF) + (I)c * CHUNKS * NSUM;
  double tot[NSUM];
#pragma unroll
  for (int q = 0; q < NSUM; ++q) tot[q] = 0.0;
  for (int k = 0; k < CHUNKS; ++k)
#pragma unroll
    for (int q = 0; q < NSUM; ++q) tot[q] += in[k * NSUM + q];
$FINALIZE
})";

// Chunks per channel: memory-bound, a reduction wants more blocks in flight than a GEMM (4x the
// target), each summing at least min_reduce_chunk elements.
int64_t reduce_chunks(const CudaOptions& o, int64_t channels, int64_t count) {
  const int64_t blocks = 4 * static_cast<int64_t>(std::max(o.target_blocks, 1));
  return std::clamp<int64_t>(
      std::min(ceil_div(blocks, channels), ceil_div(count, std::max<int64_t>(o.min_reduce_chunk, 1))), 1, 65535);
}

}  // namespace

int64_t emit_channel_reduce(Emitter& e, const ChannelReduce& r) {
  const CudaOptions& o = e.options();
  const int64_t count = r.NB * r.HW;
  if (r.C > 65535) throw std::invalid_argument(fmt::format("CUDA emitter: {}: more than 65535 channels", e.where()));
  int64_t chunks = reduce_chunks(o, r.C, count);
  const int64_t chunk_len = ceil_div(count, chunks);
  chunks = ceil_div(count, chunk_len);
  const int64_t ws_floats = chunks > 1 ? r.C * chunks * r.nsum * 2 : 0;

  Members m;
  m.text(fmt::format("  using I = {};\n", index_type(r.max_elements)));
  m.text(r.members);
  m.constant("CHUNKS", chunks).constant("CHUNK_LEN", chunk_len).constant("NSUM", r.nsum).constant("THREADS", 256);
  m.constant("WS_OFF", r.workspace_offset);
  std::vector<Param> params = r.params;
  params.push_back({"ws", ParamType::Out, kWorkspace});

  KernelSource p;
  p.family = r.family + (chunks > 1 ? "_partial" : "");
  p.comment = fmt::format("{}: per-channel sums over {} elements{}", r.comment, count,
                          chunks > 1 ? fmt::format(" in {} chunks of {}", chunks, chunk_len) : "");
  p.members = m.str();
  p.body = subst(kPartial, {{"PROLOGUE", r.prologue},
                            {"ELEMENT", indent_lines(r.element, "  ")},
                            {"DONE", chunks > 1 ? std::string(kStore) : indent_lines(r.finalize, "  ")}});
  p.params = params;
  p.threads = 256;
  p.grid[0] = static_cast<unsigned>(chunks);
  p.grid[1] = static_cast<unsigned>(r.C);
  e.launch(std::move(p));
  if (chunks == 1) return 0;

  Members f;
  f.text(fmt::format("  using I = {};\n", index_type(r.max_elements)));
  f.text(r.members);
  f.constant("CHUNKS", chunks).constant("NSUM", r.nsum).constant("THREADS", 128).constant("WS_OFF", r.workspace_offset);
  KernelSource k;
  k.family = r.family + "_final";
  k.comment = fmt::format("{}: adds the {} chunks' sums of each channel in order", r.comment, chunks);
  k.members = f.str();
  k.body = subst(kFinal, {{"FINALIZE", indent_lines(r.finalize, "  ")}});
  k.params = std::move(params);
  k.threads = 128;
  k.grid[0] = static_cast<unsigned>(ceil_div(r.C, 128));
  e.launch(std::move(k));
  return ws_floats;
}

}  // namespace resnetc::codegen::cuda::detail
