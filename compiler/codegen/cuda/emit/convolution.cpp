// Convolutions as implicit GEMMs (see gemm.cpp), per group:
// - forward:      C[m = (n, oh, ow)][co] = sum over k = (c, i, j) of x[n, c, oh*sh-ph+i, ow*sw-pw+j] * w[co, c, i, j]
// - grad_input:   C[m = (n, h, w)][c] = sum over k = (co, i, j) of dy[n, co, oh, ow] * w[co, c, i, j],
//                 where oh*sh = h+ph-i and ow*sw = w+pw-j. With a stride, only the taps i with
//                 i = (h+ph) mod sh contribute to row h: the rows are split in sh*sw phases by
//                 (h+ph) mod sh and (w+pw) mod sw, each its own GEMM over its pixels and its taps
//                 only (no multiply-adds by the zeros of a strided transposed convolution).
// - grad_weight:  C[co][(c, i, j)] = sum over k = (n, oh, ow) of dy[n, co, oh, ow] * x[n, c, oh*sh-ph+i, ow*sw-pw+j]
// With dilation d, tap i sits at i*d: oh*sh - ph + i*dh, and the data gradient's phase rh gets
// the taps with i*dh = rh (mod sh), every sh/gcd(sh, dh)-th one from the first. Undilated
// convolutions keep the undilated text (no DH/DW constants).
// Zero padding and the edges of tiles that do not divide the shapes read as zeros.
#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"

