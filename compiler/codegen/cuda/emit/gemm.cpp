// The GEMM every convolution and fully connected kernel is made of: C[m, n] = sum_k A[m, k] B[k, n],
// per group, with A and B gathered by helper functions (implicit GEMM: no im2col buffer).
//
// Structure (the classic one of CUTLASS's SIMT and Ampere-style tensor-core kernels):
// - a BM x BN output tile per block, the K loop staged through shared memory BK at a time,
//   double-buffered: the next tile is fetched from global memory into registers while the
//   current one is multiplied, then stored to the other buffer: one __syncthreads per step;
// - FMA path: each thread owns a TM x TN register block (8x4 or 4x4), read from shared memory
//   as two groups of 4 consecutive rows and columns;
// - tensor-core path: each warp owns a (16*FM) x (8*FN) tile of mma.sync.m16n8k8 TF32
//   fragments, operands rounded to TF32 (cvt.rna) once, when stored to shared memory; the
//   shared tiles are padded so the fragment reads hit 32 distinct banks;
// - bf16 path (plan::Precision::Bf16 operands): the same warp tiles of mma.sync.m16n8k16 bf16
//   fragments; each thread fetches pairs of consecutive k, rounds them to bfloat16 (cvt.rn, ties
//   to even) and stores a pair as one 32-bit word, so shared memory holds [BK/2][rows] words
//   and a fragment register is one word read (the PTX ISA's m16n8k16 layout keeps k pairs
//   together in a register);
// - split-K when the tiles alone cannot fill the GPU (the weight gradient, whose K is
//   N*OH*OW): each split writes its partial tile to the workspace and a second kernel sums the
//   splits in order (deterministic, no atomics) and adds the bias;
// - BatchNorm statistics of the output columns (a convolution's channels), when asked: the
//   epilogue sums each column's values and squares over the tile's rows in double (the
//   thread's own values, then the threads of the column: warp shuffles, then for tensor cores
//   the warps through shared memory) and writes one partial pair per row tile to the
//   workspace; a channel reduction adds each column's row tiles in order and writes mean and
//   variance. Under split-K the tiles hold no final values: the second pass becomes a channel
//   reduction that sums the splits, stores y and accumulates the statistics as it goes.
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"

namespace resnetc::codegen::cuda::detail {
namespace {

struct Tile {
  int BM, BN, BK, threads;
  int TM = 0, TN = 0;            // FMA: the thread's register block
  int WARPS_M = 0, WARPS_N = 0;  // tensor cores: the warp grid
};

Tile choose_tile(const GemmProblem& p, bool tc, int target_blocks) {
  auto blocks = [&](int bm, int bn) { return ceil_div(p.M, bm) * ceil_div(p.N, bn) * p.groups; };
  if (tc) {
    if (p.N <= 16) return {128, 16, 16, 128, 0, 0, 4, 1};
    if (p.M <= 16) return {16, 64, 16, 64, 0, 0, 1, 2};
    if (p.M <= 32) return {32, 64, 16, 64, 0, 0, 1, 2};
    if (blocks(128, 64) >= target_blocks) return {128, 64, 16, 256, 0, 0, 4, 2};
    return {64, 64, 16, 128, 0, 0, 2, 2};
  }
  if (p.N <= 16) return {128, 16, 16, 128, 4, 4};
  if (p.M <= 16) return {16, 64, 16, 64, 4, 4};
  if (p.M <= 32) return {32, 64, 16, 128, 4, 4};
  if (blocks(128, 64) >= target_blocks) return {128, 64, 16, 256, 8, 4};
  return {64, 64, 16, 256, 4, 4};
}

// Index expressions of load element e (0 <= e < rows*BK) for a tile of `rows` x BK.
struct Mapping {
  std::string row, k;
};
// `depth` is the tile's extent in k: BK elements, or KP pairs of them (bf16).
Mapping mapping(bool row_contiguous, std::string_view rows, std::string_view depth) {
  if (row_contiguous) return {fmt::format("e % {}", rows), fmt::format("e / {}", rows)};
  return {fmt::format("e / {}", depth), fmt::format("e % {}", depth)};
}

// $SMEM: float [BK] rows of a tile's k, or unsigned [KP] rows of k pairs (bf16).
constexpr std::string_view kRun = R"(__shared__ __align__(16) $SMEM as[2][$DEPTH][BM + APAD];
__shared__ __align__(16) $SMEM bs[2][$DEPTH][BN + BPAD];
const int g = blockIdx.z / KSPLIT;
const int split = blockIdx.z % KSPLIT;
const I m0 = (I)blockIdx.x * BM;
const int n0 = blockIdx.y * BN;
const I k0 = (I)split * KCHUNK;
const I k_end = k0 + KCHUNK < K ? k0 + KCHUNK : K;
const int tiles = (int)((k_end - k0 + BK - 1) / BK);
$ACC_DECL
float ra[A_PER], rb[B_PER];
fetch($A, $B, g, m0, n0, k0, ra, rb);
stash(ra, rb, as[0], bs[0]);
__syncthreads();
for (int t = 0; t < tiles; ++t) {
  if (t + 1 < tiles) fetch($A, $B, g, m0, n0, k0 + (I)(t + 1) * BK, ra, rb);
  compute(as[t & 1], bs[t & 1], acc);
  if (t + 1 < tiles) stash(ra, rb, as[(t + 1) & 1], bs[(t + 1) & 1]);
  __syncthreads();
}
$EPILOGUE)";

constexpr std::string_view kFetch =
    R"(  static __device__ __forceinline__ void fetch($ATYPE A, $BTYPE B, int g, I m0,
                                               int n0, I k0, float (&ra)[A_PER], float (&rb)[B_PER]) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int r = 0; r < A_PER; ++r) {
      const int e = tid + r * THREADS;
      const I m = m0 + ($AROW);
      const I k = k0 + ($AK);
      ra[r] = (m < M && k < K) ? load_a(A, g, m, k) : 0.0f;
    }
