// conv2d, conv2d_grad_input, conv2d_grad_weight: NCHW float32 (under bf16 operands the
// activations x and dy may be stored as bf16 bits: WindowGemm::in_bf16, WeightGrad::dy_bf16 and
// x_bf16), every shape a constant, all lowered onto the register-blocked GEMMs of gemm.h.
//
//  conv2d             WindowGemm: rows = output channels, columns = (n, oh, ow), k = (c, kh, kw)
//                     with the taps that never meet the image dropped; the epilogue also
//                     computes the output's BatchNorm statistics when the plan asks for them.
//  conv2d_grad_input  s² stride-1 phase correlations (s = stride): for phase (rh, rw), dx at
//                     ih ≡ rh - pad (mod s) gets Σ dy[oh = q - jh] · W[o][c][rh + s*jh][...],
//                     a WindowGemm with rows = input channels and k = (o, jh, jw).
//  conv2d_grad_weight WeightGrad: rows = output channels, lanes = (c, kh, kw).
// Dilation d moves tap t to t*d: the taps are lists of offsets, so the GEMMs need no change;
// in the data gradient, phase rh gets the taps with t*d ≡ rh (mod s).
#include <fmt/format.h>

#include <stdexcept>

#include "compiler/codegen/llvm/emit/gemm.h"
#include "compiler/codegen/llvm/kernel_emitter.h"