namespace resnetc::codegen::cuda::detail {
namespace {

struct ConvShape {
  int64_t NB, CIN, H, W, COUT, OH, OW, KH, KW, SH, SW, PH, PW, G, DH, DW;
  bool dilated() const { return DH != 1 || DW != 1; }
  int64_t CG() const { return CIN / G; }
  int64_t CGO() const { return COUT / G; }
};

ConvShape conv_shape(const ir::Dims& x, const ir::Dims& y, const ir::Attrs& a) {
  return {x[0],        x[1],        x[2],        x[3],        y[1],         y[2],         y[3],
          a.kernel[0], a.kernel[1], a.stride[0], a.stride[1], a.padding[0], a.padding[1], a.groups,
          a.dilation[0], a.dilation[1]};
}

std::string shape_members(const ConvShape& s) {
  Members m;
  m.constant("NB", s.NB).constant("CIN", s.CIN).constant("H", s.H).constant("W", s.W);
  m.constant("COUT", s.COUT).constant("OH", s.OH).constant("OW", s.OW);
  m.constant("KH", s.KH).constant("KW", s.KW).constant("SH", s.SH).constant("SW", s.SW);
  m.constant("PH", s.PH).constant("PW", s.PW);
  if (s.dilated()) m.constant("DH", s.DH).constant("DW", s.DW);
  m.constant("CG", s.CG()).constant("CGO", s.CGO()).constant("KHW", s.KH * s.KW);
  return m.str();
}

std::string describe(const ConvShape& s) {
  return fmt::format("x [{}, {}, {}, {}], {} filters {}x{} stride {}x{} padding {}x{}{}{}", s.NB, s.CIN, s.H, s.W, s.COUT,
                     s.KH, s.KW, s.SH, s.SW, s.PH, s.PW, s.dilated() ? fmt::format(" dilation {}x{}", s.DH, s.DW) : "",
                     s.G > 1 ? fmt::format(" in {} groups", s.G) : "");
}

// x[n, c, oh*sh - ph + i, ow*sw - pw + j] of group g (zero in the padding), with m = (n, oh, ow)
// or k = (n, oh, ow) as `pixel`, and `tap` = (c, i, j).
constexpr std::string_view kGatherX = R"(    const int ow = (int)($P % OW);
    const I t = $P / OW;
    const int oh = (int)(t % OH);
    const I nb = t / OH;
    const int j = (int)($T % KW);
    const int t2 = (int)($T / KW);
    const int i = t2 % KH;
    const int c = t2 / KH;
    const int h = oh * SH - PH + i, w = ow * SW - PW + j;
    return (h >= 0 && h < H && w >= 0 && w < W) ? $X[((nb * CIN + g * CG + c) * H + h) * W + w] : 0.0f;
)";

std::string replace_once(std::string text, std::string_view from, std::string_view to) {
  const size_t at = text.find(from);
  if (at == std::string::npos) throw std::logic_error("CUDA emitter: dilated text not found: " + std::string(from));
  return text.replace(at, from.size(), to);
}

std::string gather_x(const ConvShape& s, std::string_view pixel, std::string_view tap, std::string_view x) {
  std::string text = subst(kGatherX, {{"P", std::string(pixel)}, {"T", std::string(tap)}, {"X", std::string(x)}});
  if (!s.dilated()) return text;
  return replace_once(std::move(text), "const int h = oh * SH - PH + i, w = ow * SW - PW + j;",
                      "const int h = oh * SH - PH + i * DH, w = ow * SW - PW + j * DW;");
}

// The taps of the data gradient's phase r along one axis: i = first + step*t, t < count.
struct PhaseTaps {
  int64_t first = 0, step = 1, count = 0;
};
PhaseTaps phase_taps(int64_t kernel, int64_t stride, int64_t dilation, int64_t r) {
  PhaseTaps t;
  t.step = stride / std::gcd(stride, dilation);
  t.first = 0;
  while (t.first < t.step && (t.first * dilation) % stride != r) ++t.first;
  if (t.first < t.step && t.first < kernel) t.count = ceil_div(kernel - t.first, t.step);
  return t;
}

// What every GEMM of a convolution kernel shares: the arithmetic, the groups, the largest
// buffer and the output.
GemmProblem common_problem(const Emitter& e) {
  const plan::Kernel& k = e.kernel();
  GemmProblem p;
  p.tensor_cores = e.options().tensor_cores;
  p.bf16 = k.operands == plan::Precision::Bf16;
  p.groups = k.attrs.groups;
  int64_t biggest = 0;
  for (size_t i = 0; i < k.inputs.size(); ++i) biggest = std::max(biggest, ir::numel(e.in(i).shape));
  biggest = std::max(biggest, ir::numel(e.out().shape));
  p.max_elements = biggest;
  p.out_buffer = e.out_index();
  return p;
}

GemmProblem forward_problem(const Emitter& e, GemmProblem p) {
  const plan::Kernel& k = e.kernel();
  const ConvShape s = conv_shape(e.in(0).shape, e.out().shape, k.attrs);
  p.family = "conv_fwd";
  p.comment = "conv forward, " + describe(s);
  p.members = shape_members(s);
  p.M = s.NB * s.OH * s.OW;
  p.N = s.CGO();
  p.K = s.CG() * s.KH * s.KW;
  p.a_name = std::string("x");
  p.b_name = std::string("w");
  p.a_buffer = e.in_index(0);
  p.b_buffer = e.in_index(1);
  if (k.inputs.size() > 2) p.bias_buffer = e.in_index(2);
  p.load_a = gather_x(s, "m", "k", "A");
  p.a_m_contiguous = true;
  p.load_b = "    return B[(I)(g * CGO + (int)n) * K + k];\n";
  p.b_n_contiguous = false;
  p.out_index = "    return ((m / (OH * OW)) * COUT + g * CGO + n) * (OH * OW) + m % (OH * OW);\n";
  p.bias_index = "    return g * CGO + (int)n;\n";
  if (k.epilogue_stats >= 0) {  // the batch statistics of y's channels (a merged bn_stats)
    if (e.plan().buffer(k.epilogue_stats).shape != ir::Dims{2, s.COUT})
      throw std::invalid_argument(fmt::format("CUDA emitter: {}: epilogue statistics {} are not [2, {}]", e.where(),
                                              ir::format_dims(e.plan().buffer(k.epilogue_stats).shape), s.COUT));
    p.stats_buffer = k.epilogue_stats;
    p.comment += ", with its BatchNorm statistics";
  }
  return p;
}

// A phase (rh, rw) of the data gradient: the pixels h = H0 + SH*hp (HP of them) and
// w = W0 + SW*wp (WP) with (h + PH) % SH == rh, (w + PW) % SW == rw, and the taps that reach them.
struct Phase {
  int64_t rh, rw, h0, w0, hp, wp;
  PhaseTaps taps_h, taps_w;
};

Phase phase(const ConvShape& s, int64_t rh, int64_t rw) {
  const int64_t h0 = ((rh - s.PH) % s.SH + s.SH) % s.SH, w0 = ((rw - s.PW) % s.SW + s.SW) % s.SW;
  const int64_t hp = h0 < s.H ? ceil_div(s.H - h0, s.SH) : 0, wp = w0 < s.W ? ceil_div(s.W - w0, s.SW) : 0;
  return {rh, rw, h0, w0, hp, wp, phase_taps(s.KH, s.SH, s.DH, rh), phase_taps(s.KW, s.SW, s.DW, rw)};
}

// No tap reaches the phase's pixels (a 1x1 kernel with stride 2 skips 3 pixels of 4): zeros.
void emit_zero_phase(Emitter& e, const ConvShape& s, const Phase& f, int64_t max_elements) {
  Members m;
  m.text(fmt::format("  using I = {};\n", index_type(max_elements)));
  m.text(shape_members(s));
  m.constant("H0", f.h0).constant("W0", f.w0).constant("HP", f.hp).constant("WP", f.wp);
  m.constant("TOTAL", s.NB * s.CIN * f.hp * f.wp).constant("THREADS", 256);
  KernelSource z;
  z.family = "conv_dgrad_zero";
  z.comment = fmt::format("conv data gradient, {}, phase ({}, {}): {}x{} pixels no tap reaches, zeros", describe(s),
                          f.rh, f.rw, f.hp, f.wp);
  z.members = m.str();
  z.body = R"(for (I q = (I)blockIdx.x * THREADS + threadIdx.x; q < TOTAL; q += (I)gridDim.x * THREADS) {
  const int wp = (int)(q % WP);
  const I t = q / WP;
  const int hp = (int)(t % HP);
  dx[((t / HP) * H + H0 + SH * hp) * W + W0 + SW * wp] = 0.0f;
}
)";
  z.params = {{"dx", ParamType::Out, e.out_index()}};
  z.grid[0] = e.grid_stride(s.NB * s.CIN * f.hp * f.wp, 256);
  e.launch(std::move(z));
}