#pragma unroll
    for (int r = 0; r < B_PER; ++r) {
      const int e = tid + r * THREADS;
      const int n = n0 + ($BROW);
      const I k = k0 + ($BK);
      rb[r] = (k < K && n < N) ? load_b(B, g, k, n) : 0.0f;
    }
  }
  static __device__ __forceinline__ void stash(const float (&ra)[A_PER], const float (&rb)[B_PER],
                                               float (&as)[BK][BM + APAD], float (&bs)[BK][BN + BPAD]) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int r = 0; r < A_PER; ++r) {
      const int e = tid + r * THREADS;
      as[$AK][$AROW] = $CVT(ra[r]);
    }
#pragma unroll
    for (int r = 0; r < B_PER; ++r) {
      const int e = tid + r * THREADS;
      bs[$BK][$BROW] = $CVT(rb[r]);
    }
  }
)";

constexpr std::string_view kComputeFma =
    R"(  // Thread (tx, ty) owns rows (i / 4) * (BM / 2) + tx * 4 + i % 4 (two groups of 4 when TM = 8)
  // and columns ty * 4 + j.
  static __device__ __forceinline__ I row_of(int tx, int i) { return (i / 4) * (BM * 4 / TM) + tx * 4 + i % 4; }
  static __device__ __forceinline__ int col_of(int ty, int j) { return (j / 4) * (BN * 4 / TN) + ty * 4 + j % 4; }
  static __device__ __forceinline__ void compute(const float (&as)[BK][BM + APAD], const float (&bs)[BK][BN + BPAD],
                                                 float (&acc)[TM][TN]) {
    const int tx = threadIdx.x % TX, ty = threadIdx.x / TX;
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = as[kk][row_of(tx, i)];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = bs[kk][col_of(ty, j)];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  }
)";

constexpr std::string_view kComputeTc =
    R"(  // Warp (wm, wn) owns rows wm * WTM + [0, WTM) and columns wn * WTN + [0, WTN): FM x FN
  // fragments of 16 x 8. Lane (lg, lt) = (lane / 4, lane % 4) holds the mma.sync fragment elements.
  static __device__ __forceinline__ void compute(const float (&as)[BK][BM + APAD], const float (&bs)[BK][BN + BPAD],
                                                 float (&acc)[FM][FN][4]) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int wm = warp % WARPS_M, wn = warp / WARPS_M;
    const int lg = lane / 4, lt = lane % 4;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 8) {
      unsigned fa[FM][4], fb[FN][2];
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        const int r = wm * WTM + i * 16 + lg;
        fa[i][0] = __float_as_uint(as[kk + lt][r]);
        fa[i][1] = __float_as_uint(as[kk + lt][r + 8]);
        fa[i][2] = __float_as_uint(as[kk + lt + 4][r]);
        fa[i][3] = __float_as_uint(as[kk + lt + 4][r + 8]);
      }
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        const int c = wn * WTN + j * 8 + lg;
        fb[j][0] = __float_as_uint(bs[kk + lt][c]);
        fb[j][1] = __float_as_uint(bs[kk + lt + 4][c]);
      }
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j)
          rc_mma_tf32(acc[i][j][0], acc[i][j][1], acc[i][j][2], acc[i][j][3], fa[i][0], fa[i][1], fa[i][2], fa[i][3],
                      fb[j][0], fb[j][1]);
    }
  }
)";

