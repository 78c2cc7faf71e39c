// Softmax cross-entropy over logits [N, K] with int32 labels [N]: a warp per row (max and sum
// of exponentials by shuffle trees). The loss, the mean over the batch, is one block whose warps
// take rows in turn and whose per-warp totals are added in warp order (deterministic). A label
// outside [0, K) makes its row's loss and gradient NaN (the reference executor rejects it).
// Label smoothing s (the target (1 - s) onehot + s/K) adds each row's sum of logits to the loss.
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

constexpr std::string_view kRowSum =
    R"(  // The sum of row r of the logits, in every lane.
  static __device__ __forceinline__ float row_sum(const float* __restrict__ logits, int r, int lane) {
    float s = 0.0f;
    for (int k = lane; k < K; k += 32) s += logits[(I)r * K + k];
#pragma unroll
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    return s;
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
  const double smoothing = k.attrs.label_smoothing, spread = smoothing / static_cast<double>(classes);
  if (smoothing != 0) {
    m.constant_d("TAKE", 1 - smoothing).constant_d("SPREAD", spread);
    m.constant_f("ON", 1 - smoothing + spread).constant_f("OFF", spread);
    m.text(kRowSum);
  }
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
  const double row = ok ? (double)mx + log((double)sum) - $PICKED : (double)nanf("");
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
    s.body = subst(s.body, {{"PICKED", smoothing != 0 ? "TAKE * (double)logits[(I)r * K + (ok ? label : 0)] - SPREAD * "
                                                      "(double)row_sum(logits, r, lane)"
                                                    : "(double)logits[(I)r * K + (ok ? label : 0)]"}});
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
    const float p = expf(logits[(I)r * K + k] - mx) * inv - (k == label ? $ON : $OFF);
    dx[(I)r * K + k] = ok ? p * INV_NB : nanf("");
  }
}
)";
    s.body = subst(s.body, {{"ON", smoothing != 0 ? "ON" : "1.0f"}, {"OFF", smoothing != 0 ? "OFF" : "0.0f"}});
    s.params = {{"dx", ParamType::Out, e.out_index()},
                {"logits", ParamType::In, e.in_index(0)},
                {"labels", ParamType::InInt, e.in_index(1)}};
    s.grid[0] = static_cast<unsigned>(ceil_div(n, 8));
  }
  if (smoothing != 0) s.comment += fmt::format(", label smoothing {}", smoothing);
  e.launch(std::move(s));
}

}  // namespace resnetc::codegen::cuda::detail