// The data gradient's GEMM over one phase's pixels and taps i = RH + SH*ti, j = RW + SW*tj.
constexpr std::string_view kDgradLoadA = R"(    const int wp = (int)(m % WP);
    const I t = m / WP;
    const int hp = (int)(t % HP);
    const I nb = t / HP;
    const int tj = (int)(k % TW);
    const int t2 = (int)(k / TW);
    const int ti = t2 % TH;
    const int co = t2 / TH;
    // (h + PH - i) is a multiple of SH here: the division is exact, also below zero.
    const int oh = (H0 + SH * hp + PH - (RH + SH * ti)) / SH;
    const int ow = (W0 + SW * wp + PW - (RW + SW * tj)) / SW;
    if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) return 0.0f;
    return A[((nb * COUT + g * CGO + co) * OH + oh) * OW + ow];
)";

constexpr std::string_view kDgradLoadB = R"(    const int tj = (int)(k % TW);
    const int t2 = (int)(k / TW);
    const int ti = t2 % TH;
    const int co = t2 / TH;
    return B[((I)(g * CGO + co) * CG + n) * KHW + (RH + SH * ti) * KW + RW + SW * tj];
)";

constexpr std::string_view kDgradOutIndex = R"(    const int wp = (int)(m % WP);
    const I t = m / WP;
    const int hp = (int)(t % HP);
    const I nb = t / HP;
    return ((nb * CIN + g * CG + n) * H + H0 + SH * hp) * W + W0 + SW * wp;
)";