// bf16: element pair e holds k = 2 * ($AK) and the next; ra[2r], ra[2r + 1] are pair r's. An
// operand in a bf16 buffer was loaded exactly: rc_bf16_join makes its pair's bits the word.
constexpr std::string_view kFetchBf16 =
    R"(  static __device__ __forceinline__ void fetch($ATYPE A, $BTYPE B, int g, I m0,
                                               int n0, I k0, float (&ra)[A_PER], float (&rb)[B_PER]) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int r = 0; r < A_PER / 2; ++r) {
      const int e = tid + r * THREADS;
      const I m = m0 + ($AROW);
      const I k = k0 + 2 * ($AK);
      ra[2 * r] = (m < M && k < K) ? load_a(A, g, m, k) : 0.0f;
      ra[2 * r + 1] = (m < M && k + 1 < K) ? load_a(A, g, m, k + 1) : 0.0f;
    }
#pragma unroll
    for (int r = 0; r < B_PER / 2; ++r) {
      const int e = tid + r * THREADS;
      const int n = n0 + ($BROW);
      const I k = k0 + 2 * ($BK);
      rb[2 * r] = (k < K && n < N) ? load_b(B, g, k, n) : 0.0f;
      rb[2 * r + 1] = (k + 1 < K && n < N) ? load_b(B, g, k + 1, n) : 0.0f;
    }
  }
  static __device__ __forceinline__ void stash(const float (&ra)[A_PER], const float (&rb)[B_PER],
                                               unsigned (&as)[KP][BM + APAD], unsigned (&bs)[KP][BN + BPAD]) {
    const int tid = threadIdx.x;
#pragma unroll
    for (int r = 0; r < A_PER / 2; ++r) {
      const int e = tid + r * THREADS;
      as[$AK][$AROW] = $ACVT(ra[2 * r], ra[2 * r + 1]);
    }
#pragma unroll
    for (int r = 0; r < B_PER / 2; ++r) {
      const int e = tid + r * THREADS;
      bs[$BK][$BROW] = $BCVT(rb[2 * r], rb[2 * r + 1]);
    }
  }
)";

constexpr std::string_view kComputeBf16 =
    R"(  // Warp (wm, wn) owns rows wm * WTM + [0, WTM) and columns wn * WTN + [0, WTN): FM x FN
  // fragments of 16 x 8. Lane (lg, lt) = (lane / 4, lane % 4) holds the mma.sync fragment
  // registers, each a k pair: A rows lg and lg + 8, pairs lt and lt + 4; B column lg, the same pairs.
  static __device__ __forceinline__ void compute(const unsigned (&as)[KP][BM + APAD], const unsigned (&bs)[KP][BN + BPAD],
                                                 float (&acc)[FM][FN][4]) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int wm = warp % WARPS_M, wn = warp / WARPS_M;
    const int lg = lane / 4, lt = lane % 4;
#pragma unroll
    for (int kp = 0; kp < KP; kp += 8) {
      unsigned fa[FM][4], fb[FN][2];
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        const int r = wm * WTM + i * 16 + lg;
        fa[i][0] = as[kp + lt][r];
        fa[i][1] = as[kp + lt][r + 8];
        fa[i][2] = as[kp + lt + 4][r];
        fa[i][3] = as[kp + lt + 4][r + 8];
      }
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        const int c = wn * WTN + j * 8 + lg;
        fb[j][0] = bs[kp + lt][c];
        fb[j][1] = bs[kp + lt + 4][c];
      }
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j)
          rc_mma_bf16(acc[i][j][0], acc[i][j][1], acc[i][j][2], acc[i][j][3], fa[i][0], fa[i][1], fa[i][2], fa[i][3],
                      fb[j][0], fb[j][1]);
    }
  }
)";

constexpr std::string_view kEpilogueFma = R"(const int tx = threadIdx.x % TX, ty = threadIdx.x / TX;
#pragma unroll
for (int i = 0; i < TM; ++i) {
  const I m = m0 + row_of(tx, i);
#pragma unroll
  for (int j = 0; j < TN; ++j) {
    const int n = n0 + col_of(ty, j);
    if (m < M && n < N) $STORE(acc[i][j]);
  }
})";

