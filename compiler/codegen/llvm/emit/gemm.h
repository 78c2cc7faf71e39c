#pragma once
// The CPU backend's GEMM generator, shared by convolutions and fully connected layers.
//
// Every convolution-like kernel is one of two register-blocked GEMMs, emitted as explicit
// AVX-512 vector IR (<16 x float> llvm.fma) with every shape a constant:
//
//  * WindowGemm — out[g][row][col] = Σ_{kc, tap} A[g][row][kc][tap] · B[g][kc][tap][col] (+ bias).
//    The columns are output positions (n, qh, qw) of all images; B is the image operand
//    read through a sliding window (implicit im2col). Per task, a panel of 32 columns of B
//    is gathered (masked AVX-512 gathers, zeros for padding) into a packed [k][32] scratch
//    panel, then an MR×32 microkernel (MR = 8 rows broadcast from A, two <16 x float>
//    vectors of B, 16 accumulators in registers, k innermost) runs over it for every row
//    block. A is read in place (no packing): rows are weights, k = (kc, tap) with the taps
//    unrolled. Taps that never touch the input (the padding of a 1x1 image) are dropped from
//    k. The epilogue stores each 16-column vector with one masked store per contiguous run
//    of output addresses (precomputed run tables), or a masked scatter where runs are short.
//    Used for conv2d (rows = output channels), linear, and conv2d_grad_input: the
//    gradient of a stride-s convolution splits into s² stride-1 "phase" correlations of dy
//    with a flipped, transposed sub-kernel, each a WindowGemm (rows = input channels) whose
//    outputs land every s-th pixel of dx.
//  * WeightGrad — dw[g][o][kc, kh, kw] = Σ_{n, oh, ow} dy[n][o][oh, ow] · x[n][kc][window]:
//    rows = output channels (broadcast from dy in place), lanes = (kc, kh, kw), reduction
//    over output positions in chunks: per chunk, im2colᵀ is gathered into packed panels
//    [lanes/32][positions][32], and the MR×32 microkernel accumulates into dw. Tasks split
//    the lanes (and, for small weights, the positions into per-task partial sums that a
//    second pass adds up).
//
// Work is spread over the CPU thread pool (emit_parallel_for); scratch panels come from
// aligned_alloc per task.
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/codegen/llvm/kernel_emitter.h"

namespace resnetc::codegen::llvm_backend {

struct WindowGemm {
  int64_t groups = 1;
  int64_t rows = 0;    // M, per group
  int64_t kouter = 0;  // kc extent, per group
  // Columns: (n, qh, qw) over batch x out_rows x out_cols.
  int64_t batch = 1, out_rows = 1, out_cols = 1;
  // Taps: tap (th, tw) reads input row qh*in_sh + tap_h[th], column qw*in_sw + tap_w[tw];
  // its A element is at tap_a[th * tap_w.size() + tw].
  std::vector<int64_t> tap_h, tap_w, tap_a;
  // B element (g, n, kc, y, x): in[g*in_g + n*in_n + kc*in_c + y*in_w + x], zero unless
  // 0 <= y < in_h and 0 <= x < in_w.
  int64_t in_g = 0, in_n = 0, in_c = 0, in_h = 1, in_w = 1, in_sh = 1, in_sw = 1;
  // A element (g, row, kc, tap): a[g*a_g + row*a_row + kc*a_kc + tap_a[tap]].
  int64_t a_g = 0, a_row = 0, a_kc = 0;
  // Output (g, row, n, qh, qw):
  //   out[g*out_g + n*out_n + row*out_row + (qh*out_sh + out_oh)*out_w + qw*out_sw + out_ow].
  int64_t out_g = 0, out_n = 0, out_row = 0, out_w = 1, out_sh = 1, out_oh = 0, out_sw = 1, out_ow = 0;
};

// Emits `d` at the builder's position. `bias` (float*, indexed g*rows + row) may be null.
void emit_window_gemm(KernelBody& k, const WindowGemm& d, llvm::Value* a, llvm::Value* in, llvm::Value* bias,
                      llvm::Value* out, const std::string& tag);

struct WeightGrad {
  int64_t groups = 1;
  int64_t out_per_group = 0, in_per_group = 0;  // Og, Cg
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t batch = 1, in_h = 1, in_w = 1, out_h = 1, out_w = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
};

// dw [G*Og, Cg, KH, KW] from dy [N, G*Og, OH, OW] and x [N, G*Cg, H, W].
void emit_weight_grad(KernelBody& k, const WeightGrad& d, llvm::Value* dy, llvm::Value* x, llvm::Value* dw,
                      const std::string& tag);

}  // namespace resnetc::codegen::llvm_backend
