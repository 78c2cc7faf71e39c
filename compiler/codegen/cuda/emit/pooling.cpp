// Pooling and its gradients. x is [N, C, H, W], y [N, C, OH, OW].
// - maxpool, avgpool: one thread per output element; padding never wins a max (it is -inf),
//   and a NaN does (the last NaN in scan order), as in PyTorch; avgpool divides by KH*KW
//   (count_include_pad=True), or, with count_include_pad off or ceil_mode, by each window's
//   count as PyTorch's (a `divisor` member function, emitted only then).
// - their gradients gather instead of scatter: one thread per input element sums the dy of the
//   windows that cover it, in row-major window order, so no atomics are needed; a max window
//   gives its dy to the first maximum in row-major scan order (recomputed per window).
// - global_avgpool: one warp per (n, c) plane, a shuffle tree; global_maxpool is maxpool with
//   the whole plane as its window.
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"

namespace resnetc::codegen::cuda::detail {
namespace {

// Whether every avgpool window divides by KH*KW (PyTorch's defaults).
bool fixed_divisor(const ir::Attrs& a) { return a.count_include_pad && !a.ceil_mode; }

std::string window_members(const ir::Dims& x, const ir::Dims& y, const ir::Attrs& a) {
  Members m;
  m.constant("NC", x[0] * x[1]).constant("H", x[2]).constant("W", x[3]).constant("OH", y[2]).constant("OW", y[3]);
  m.constant("KH", a.kernel[0]).constant("KW", a.kernel[1]).constant("SH", a.stride[0]).constant("SW", a.stride[1]);
  m.constant("PH", a.padding[0]).constant("PW", a.padding[1]).constant("THREADS", 256);
  m.constant_f("DIV", static_cast<double>(a.kernel[0] * a.kernel[1]));
  if (!fixed_divisor(a))
    m.text(a.count_include_pad ? R"(  // The window clipped to the padded image (ceil_mode windows may hang past it).
  static __device__ __forceinline__ float divisor(int oh, int ow) {
    const int h0 = oh * SH - PH, w0 = ow * SW - PW;
    const int h1 = h0 + KH < H + PH ? h0 + KH : H + PH, w1 = w0 + KW < W + PW ? w0 + KW : W + PW;
    return (float)((h1 - h0) * (w1 - w0));
  }
)"
                               : R"(  // The window clipped to the image (count_include_pad=False).
  static __device__ __forceinline__ float divisor(int oh, int ow) {
    const int h0 = oh * SH - PH, w0 = ow * SW - PW;
    const int h1 = h0 + KH < H ? h0 + KH : H, w1 = w0 + KW < W ? w0 + KW : W;
    return (float)(((h1) - (h0 > 0 ? h0 : 0)) * ((w1) - (w0 > 0 ? w0 : 0)));
  }
)");
  // The flat index into the plane of the first maximum of window (oh, ow).
  m.text(R"(  static __device__ __forceinline__ int argmax(const float* __restrict__ plane, int oh, int ow) {
    int best = -1;
    float best_v = 0.0f;
    for (int i = 0; i < KH; ++i) {
      const int h = oh * SH - PH + i;
      if (h < 0 || h >= H) continue;
      for (int j = 0; j < KW; ++j) {
        const int w = ow * SW - PW + j;
        if (w < 0 || w >= W) continue;
        const float v = plane[h * W + w];
        if (best < 0 || v > best_v || v != v) {
          best = h * W + w;
          best_v = v;
        }
      }
    }
    return best;
  }
)");
  return m.str();
}

std::string window_text(const ir::Dims& x, const ir::Attrs& a) {
  return fmt::format("x {}, window {}x{} stride {}x{} padding {}x{}{}", ir::format_dims(x), a.kernel[0], a.kernel[1],
                     a.stride[0], a.stride[1], a.padding[0], a.padding[1], a.ceil_mode ? ", ceil_mode" : "");
}

// For input row h: the output rows whose windows cover it, [lo, hi].
constexpr std::string_view kCover = R"(const int w = (int)(i % W);
const I t = i / W;
const int h = (int)(t % H);
const I nc = t / H;
const int th = h + PH - (KH - 1), tw = w + PW - (KW - 1);
const int oh_lo = th <= 0 ? 0 : (th + SH - 1) / SH, ow_lo = tw <= 0 ? 0 : (tw + SW - 1) / SW;
const int oh_hi = (h + PH) / SH < OH - 1 ? (h + PH) / SH : OH - 1;
const int ow_hi = (w + PW) / SW < OW - 1 ? (w + PW) / SW : OW - 1;
float acc = 0.0f;
)";

}  // namespace