constexpr std::string_view kEpilogueTc = R"(const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
const int wm = warp % WARPS_M, wn = warp / WARPS_M;
const int lg = lane / 4, lt = lane % 4;
#pragma unroll
for (int i = 0; i < FM; ++i)
#pragma unroll
  for (int j = 0; j < FN; ++j)
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int q = 0; q < 2; ++q) {
        const I m = m0 + wm * WTM + i * 16 + lg + 8 * h;
        const int n = n0 + wn * WTN + j * 8 + 2 * lt + q;
        if (m < M && n < N) $STORE(acc[i][j][2 * h + q]);
      })";

// Statistics epilogues: $VALUE is the stored value of the element (row m, column n).
constexpr std::string_view kStatsFma = R"(
// BatchNorm statistics: the column's TX threads are lanes of one warp (tx = lane % TX).
#pragma unroll
for (int j = 0; j < TN; ++j) {
  const int n = n0 + col_of(ty, j);
  double s = 0.0, ss = 0.0;
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const I m = m0 + row_of(tx, i);
    if (m < M && n < N) {
      const double v = $VALUE;
      s += v;
      ss += v * v;
    }
  }
#pragma unroll
  for (int o = TX / 2; o > 0; o /= 2) {
    s += __shfl_xor_sync(0xffffffffu, s, o);
    ss += __shfl_xor_sync(0xffffffffu, ss, o);
  }
  if (tx == 0 && n < N) stats_partial(ws, g, n, s, ss);
})";

constexpr std::string_view kStatsTc = R"(
// BatchNorm statistics: a column's rows are in lanes lt + 4 * lg of each warp wm, then in red[wm].
__shared__ double red[WARPS_M][BN][2];
#pragma unroll
for (int j = 0; j < FN; ++j)
#pragma unroll
  for (int q = 0; q < 2; ++q) {
    const int col = wn * WTN + j * 8 + 2 * lt + q;
    const int n = n0 + col;
    double s = 0.0, ss = 0.0;
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const I m = m0 + wm * WTM + i * 16 + lg + 8 * h;
        if (m < M && n < N) {
          const double v = $VALUE;
          s += v;
          ss += v * v;
        }
      }
#pragma unroll
    for (int o = 16; o >= 4; o /= 2) {
      s += __shfl_xor_sync(0xffffffffu, s, o);
      ss += __shfl_xor_sync(0xffffffffu, ss, o);
    }
    if (lg == 0) {
      red[wm][col][0] = s;
      red[wm][col][1] = ss;
    }
  }
__syncthreads();
for (int col = threadIdx.x; col < BN; col += THREADS) {
  double s = 0.0, ss = 0.0;
  for (int w = 0; w < WARPS_M; ++w) {
    s += red[w][col][0];
    ss += red[w][col][1];
  }
  if (n0 + col < N) stats_partial(ws, g, n0 + col, s, ss);
})";

// Row tile blockIdx.x's sums of column g*N + n: at [column][row tile][2] doubles from the
// workspace's start, so the reduction reads each column's row tiles contiguously.
constexpr std::string_view kStatsPartial =
    R"(  static __device__ __forceinline__ void stats_partial(float* ws, int g, int n, double s, double ss) {
    double* p = reinterpret_cast<double*>(ws) + ((I)(g * N + n) * MT + blockIdx.x) * 2;
    p[0] = s;
    p[1] = ss;
  }
)";

// The channel reduction's last step, with tot = (sum, sum of squares) of column c's ROWS values.
constexpr std::string_view kStatsFinalize = R"(const double mean = tot[0] / ROWS;
const double var = tot[1] / ROWS - mean * mean;
stats[c] = (float)mean;
stats[C + c] = (float)(var > 0.0 ? var : 0.0);)";

// What emit_gemm chose for one problem: the tile, the K split and what the kernels write.
struct GemmLayout {
  bool bf16 = false, tc = false;  // bf16 operands; tensor cores (TF32 or bf16 mma.sync)
  Tile t{};
  int64_t split = 1, chunk = 0;  // K split `split` ways, `chunk` of it (whole BK steps) each
  int64_t part = 0;              // C's elements
  int64_t ws_numel = 0;          // the split-K partial results in the workspace, in floats
  bool stats = false, bias = false;
  int64_t row_tiles = 0;
  int64_t stats_floats = 0;  // the epilogue's statistics in the workspace
  std::string I;             // the index type
};

