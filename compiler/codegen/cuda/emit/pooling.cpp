// The window renderer: pooling and its gradients, each rendered from its ir::WindowReduction (the
// accumulator's start, the combining opcode, the finalization), never from its kind. x is
// [N, C, H, W], y [N, C, OH, OW].
// - a window: one thread per output element folds its window; padding never takes part (a max
//   never sees it, a sum counts it as zero), and a NaN wins a max (the last NaN in scan order),
//   as in PyTorch; a division by KH*KW, or by each window's count as PyTorch's (a `divisor`
//   member function, emitted only then).
// - a gradient gathers instead of scattering: one thread per input element sums the dy of the
//   windows that cover it, in row-major window order, so no atomics are needed; a max window
//   gives its dy to the first maximum in row-major scan order (recomputed per window).
// - a whole-plane window (global pooling): one warp per (n, c) plane, a shuffle tree.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"
#include "compiler/ir/window_reduction.h"

namespace resnetc::codegen::cuda::detail {
namespace {

using ir::FusedOpcode;
using Finalize = ir::WindowReduction::Finalize;

// The combining opcodes as statements folding element `v` into the accumulator: its name, its
// start, and the fold (the fused renderer's Max, fused.cpp, with v read once).
struct Fold {
  std::string_view acc;
  std::string init;
  std::string (*fold)(std::string_view acc, std::string_view v);
};

Fold fold_of(const ir::WindowReduction& r) {
  // -inf, as the loss kernel writes it (float_literal takes finite values only)
  const std::string init = std::isinf(r.init) && r.init < 0 ? "__int_as_float(0xff800000)" : float_literal(r.init);
  switch (r.combine) {
    case FusedOpcode::Add:
      return {"sum", init, [](std::string_view acc, std::string_view v) { return fmt::format("{} += {};", acc, v); }};
    case FusedOpcode::Max:
      return {"best", init, [](std::string_view acc, std::string_view v) {
                return fmt::format("{{ const float v = {1}; {0} = v > {0} || v != v ? v : {0}; }}", acc, v);
              }};
    default: break;
  }
  throw std::invalid_argument(fmt::format("CUDA emitter: a window cannot combine with {}",
                                          ir::fused_opcode_name(r.combine)));
}

// "maxpool", "global_avgpool", "avgpool_grad": the kernel's family, from what it computes.
std::string family(const ir::WindowReduction& r) {
  return fmt::format("{}{}{}", r.whole_plane ? "global_" : "", r.combine == FusedOpcode::Max ? "maxpool" : "avgpool",
                     r.gradient ? "_grad" : "");
}

std::string_view what(const ir::WindowReduction& r) {
  return r.combine == FusedOpcode::Max ? "max pooling" : "average pooling";
}

std::string window_members(const ir::Dims& x, const ir::Dims& y, const ir::WindowReduction& a) {
  Members m;
  m.constant("NC", x[0] * x[1]).constant("H", x[2]).constant("W", x[3]).constant("OH", y[2]).constant("OW", y[3]);
  m.constant("KH", a.kernel[0]).constant("KW", a.kernel[1]).constant("SH", a.stride[0]).constant("SW", a.stride[1]);
  m.constant("PH", a.padding[0]).constant("PW", a.padding[1]).constant("THREADS", 256);
  m.constant_f("DIV", static_cast<double>(a.kernel[0] * a.kernel[1]));
  if (a.finalize == Finalize::DivideByCount)
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

std::string window_text(const ir::Dims& x, const ir::WindowReduction& r, const ir::Attrs& a) {
  return fmt::format("x {}, window {}x{} stride {}x{} padding {}x{}{}", ir::format_dims(x), r.kernel[0], r.kernel[1],
                     r.stride[0], r.stride[1], r.padding[0], r.padding[1], a.ceil_mode ? ", ceil_mode" : "");
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
  const ir::Attrs& a = k.attrs;
  const ir::WindowReduction r = ir::window_reduction(k.kind, a, e.in(0).shape);
  const Fold f = fold_of(r);
  KernelSource s;
  s.threads = 256;
  s.family = family(r);
  if (r.gradient) {
    const bool max = r.combine == FusedOpcode::Max;
    const ir::Dims& x = max ? e.in(1).shape : a.shape;
    const ir::Dims& y = e.in(0).shape;
    const int64_t total = ir::numel(x);
    Members m;
    m.text(fmt::format("  using I = {};\n", index_type(total)));
    m.text(window_members(x, y, r)).constant("TOTAL", total);
    s.comment = fmt::format("{} gradient, gathered per input element, {}", what(r), window_text(x, r, a));
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
    if (r.finalize == Finalize::DivideByCount) {
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
  } else if (r.whole_plane) {
    const ir::Dims& x = e.in(0).shape;
    const int64_t planes = x[0] * x[1], hw = x[2] * x[3];
    Members m;
    m.text(fmt::format("  using I = {};\n", index_type(ir::numel(x))));
    m.constant("PLANES", planes).constant("HW", hw);
    if (r.finalize != Finalize::None) m.constant_f("HWF", static_cast<double>(hw));
    m.constant("THREADS", 256);
    s.comment = fmt::format("global {}, x {}, a warp per plane", what(r), ir::format_dims(x));
    s.members = m.str();
    s.body = fmt::format(R"(const int lane = threadIdx.x % 32;
const I p = (I)blockIdx.x * (THREADS / 32) + threadIdx.x / 32;
if (p < PLANES) {{
  float {0} = {1};
  for (int q = lane; q < HW; q += 32) {2}
#pragma unroll
  for (int o = 16; o > 0; o /= 2) {3}
  if (lane == 0) y[p] = {0}{4};
}}
)",
                         f.acc, f.init, f.fold(f.acc, "x[p * HW + q]"),
                         f.fold(f.acc, fmt::format("__shfl_xor_sync(0xffffffffu, {}, o)", f.acc)),
                         r.finalize != Finalize::None ? " / HWF" : "");
    s.params = {{"y", ParamType::Out, e.out_index()}, {"x", ParamType::In, e.in_index(0)}};
    s.grid[0] = static_cast<unsigned>(ceil_div(planes, 8));
  } else {
    const ir::Dims& x = e.in(0).shape;
    const ir::Dims& y = e.out().shape;
    const int64_t total = ir::numel(y);
    Members m;
    m.text(fmt::format("  using I = {};\n", index_type(ir::numel(x))));
    m.text(window_members(x, y, r)).constant("TOTAL", total);
    s.comment = fmt::format("{}{}, {}", what(r),
                            r.combine == FusedOpcode::Max ? ""
                            : r.count_include_pad         ? " (count_include_pad)"
                                                          : " (padding not counted)",
                            window_text(x, r, a));
    s.members = m.str();
    const std::string_view finalize = r.finalize == Finalize::DivideByArea    ? " / DIV"
                                      : r.finalize == Finalize::DivideByCount ? " / divisor(oh, ow)"
                                                                              : "";
    s.body = fmt::format(R"(for (I o = (I)blockIdx.x * THREADS + threadIdx.x; o < TOTAL; o += (I)gridDim.x * THREADS) {{
  const int ow = (int)(o % OW);
  const I t = o / OW;
  const int oh = (int)(t % OH);
  const float* __restrict__ plane = x + (t / OH) * (H * W);
  float {0} = {1};
  for (int i = 0; i < KH; ++i) {{
    const int h = oh * SH - PH + i;
    if (h < 0 || h >= H) continue;
    for (int j = 0; j < KW; ++j) {{
      const int w = ow * SW - PW + j;
      if (w >= 0 && w < W) {2}
    }}
  }}
  y[o] = {0}{3};
}}
)",
                         f.acc, f.init, f.fold(f.acc, "plane[h * W + w]"), finalize);
    s.params = {{"y", ParamType::Out, e.out_index()}, {"x", ParamType::In, e.in_index(0)}};
    s.grid[0] = e.grid_stride(total, 256);
  }
  e.launch(std::move(s));
}

}  // namespace resnetc::codegen::cuda::detail
