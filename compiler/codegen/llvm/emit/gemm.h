#pragma once
// The CPU backend's GEMM generator, shared by convolutions and fully connected layers. Every
// shape is a constant; the microkernels are explicit AVX-512 vector IR (<16 x float>
// llvm.fma), 16 accumulators in registers, k innermost, one broadcast operand and one
// 32-wide vector operand.
//
// WindowGemm: out[g][row][col] = Σ_{kc, tap} A[g][row][kc][tap] · B[g][kc][tap][col] (+ bias),
// columns = output positions (n, qh, qw) of all images, B the image operand through a
// sliding window. Used by conv2d (rows = output channels), conv2d_grad_input (the gradient
// of a stride-s convolution as s² stride-1 "phase" correlations of dy with a flipped,
// transposed sub-kernel, rows = input channels, outputs every s-th pixel of dx) and linear.
//   * Position classes: output positions that see the same taps (the border rows and
//     columns of a padded window see fewer) are grouped; each class runs only its taps, so
//     no multiply ever meets padding (4x4 images: 31% of a 3x3's FLOPs; 1x1: 8/9).
//   * "Direct" (rows in lanes), the usual choice: A is packed once per call as
//     [32-row panel][kc][tap][32]; the 8x32 microkernel broadcasts 8 columns' inputs
//     straight from the tensor (no im2col) against two row vectors; the 8x32 result is
//     transposed in registers and stored as 8 consecutive floats per row (or scattered).
//   * "im2col" (columns in lanes), for few columns and many rows (last stages on small
//     images): per 32-column panel, B is gathered into a packed [k][32] panel (column
//     blocks sized for L2), and the 8x32 microkernel broadcasts A (the weights, in place);
//     stores by contiguous runs (masked stores) or scatters.
// WeightGrad: dw[g][o][kc, kh, kw] = Σ_{n, oh, ow} dy[n][o][oh, ow] · x[n][kc][window]. Tiles
//   of 32 output channels (lanes) x 8 k's (broadcast from x in place) sum over all output
//   positions in registers, reading dy from a transposed copy made once per call; with 8+
//   input channels a tile's k's share a tap and only the position classes that see it
//   contribute (dead taps are zeroed); with fewer, x comes from a zero-padded copy. With bf16
//   operands: AMX tiles, or this kernel on operands rounded to bf16 (gemm_weight_grad_bf16.h).
// With bf16 operands the activation operand (WindowGemm's `in`, WeightGrad's dy and x) may be
// stored as bfloat16 bits (a BF16 plan buffer): every path reads those bits as they are, in the
// copies it makes anyway (gemm_internal.h: operand_at, load_operand, gather_operand).
//
// Row statistics (`stats`: conv2d's BatchNorm statistics in its epilogue), on both WindowGemm
// paths: every work item adds the rows' sums and squares of the block it writes, taken from
// the registers it stores, before the bias (direct: channels in lanes, summed over its <= 64
// columns; im2col: each row's panel reduced across lanes), into a slot of its own (no
// atomics); a serial finalize adds the slots in a fixed order in double and writes mean and
// variance.
//
// Work is spread over the CPU thread pool (emit_parallel_for; im2col sizes its work items by the
// pool's thread count, EmitOptions::threads); scratch comes from aligned_alloc.
// RESNETC_CONV_PATH=direct|im2col (and amx, under bf16) forces a WindowGemm formulation when the kernels are emitted (tests, benchmarks: bench/conv_kernels).
//
// One file per concern: gemm_im2col.cpp (emit_window_gemm: the choice of formulation, and the
// im2col path), gemm_direct.cpp, gemm_weight_grad.cpp, gemm_bf16.cpp and gemm_amx.cpp (bf16
// operands: docs/precision.md), and gemm.cpp for what they share (gemm_internal.h).
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
  // `in` holds bfloat16 bits (its plan buffer is ir::DType::BF16; bf16 operands only), not floats.
  bool in_bf16 = false;
};

// Emits `d` at the builder's position. `bias` (float*, indexed g*rows + row) may be null.
// `stats` (float* [2, groups*rows], may be null): the mean and biased variance of each output
// row over its columns (conv2d's BatchNorm statistics), summed in the epilogue.
void emit_window_gemm(KernelBody& k, const WindowGemm& d, llvm::Value* a, llvm::Value* in, llvm::Value* bias,
                      llvm::Value* out, llvm::Value* stats, const std::string& tag);

struct WeightGrad {
  int64_t groups = 1;
  int64_t out_per_group = 0, in_per_group = 0;  // Og, Cg
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t batch = 1, in_h = 1, in_w = 1, out_h = 1, out_w = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;  // kernel row kh reads x row oh*stride_h - pad_h + kh*dilation_h
  // dy, x hold bfloat16 bits (their plan buffers are ir::DType::BF16).
  bool dy_bf16 = false, x_bf16 = false;
};

// dw [G*Og, Cg, KH, KW] from dy [N, G*Og, OH, OW] and x [N, G*Cg, H, W].
void emit_weight_grad(KernelBody& k, const WeightGrad& d, llvm::Value* dy, llvm::Value* x, llvm::Value* dw,
                      const std::string& tag);

}  // namespace resnetc::codegen::llvm_backend