GemmLayout lay_out(const Emitter& e, const GemmProblem& p) {
  const CudaOptions& o = e.options();
  GemmLayout l;
  l.bf16 = p.bf16;
  l.tc = p.tensor_cores || l.bf16;
  l.t = choose_tile(p, l.tc, o.target_blocks);
  const Tile& t = l.t;
  const int64_t tiles_mn = ceil_div(p.M, t.BM) * ceil_div(p.N, t.BN) * p.groups;
  // Split K until the blocks fill the GPU, each split doing at least min_split_k of K.
  int64_t split = 1;
  if (tiles_mn < o.target_blocks)
    split = std::clamp<int64_t>(
        std::min(ceil_div(o.target_blocks, tiles_mn), p.K / std::max<int64_t>(o.min_split_k, 1)), 1, 64);
  l.chunk = std::max<int64_t>(ceil_div(ceil_div(p.K, split), t.BK) * t.BK, t.BK);
  l.split = std::max<int64_t>(ceil_div(p.K, l.chunk), 1);  // K = 0 (taps only in the padding): one split of zeros
  if (ceil_div(p.M, t.BM) > 0x7fffffff || ceil_div(p.N, t.BN) > 65535 || p.groups * l.split > 65535)
    throw std::invalid_argument(fmt::format("CUDA emitter: {}: GEMM {}x{}x{} in {} groups is too large for one grid",
                                            e.where(), p.M, p.N, p.K, p.groups));
  l.part = p.groups * p.M * p.N;
  l.ws_numel = l.split > 1 ? l.split * l.part : 0;
  l.stats = p.stats_buffer >= 0;
  if (l.stats && !p.out_m_contiguous)
    throw std::invalid_argument(
        fmt::format("CUDA emitter: {}: column statistics need a row-contiguous output", e.where()));
  l.row_tiles = ceil_div(p.M, t.BM);
  // The epilogue's statistics: two doubles (four floats) per column and row tile.
  l.stats_floats = l.stats && l.split == 1 ? p.groups * p.N * l.row_tiles * 4 : 0;
  l.I = index_type(std::max({p.max_elements, l.ws_numel, l.stats_floats}));
  l.bias = p.bias_buffer >= 0;
  return l;
}

std::string out_index_fn(const GemmProblem& p) {
  return fmt::format("  static __device__ __forceinline__ I out_index(int g, I m, I n) {{\n{}  }}\n", p.out_index);
}

std::string bias_index_fn(const GemmProblem& p) {
  return fmt::format("  static __device__ __forceinline__ int bias_index(int g, I n) {{\n{}  }}\n", p.bias_index);
}

const char* operand_pointer(bool bf16_buffer) {
  return bf16_buffer ? "const unsigned short* __restrict__" : "const float* __restrict__";
}

// The tile's fetch (global memory to registers), stash (registers to shared memory, rounded)
// and compute (the products of one shared tile), for operands in bf16 buffers or not.
std::string tile_functions(const GemmProblem& p, const GemmLayout& l, bool a_bf16, bool b_bf16) {
  const std::string_view depth = l.bf16 ? "KP" : "BK";
  const Mapping a = mapping(p.a_m_contiguous, "BM", depth);
  const Mapping b = mapping(p.b_n_contiguous, "BN", depth);
  const std::vector<std::pair<std::string, std::string>> operands = {
      {"AROW", a.row}, {"AK", a.k}, {"BROW", b.row}, {"BK", b.k},
      {"ATYPE", operand_pointer(a_bf16)}, {"BTYPE", operand_pointer(b_bf16)}};
  std::vector<std::pair<std::string, std::string>> values = operands;
  if (l.bf16) {
    values.insert(values.end(), {{"ACVT", a_bf16 ? "rc_bf16_join" : "rc_bf16x2"},
                                 {"BCVT", b_bf16 ? "rc_bf16_join" : "rc_bf16x2"}});
    return subst(kFetchBf16, values) + std::string(kComputeBf16);
  }
  values.emplace_back("CVT", l.tc ? "rc_tf32" : "");
  return subst(kFetch, values) + std::string(l.tc ? kComputeTc : kComputeFma);
}

