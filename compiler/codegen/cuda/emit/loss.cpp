// Softmax cross-entropy over logits [N, K] with int32 labels [N]: a warp per row (max and sum
// of exponentials by shuffle trees). The loss, the mean over the batch, is one block whose warps
// take rows in turn and whose per-warp totals are added in warp order (deterministic). A label
// outside [0, K) makes its row's loss and gradient NaN (the reference executor rejects it).
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"

namespace resnetc::codegen::cuda::detail {
namespace {

constexpr std::string_view kRowStats =
    R"(  // Over row r of the logits: its maximum and sum(exp(logit - max)), in every lane.
  static __device__ __forceinline__ void row_stats(const float* __restrict__ logits, int r, int lane, float& mx, float& sum) {
    mx = __int_as_float(0xff800000);
    for (int k = lane; k < K; k += 32) mx = fmaxf(mx, logits[(I)r * K + k]);
#pragma unroll
    for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    sum = 0.0f;
    for (int k = lane; k < K; k += 32) sum += expf(logits[(I)r * K + k] - mx);
#pragma unroll
    for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  }
)";

}  // namespace

void emit_loss(Emitter& e) {
  const plan::Kernel& k = e.kernel();
  const ir::Dims& logits = e.in(0).shape;
  const int64_t n = logits[0], classes = logits[1];
  Members m;
  m.text(fmt::format("  using I = {};\n", index_type(n * classes)));
  m.constant("NB", n)
      .constant("K", classes)
      .constant("THREADS", 256)
      .constant_f("INV_NB", 1.0 / static_cast<double>(n));
  m.text(kRowStats);
  KernelSource s;
  s.members = m.str();
  s.threads = 256;
  if (k.kind == ir::OpKind::SoftmaxCrossEntropy) {
    s.family = "softmax_xent";
    s.comment = fmt::format("softmax cross-entropy loss, the mean over the batch, logits [{}, {}]", n, classes);
    s.body = R"(const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
double total = 0.0;
for (int r = warp; r < NB; r += THREADS / 32) {
  float mx, sum;
  row_stats(logits, r, lane, mx, sum);
  const int label = labels[r];
  const bool ok = label >= 0 && label < K;
  const double row = ok ? (double)mx + log((double)sum) - (double)logits[(I)r * K + (ok ? label : 0)] : (double)nanf("");
  total += row;
}
__shared__ double part[THREADS / 32];
if (lane == 0) part[warp] = total;
__syncthreads();
if (threadIdx.x == 0) {
  double all = 0.0;
  for (int w = 0; w < THREADS / 32; ++w) all += part[w];
  loss[0] = (float)(all / NB);
}
)";
    s.params = {{"loss", ParamType::Out, e.out_index()},
                {"logits", ParamType::In, e.in_index(0)},
                {"labels", ParamType::InInt, e.in_index(1)}};
    s.grid[0] = 1;
  } else {
    s.family = "softmax_xent_grad";
    s.comment = fmt::format("softmax cross-entropy gradient (softmax - onehot) / N, logits [{}, {}], a warp per row", n,
                            classes);
    s.body = R"(const int lane = threadIdx.x % 32;
const int r = blockIdx.x * (THREADS / 32) + threadIdx.x / 32;
if (r < NB) {
  float mx, sum;
  row_stats(logits, r, lane, mx, sum);
  const int label = labels[r];
  const bool ok = label >= 0 && label < K;
  const float inv = 1.0f / sum;
  for (int k = lane; k < K; k += 32) {
    const float p = expf(logits[(I)r * K + k] - mx) * inv - (k == label ? 1.0f : 0.0f);
    dx[(I)r * K + k] = ok ? p * INV_NB : nanf("");
  }
}
)";
    s.params = {{"dx", ParamType::Out, e.out_index()},
                {"logits", ParamType::In, e.in_index(0)},
                {"labels", ParamType::InInt, e.in_index(1)}};
    s.grid[0] = static_cast<unsigned>(ceil_div(n, 8));
  }
  e.launch(std::move(s));
}

}  // namespace resnetc::codegen::cuda::detail