namespace resnetc::codegen::llvm_backend {
namespace {

// Whether the kernel's input i is stored as bfloat16 bits (an activation between bf16 kernels).
bool stored_bf16(const KernelBody& k, size_t i) { return k.plan.buffer(k.kernel.inputs.at(i)).dtype == ir::DType::BF16; }

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div_signed(int64_t a, int64_t b) { return -floor_div(-a, b); }

struct ConvShape {
  int64_t N, C, H, W, O, OH, OW, KH, KW, SH, SW, PH, PW, G, DH, DW;
};

ConvShape conv_shape(const ir::Dims& x, const ir::Dims& y, const ir::Attrs& a) {
  return {x[0], x[1], x[2], x[3], y[1], y[2], y[3], a.kernel[0], a.kernel[1],
          a.stride[0], a.stride[1], a.padding[0], a.padding[1], a.groups, a.dilation[0], a.dilation[1]};
}

// The kernel taps along one axis that meet the input for at least one output position:
// tap t at output q reads input q*stride + t*dilation - pad, q in [0, out).
std::vector<int64_t> useful_taps(int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, int64_t in, int64_t out) {
  std::vector<int64_t> taps;
  for (int64_t t = 0; t < kernel; ++t)
    if (t * dilation - pad <= in - 1 && (out - 1) * stride + t * dilation - pad >= 0) taps.push_back(t);
  return taps;
}

// The kernel taps along one axis that reach the dx pixels of phase r (ih = stride*q + r - pad,
// q in [q_lo, q_lo + count)): tap i with i*dilation ≡ r (mod stride), which reads dy row
// q - j, j = (i*dilation - r) / stride; only those that some q reads inside [0, out).
struct PhaseTap {
  int64_t tap, j;
};
std::vector<PhaseTap> phase_taps(int64_t kernel, int64_t stride, int64_t dilation, int64_t r, int64_t q_lo,
                                 int64_t count, int64_t out) {
  std::vector<PhaseTap> taps;
  for (int64_t i = 0; i < kernel; ++i) {
    const int64_t offset = i * dilation - r;
    if (offset < 0 || offset % stride != 0) continue;
    const int64_t j = offset / stride;
    if (j >= q_lo - (out - 1) && j <= q_lo + count - 1) taps.push_back({i, j});
  }
  return taps;
}

void emit_forward(KernelBody& k) {
  const ConvShape s = conv_shape(k.in_shape(0), k.out_shape(), k.attrs());
  const int64_t Cg = s.C / s.G, Og = s.O / s.G, KK = s.KH * s.KW;
  WindowGemm d;
  d.groups = s.G;
  d.rows = Og;
  d.kouter = Cg;
  d.batch = s.N;
  d.out_rows = s.OH;
  d.out_cols = s.OW;
  const std::vector<int64_t> khs = useful_taps(s.KH, s.SH, s.PH, s.DH, s.H, s.OH);
  const std::vector<int64_t> kws = useful_taps(s.KW, s.SW, s.PW, s.DW, s.W, s.OW);
  for (int64_t kh : khs) d.tap_h.push_back(kh * s.DH - s.PH);
  for (int64_t kw : kws) d.tap_w.push_back(kw * s.DW - s.PW);
  for (int64_t kh : khs)
    for (int64_t kw : kws) d.tap_a.push_back(kh * s.KW + kw);
  d.in_g = Cg * s.H * s.W;
  d.in_n = s.C * s.H * s.W;
  d.in_c = s.H * s.W;
  d.in_h = s.H;
  d.in_w = s.W;
  d.in_sh = s.SH;
  d.in_sw = s.SW;
  d.a_g = Og * Cg * KK;
  d.a_row = Cg * KK;
  d.a_kc = KK;
  d.out_g = Og * s.OH * s.OW;
  d.out_n = s.O * s.OH * s.OW;
  d.out_row = s.OH * s.OW;
  d.out_w = s.OW;
  d.in_bf16 = stored_bf16(k, 0);
  llvm::Value* bias = k.in.size() > 2 ? k.in[2] : nullptr;
  emit_window_gemm(k, d, k.in[1], k.in[0], bias, k.out, k.stats, "conv");
}

void emit_grad_input(KernelBody& k) {
  const ConvShape s = conv_shape(k.attrs().shape, k.in_shape(0), k.attrs());
  const int64_t Cg = s.C / s.G, Og = s.O / s.G, KK = s.KH * s.KW;
  for (int64_t rh = 0; rh < s.SH; ++rh) {
    for (int64_t rw = 0; rw < s.SW; ++rw) {
      // Outputs of this phase: ih = s*q + rh - pad for q in [q_lo, q_hi].
      const int64_t qh_lo = ceil_div_signed(s.PH - rh, s.SH), qh_hi = floor_div(s.H - 1 + s.PH - rh, s.SH);
      const int64_t qw_lo = ceil_div_signed(s.PW - rw, s.SW), qw_hi = floor_div(s.W - 1 + s.PW - rw, s.SW);
      const int64_t Hq = qh_hi - qh_lo + 1, Wq = qw_hi - qw_lo + 1;
      if (Hq <= 0 || Wq <= 0) continue;
      WindowGemm d;
      d.groups = s.G;
      d.rows = Cg;
      d.kouter = Og;
      d.batch = s.N;
      d.out_rows = Hq;
      d.out_cols = Wq;
      // Kernel row i (dilated offset i*dh) reaches this phase when i*dh ≡ rh (mod s); it
      // reads dy row q + qh_lo - jh with jh = (i*dh - rh) / s.
      const std::vector<PhaseTap> ths = phase_taps(s.KH, s.SH, s.DH, rh, qh_lo, Hq, s.OH);
      const std::vector<PhaseTap> tws = phase_taps(s.KW, s.SW, s.DW, rw, qw_lo, Wq, s.OW);
      if (!ths.empty() && !tws.empty()) {  // else no tap: this phase of dx is zero
        for (const PhaseTap& th : ths) d.tap_h.push_back(qh_lo - th.j);
        for (const PhaseTap& tw : tws) d.tap_w.push_back(qw_lo - tw.j);
        for (const PhaseTap& th : ths)
          for (const PhaseTap& tw : tws) d.tap_a.push_back(th.tap * s.KW + tw.tap);
      }
      d.in_g = Og * s.OH * s.OW;
      d.in_n = s.O * s.OH * s.OW;
      d.in_c = s.OH * s.OW;
      d.in_h = s.OH;
      d.in_w = s.OW;
      d.a_g = Og * Cg * KK;
      d.a_row = KK;
      d.a_kc = Cg * KK;
      d.out_g = Cg * s.H * s.W;
      d.out_n = s.C * s.H * s.W;
      d.out_row = s.H * s.W;
      d.out_w = s.W;
      d.out_sh = s.SH;
      d.out_oh = s.SH * qh_lo + rh - s.PH;
      d.out_sw = s.SW;
      d.out_ow = s.SW * qw_lo + rw - s.PW;
      d.in_bf16 = stored_bf16(k, 0);
      emit_window_gemm(k, d, k.in[1], k.in[0], nullptr, k.out, nullptr, fmt::format("dx{}{}", rh, rw));
    }
  }
}

void emit_grad_weight(KernelBody& k) {
  const ConvShape s = conv_shape(k.in_shape(1), k.in_shape(0), k.attrs());
  WeightGrad d;
  d.groups = s.G;
  d.out_per_group = s.O / s.G;
  d.in_per_group = s.C / s.G;
  d.kernel_h = s.KH;
  d.kernel_w = s.KW;
  d.batch = s.N;
  d.in_h = s.H;
  d.in_w = s.W;
  d.out_h = s.OH;
  d.out_w = s.OW;
  d.stride_h = s.SH;
  d.stride_w = s.SW;
  d.pad_h = s.PH;
  d.pad_w = s.PW;
  d.dilation_h = s.DH;
  d.dilation_w = s.DW;
  d.dy_bf16 = stored_bf16(k, 0);
  d.x_bf16 = stored_bf16(k, 1);
  emit_weight_grad(k, d, k.in[0], k.in[1], k.out, "dw");
}

}  // namespace

void emit_convolution(KernelBody& k) {
  switch (k.kernel.kind) {
    case ir::OpKind::Conv2d: return emit_forward(k);
    case ir::OpKind::ConvGradInput: return emit_grad_input(k);
    case ir::OpKind::ConvGradWeight: return emit_grad_weight(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_convolution: unexpected {}", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