// The main kernel's members: its constants, the problem's gathers and stores, and the tile's
// functions.
std::string gemm_members(const Emitter& e, const GemmProblem& p, const GemmLayout& l) {
  const Tile& t = l.t;
  const bool bf16 = l.bf16, tc = l.tc;
  Members m;
  m.text(fmt::format("  using I = {};\n", l.I));
  m.text(p.members);
  m.constant("M", p.M).constant("N", p.N).constant("K", p.K).constant("G", p.groups);
  m.constant("KSPLIT", l.split).constant("KCHUNK", l.chunk).constant("PART", l.part);
  m.constant("BM", t.BM).constant("BN", t.BN).constant("BK", t.BK).constant("THREADS", t.threads);
  m.constant("A_PER", t.BM * t.BK / t.threads).constant("B_PER", t.BN * t.BK / t.threads);
  m.constant("APAD", tc ? 8 : 4).constant("BPAD", tc ? 8 : 4);
  if (bf16) {
    if ((t.BM * t.BK / t.threads) % 2 || (t.BN * t.BK / t.threads) % 2)
      throw std::logic_error("CUDA emitter: a bf16 tile must give each thread whole k pairs to load");
    m.constant("KP", t.BK / 2);
  }
  if (tc) {
    m.constant("WARPS_M", t.WARPS_M).constant("WARPS_N", t.WARPS_N);
    m.constant("WTM", t.BM / t.WARPS_M).constant("WTN", t.BN / t.WARPS_N);
    m.constant("FM", t.BM / t.WARPS_M / 16).constant("FN", t.BN / t.WARPS_N / 8);
  } else {
    m.constant("TM", t.TM).constant("TN", t.TN).constant("TX", t.BM / t.TM);
  }
  // An operand in a bf16 buffer: its pointer, and the bodies' A[...] / B[...] through a view that widens.
  const bool a_bf16 = is_bf16(e, p.a_buffer), b_bf16 = is_bf16(e, p.b_buffer);
  const auto view = [](bool stored, char name) {
    return stored ? fmt::format("    const rc_bf16_view {0}{{{0}_bits}};\n", name) : std::string();
  };
  m.text(fmt::format("  static __device__ __forceinline__ float load_a({} A{}, int g, I m, I k) {{\n{}{}  }}\n",
                     operand_pointer(a_bf16), a_bf16 ? "_bits" : "", view(a_bf16, 'A'), p.load_a));
  m.text(fmt::format("  static __device__ __forceinline__ float load_b({} B{}, int g, I k, I n) {{\n{}{}  }}\n",
                     operand_pointer(b_bf16), b_bf16 ? "_bits" : "", view(b_bf16, 'B'), p.load_b));
  m.text(out_index_fn(p));
  if (l.bias && l.split == 1) m.text(bias_index_fn(p));
  // Split-K partial results: C of split s at ws[s * PART + part_index(g, m, n)], dense, in the
  // output's contiguous order so the second pass reads and writes coalesced.
  const std::string part_index =
      p.out_m_contiguous ? "    return ((I)g * N + n) * M + m;\n" : "    return ((I)g * M + m) * N + n;\n";
  if (l.split > 1)
    m.text(fmt::format("  static __device__ __forceinline__ I part_index(int g, I m, I n) {{\n{}  }}\n", part_index));
  if (l.stats_floats > 0) m.constant("MT", l.row_tiles).text(kStatsPartial);
  m.text(tile_functions(p, l, a_bf16, b_bf16));
  return m.str();
}

// The output element, from $V: the accumulator plus the bias, if any.
std::string output_value(const GemmLayout& l) { return l.bias ? "$V + bias[bias_index(g, n)]" : "$V"; }

// The main kernel's epilogue: each accumulator stored to y (or, split, to its partial result in
// the workspace), then the tile's column statistics when asked.
std::string gemm_epilogue(const GemmLayout& l) {
  const std::string value = output_value(l);
  const std::string store =
      l.split == 1 ? "y[out_index(g, m, n)] = " + value : "ws[(I)split * PART + part_index(g, m, n)] = $V";
  // $STORE(v) -> the store with v.
  std::string epilogue(l.tc ? kEpilogueTc : kEpilogueFma);
  {
    const std::string_view tag = "$STORE(";
    const size_t at = epilogue.find(tag);
    const size_t close = epilogue.find(");", at);
    const std::string v = epilogue.substr(at + tag.size(), close - at - tag.size());
    epilogue = epilogue.substr(0, at) + subst(store, {{"V", v}}) + epilogue.substr(close + 1);
  }
  if (l.stats_floats > 0)
    epilogue += subst(l.tc ? kStatsTc : kStatsFma,
                      {{"VALUE", subst(value, {{"V", l.tc ? "acc[i][j][2 * h + q]" : "acc[i][j]"}})}});
  return epilogue;
}