GemmProblem phase_problem(const Emitter& e, GemmProblem q, const ConvShape& s, const Phase& f) {
  const int64_t th = f.taps_h.count, tw = f.taps_w.count;
  q.family = "conv_dgrad";
  q.comment = "conv data gradient, " + describe(s) +
              (s.SH * s.SW > 1 ? fmt::format(", phase ({}, {}): {}x{} pixels, {}x{} taps", f.rh, f.rw, f.hp, f.wp, th, tw)
                               : "");
  Members m;
  m.text(shape_members(s));
  m.constant("H0", f.h0).constant("W0", f.w0).constant("HP", f.hp).constant("WP", f.wp);
  m.constant("RH", f.rh).constant("RW", f.rw).constant("TH", th).constant("TW", tw);
  if (s.dilated()) {
    m.constant("IH0", f.taps_h.first).constant("IW0", f.taps_w.first);
    m.constant("TSH", f.taps_h.step).constant("TSW", f.taps_w.step);
  }
  q.members = m.str();
  q.M = s.NB * f.hp * f.wp;
  q.N = s.CG();
  q.K = s.CGO() * th * tw;
  q.a_name = std::string("dy");
  q.b_name = std::string("w");
  q.a_buffer = e.in_index(0);
  q.b_buffer = e.in_index(1);
  q.load_a = kDgradLoadA;
  if (s.dilated()) {
    q.load_a = replace_once(q.load_a, "const int oh = (H0 + SH * hp + PH - (RH + SH * ti)) / SH;",
                            "const int oh = (H0 + SH * hp + PH - (IH0 + TSH * ti) * DH) / SH;");
    q.load_a = replace_once(q.load_a, "const int ow = (W0 + SW * wp + PW - (RW + SW * tj)) / SW;",
                            "const int ow = (W0 + SW * wp + PW - (IW0 + TSW * tj) * DW) / SW;");
  }
  q.a_m_contiguous = true;
  q.load_b = kDgradLoadB;
  if (s.dilated())
    q.load_b = replace_once(q.load_b, "(RH + SH * ti) * KW + RW + SW * tj", "(IH0 + TSH * ti) * KW + IW0 + TSW * tj");
  q.b_n_contiguous = th * tw == 1;
  q.out_index = kDgradOutIndex;
  return q;
}

// One GEMM per phase (rh, rw), or zeros where no tap reaches the phase's pixels.
void emit_data_gradient(Emitter& e, const GemmProblem& p) {
  const ConvShape s = conv_shape(e.kernel().attrs.shape, e.in(0).shape, e.kernel().attrs);
  for (int64_t rh = 0; rh < s.SH; ++rh)
    for (int64_t rw = 0; rw < s.SW; ++rw) {
      const Phase f = phase(s, rh, rw);
      if (f.hp == 0 || f.wp == 0) continue;  // no pixel in this phase
      if (f.taps_h.count == 0 || f.taps_w.count == 0)
        emit_zero_phase(e, s, f, p.max_elements);
      else
        emit_gemm(e, phase_problem(e, p, s, f));
    }
}

GemmProblem weight_gradient_problem(const Emitter& e, GemmProblem p) {
  const ConvShape s = conv_shape(e.in(1).shape, e.in(0).shape, e.kernel().attrs);
  p.family = "conv_wgrad";
  p.comment = "conv weight gradient, " + describe(s);
  p.members = shape_members(s);
  p.M = s.CGO();
  p.N = s.CG() * s.KH * s.KW;
  p.K = s.NB * s.OH * s.OW;
  p.a_name = std::string("dy");
  p.b_name = std::string("x");
  p.a_buffer = e.in_index(0);
  p.b_buffer = e.in_index(1);
  p.load_a = "    return A[((k / (OH * OW)) * COUT + g * CGO + m) * (OH * OW) + k % (OH * OW)];\n";
  p.a_m_contiguous = false;
  p.load_b = gather_x(s, "k", "n", "B");
  p.b_n_contiguous = false;
  p.out_index = "    return (g * CGO + m) * (I)(CG * KHW) + n;\n";
  p.out_m_contiguous = false;
  return p;
}

}  // namespace

void emit_convolution(Emitter& e) {
  const GemmProblem p = common_problem(e);
  switch (e.kernel().kind) {
    case ir::OpKind::Conv2d: return emit_gemm(e, forward_problem(e, p));
    case ir::OpKind::ConvGradInput: return emit_data_gradient(e, p);
    case ir::OpKind::ConvGradWeight: return emit_gemm(e, weight_gradient_problem(e, p));
    default: throw std::invalid_argument("CUDA emitter: not a convolution: " + e.where());
  }
}

}  // namespace resnetc::codegen::cuda::detail