void emit_pooling(Emitter& e) {
  const plan::Kernel& k = e.kernel();
  ir::Attrs a = k.attrs;
  if (k.kind == ir::OpKind::GlobalMaxPool)  // maxpool with the whole plane as its window
    a.kernel[0] = e.in(0).shape[2], a.kernel[1] = e.in(0).shape[3];
  KernelSource s;
  s.threads = 256;
  switch (k.kind) {
    case ir::OpKind::MaxPool:
    case ir::OpKind::GlobalMaxPool:
    case ir::OpKind::AvgPool: {
      const ir::Dims& x = e.in(0).shape;
      const ir::Dims& y = e.out().shape;
      const int64_t total = ir::numel(y);
      Members m;
      m.text(fmt::format("  using I = {};\n", index_type(ir::numel(x))));
      m.text(window_members(x, y, a)).constant("TOTAL", total);
      const bool max = k.kind != ir::OpKind::AvgPool;
      s.family = max ? "maxpool" : "avgpool";
      s.comment = fmt::format("{}, {}", max                    ? "max pooling"
                                        : a.count_include_pad ? "average pooling (count_include_pad)"
                                                              : "average pooling (padding not counted)",
                              window_text(x, a));
      s.members = m.str();
      s.body = R"(for (I o = (I)blockIdx.x * THREADS + threadIdx.x; o < TOTAL; o += (I)gridDim.x * THREADS) {
  const int ow = (int)(o % OW);
  const I t = o / OW;
  const int oh = (int)(t % OH);
  const float* __restrict__ plane = x + (t / OH) * (H * W);
)";
      if (max) {
        s.body += "  y[o] = plane[argmax(plane, oh, ow)];\n}\n";
      } else {
        s.body += R"(  float sum = 0.0f;
  for (int i = 0; i < KH; ++i) {
    const int h = oh * SH - PH + i;
    if (h < 0 || h >= H) continue;
    for (int j = 0; j < KW; ++j) {
      const int w = ow * SW - PW + j;
      if (w >= 0 && w < W) sum += plane[h * W + w];
    }
  }
  y[o] = sum / DIV;
}
)";
        if (!fixed_divisor(a)) s.body.replace(s.body.find("sum / DIV"), 9, "sum / divisor(oh, ow)");
      }
      s.params = {{"y", ParamType::Out, e.out_index()}, {"x", ParamType::In, e.in_index(0)}};
      s.grid[0] = e.grid_stride(total, 256);
      break;
    }
    case ir::OpKind::MaxPoolGrad:
    case ir::OpKind::AvgPoolGrad: {
      const bool max = k.kind == ir::OpKind::MaxPoolGrad;
      const ir::Dims& x = max ? e.in(1).shape : a.shape;
      const ir::Dims& y = e.in(0).shape;
      const int64_t total = ir::numel(x);
      Members m;
      m.text(fmt::format("  using I = {};\n", index_type(total)));
      m.text(window_members(x, y, a)).constant("TOTAL", total);
      s.family = max ? "maxpool_grad" : "avgpool_grad";
      s.comment = fmt::format("{} gradient, gathered per input element, {}", max ? "max pooling" : "average pooling",
                              window_text(x, a));
      s.members = m.str();
      std::string inner = max ? R"(const float* __restrict__ plane = x + nc * (H * W);
const int me = h * W + w;
for (int oh = oh_lo; oh <= oh_hi; ++oh)
  for (int ow = ow_lo; ow <= ow_hi; ++ow)
    if (argmax(plane, oh, ow) == me) acc += dy[(nc * OH + oh) * OW + ow];
dx[i] = acc;
)"
                              : R"(for (int oh = oh_lo; oh <= oh_hi; ++oh)
  for (int ow = ow_lo; ow <= ow_hi; ++ow) acc += dy[(nc * OH + oh) * OW + ow];
dx[i] = acc / DIV;
)";
      if (!max && !fixed_divisor(a)) {
        inner = R"(for (int oh = oh_lo; oh <= oh_hi; ++oh)
  for (int ow = ow_lo; ow <= ow_hi; ++ow) acc += dy[(nc * OH + oh) * OW + ow] / divisor(oh, ow);
dx[i] = acc;
)";
      }
      std::string body = std::string(kCover) + inner;
      std::string indented;
      for (size_t start = 0; start < body.size();) {
        size_t end = body.find('\n', start);
        if (end == std::string::npos) end = body.size();
        indented += "  " + body.substr(start, end - start) + "\n";
        start = end + 1;
      }
      s.body = "for (I i = (I)blockIdx.x * THREADS + threadIdx.x; i < TOTAL; i += (I)gridDim.x * THREADS) {\n" +
               indented + "}\n";
      s.params = {{"dx", ParamType::Out, e.out_index()}, {"dy", ParamType::In, e.in_index(0)}};
      if (max) s.params.push_back({"x", ParamType::In, e.in_index(1)});
      s.grid[0] = e.grid_stride(total, 256);
      break;
    }
    case ir::OpKind::GlobalAvgPool: {
      const ir::Dims& x = e.in(0).shape;
      const int64_t planes = x[0] * x[1], hw = x[2] * x[3];
      Members m;
      m.text(fmt::format("  using I = {};\n", index_type(ir::numel(x))));
      m.constant("PLANES", planes)
          .constant("HW", hw)
          .constant_f("HWF", static_cast<double>(hw))
          .constant("THREADS", 256);
      s.family = "global_avgpool";
      s.comment = fmt::format("global average pooling, x {}, a warp per plane", ir::format_dims(x));
      s.members = m.str();
      s.body = R"(const int lane = threadIdx.x % 32;
const I p = (I)blockIdx.x * (THREADS / 32) + threadIdx.x / 32;
if (p < PLANES) {
  float sum = 0.0f;
  for (int q = lane; q < HW; q += 32) sum += x[p * HW + q];
#pragma unroll
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if (lane == 0) y[p] = sum / HWF;
}
)";
      s.params = {{"y", ParamType::Out, e.out_index()}, {"x", ParamType::In, e.in_index(0)}};
      s.grid[0] = static_cast<unsigned>(ceil_div(planes, 8));
      break;
    }
    default:
      throw std::invalid_argument("CUDA emitter: not a pooling op: " + e.where());
  }
  e.launch(std::move(s));
}

}  // namespace resnetc::codegen::cuda::detail