std::vector<Param> gemm_params(const Emitter& e, const GemmProblem& p, const GemmLayout& l) {
  if (l.split > 1)
    return {{"ws", ParamType::Out, kWorkspace},
            {p.a_name, in_param(e, p.a_buffer), p.a_buffer},
            {p.b_name, in_param(e, p.b_buffer), p.b_buffer}};
  std::vector<Param> params = {{"y", ParamType::Out, p.out_buffer},
                               {p.a_name, in_param(e, p.a_buffer), p.a_buffer},
                               {p.b_name, in_param(e, p.b_buffer), p.b_buffer}};
  if (l.bias) params.push_back({"bias", ParamType::In, p.bias_buffer});
  if (l.stats) params.push_back({"ws", ParamType::Out, kWorkspace});
  return params;
}

// The tiled kernel itself: C (or the splits' partial results) and the tiles' statistics.
void launch_tiles(Emitter& e, const GemmProblem& p, const GemmLayout& l) {
  const Tile& t = l.t;
  const bool bf16 = l.bf16, tc = l.tc;
  const std::string acc =
      tc ? "float acc[FM][FN][4];\n#pragma unroll\nfor (int i = 0; i < FM; ++i)\n#pragma unroll\n"
           "  for (int j = 0; j < FN; ++j)\n#pragma unroll\n    for (int q = 0; q < 4; ++q) acc[i][j][q] = 0.0f;"
         : "float acc[TM][TN];\n#pragma unroll\nfor (int i = 0; i < TM; ++i)\n#pragma unroll\n"
           "  for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;";
  KernelSource k;
  k.family = p.family;
  k.comment = fmt::format("{}: GEMM M={} N={} K={}{}, {}x{} tiles{}, {}{}{}", p.comment, p.M, p.N, p.K,
                          p.groups > 1 ? fmt::format(" x {} groups", p.groups) : "", t.BM, t.BN,
                          l.split > 1 ? fmt::format(", K split {} ways", l.split) : "",
                          bf16 ? "BF16 mma.sync" : tc ? "TF32 mma.sync" : "FMA",
                          l.split > 1 ? " (partial sums to the workspace)" : "",
                          l.stats_floats > 0 ? ", column sums and sums of squares per row tile to the workspace" : "");
  k.members = gemm_members(e, p, l);
  k.body = subst(kRun, {{"ACC_DECL", acc},
                        {"EPILOGUE", gemm_epilogue(l)},
                        {"A", p.a_name},
                        {"B", p.b_name},
                        {"SMEM", bf16 ? "unsigned" : "float"},
                        {"DEPTH", bf16 ? "KP" : "BK"}});
  k.params = gemm_params(e, p, l);
  k.threads = static_cast<unsigned>(t.threads);
  // The 256-thread tensor-core tiles with int indices: at most 128 registers a thread, so two
  // blocks (16 warps) share an SM; ptxas fits them without spilling (the NVRTC tests check). The
  // others (smaller tiles, FMA register blocks, 64-bit indices) spill under that cap: up to 255.
  k.min_blocks = tc && t.threads == 256 && l.I == "int" ? 2 : 1;
  k.grid[0] = static_cast<unsigned>(ceil_div(p.M, t.BM));
  k.grid[1] = static_cast<unsigned>(ceil_div(p.N, t.BN));
  k.grid[2] = static_cast<unsigned>(p.groups * l.split);
  e.launch(std::move(k));
}

// Unsplit with statistics: each column's row tiles added in order (a channel reduction over
// [1, G*N, MT] pairs).
void emit_tile_stats_reduction(Emitter& e, const GemmProblem& p, const GemmLayout& l) {
  ChannelReduce r;
  r.family = p.family + "_stats";
  r.comment = fmt::format("{}: BatchNorm mean and biased variance of the {} channels from their {} row tiles' sums",
                          p.comment, p.groups * p.N, l.row_tiles);
  r.C = p.groups * p.N, r.NB = 1, r.HW = l.row_tiles, r.nsum = 2;
  Members rm;
  rm.constant("C", r.C).constant("HW", l.row_tiles).constant("COUNT", l.row_tiles).constant("ROWS", p.M);
  r.members = rm.str();
  r.element =
      "const double* pair = reinterpret_cast<const double*>(ws) + 2 * idx;\n"
      "s[0] += pair[0];\n"
      "s[1] += pair[1];";
  r.finalize = kStatsFinalize;
  r.params = {{"stats", ParamType::Out, p.stats_buffer}};
  r.max_elements = l.stats_floats;
  r.workspace_offset = l.stats_floats;
  e.need_workspace((l.stats_floats + emit_channel_reduce(e, r)) * 4);
}

// Split with statistics: the splits' sum as a channel reduction over [1, G*N, M]:
// part_index(g, m, n) is (g*N + n)*M + m, so a block sums a run of one column's rows, stores
// them and accumulates their statistics.
void emit_split_sum_with_stats(Emitter& e, const GemmProblem& p, const GemmLayout& l) {
  ChannelReduce r;
  r.family = p.family + "_sum_stats";
  r.comment = fmt::format("{}: the sum of {} split-K partial results{}, and the BatchNorm mean and biased variance "
                          "of each of its {} channels",
                          p.comment, l.split, l.bias ? " plus the bias" : "", p.groups * p.N);
  r.C = p.groups * p.N, r.NB = 1, r.HW = p.M, r.nsum = 2;
  Members rm;
  rm.text(p.members);
  rm.constant("M", p.M).constant("N", p.N).constant("KSPLIT", l.split).constant("PART", l.part);
  rm.constant("C", r.C).constant("HW", p.M).constant("COUNT", p.M).constant("ROWS", p.M);
  rm.text(out_index_fn(p)).text(l.bias ? bias_index_fn(p) : std::string());
  r.members = rm.str();
  r.prologue = "const int g = c / N, n = c % N;";
  if (l.bias) r.prologue += "\nconst float b = bias[bias_index(g, n)];";
  r.element = fmt::format(R"(float v = 0.0f;
#pragma unroll 4
for (int k = 0; k < KSPLIT; ++k) v += ws[(I)k * PART + idx];
{}y[out_index(g, idx % M, n)] = v;
s[0] += v;
s[1] += (double)v * v;)",
                          l.bias ? "v = v + b;\n" : "");
  r.finalize = kStatsFinalize;
  r.params = {{"y", ParamType::Out, p.out_buffer}, {"stats", ParamType::Out, p.stats_buffer}};
  if (l.bias) r.params.push_back({"bias", ParamType::In, p.bias_buffer});
  r.max_elements = std::max(p.max_elements, l.ws_numel);
  r.workspace_offset = ceil_div(l.ws_numel, 2) * 2;  // the chunks' double sums, 8-byte aligned
  e.need_workspace((r.workspace_offset + emit_channel_reduce(e, r)) * 4);
}

// Split without statistics, the second pass: y = sum of the splits, in order (+ bias).
void emit_split_sum(Emitter& e, const GemmProblem& p, const GemmLayout& l) {
  Members r;
  r.text(fmt::format("  using I = {};\n", l.I));
  r.text(p.members);
  r.constant("M", p.M).constant("N", p.N).constant("KSPLIT", l.split).constant("PART", l.part).constant("THREADS", 256);
  r.text(out_index_fn(p)).text(l.bias ? bias_index_fn(p) : std::string());
  const std::string decode =
      p.out_m_contiguous ? "  const I m = q % M;\n  const I n = (q / M) % N;\n  const int g = (int)(q / ((I)M * N));\n"
                         : "  const I n = q % N;\n  const I m = (q / N) % M;\n  const int g = (int)(q / ((I)M * N));\n";
  KernelSource s;
  s.family = p.family + "_sum";
  s.comment =
      fmt::format("{}: the sum of {} split-K partial results{}", p.comment, l.split, l.bias ? " plus the bias" : "");
  s.members = r.str();
  s.body = fmt::format(R"(for (I q = (I)blockIdx.x * THREADS + threadIdx.x; q < PART; q += (I)gridDim.x * THREADS) {{
{}  float v = 0.0f;
#pragma unroll 4
  for (int s = 0; s < KSPLIT; ++s) v += ws[(I)s * PART + q];
  y[out_index(g, m, n)] = v{};
}})",
                       decode, l.bias ? " + bias[bias_index(g, n)]" : "");
  s.params = {{"y", ParamType::Out, p.out_buffer}, {"ws", ParamType::In, kWorkspace}};
  if (l.bias) s.params.push_back({"bias", ParamType::In, p.bias_buffer});
  s.threads = 256;
  s.grid[0] = e.grid_stride(l.part, 256);
  e.launch(std::move(s));
}

}  // namespace

void emit_gemm(Emitter& e, const GemmProblem& p) {
  const GemmLayout l = lay_out(e, p);
  launch_tiles(e, p, l);
  if (l.split == 1) {
    if (l.stats) emit_tile_stats_reduction(e, p, l);
    return;
  }
  e.need_workspace(l.ws_numel * 4);
  if (l.stats)
    emit_split_sum_with_stats(e, p, l);
  else
    emit_split_sum(e, p, l);
}

}  // namespace resnetc::codegen::cuda::detail
