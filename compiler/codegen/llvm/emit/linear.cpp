// linear, linear_grad_input, linear_grad_weight: a fully connected layer is a 1x1 convolution
// over 1x1 images, so these are the convolution GEMMs of gemm.h with H = W = 1.
//
//  linear              y[n][o]  = Σ_f x[n][f] · W[o][f] + b[o]   WindowGemm, rows = o, columns = n
//  linear_grad_input   dx[n][f] = Σ_o dy[n][o] · W[o][f]          WindowGemm, rows = f, columns = n
//  linear_grad_weight  dW[o][f] = Σ_n dy[n][o] · x[n][f]          WeightGrad, rows = o, lanes = f
#include <fmt/format.h>

#include <stdexcept>

#include "compiler/codegen/llvm/emit/gemm.h"
#include "compiler/codegen/llvm/kernel_emitter.h"

namespace resnetc::codegen::llvm_backend {
namespace {

// A 1x1 WindowGemm: out[n*out_n + row*out_row] = Σ_kc a[row*a_row + kc*a_kc] · in[n*in_n + kc*in_c].
WindowGemm dense(int64_t batch, int64_t rows, int64_t kouter) {
  WindowGemm d;
  d.rows = rows;
  d.kouter = kouter;
  d.batch = batch;
  d.tap_h = {0};
  d.tap_w = {0};
  d.tap_a = {0};
  return d;
}

}  // namespace

void emit_linear(KernelBody& k) {
  switch (k.kernel.kind) {
    case ir::OpKind::Linear: {
      const int64_t N = k.in_shape(0)[0], F = k.in_shape(0)[1], O = k.out_shape()[1];
      WindowGemm d = dense(N, O, F);
      d.in_n = F;
      d.in_c = 1;
      d.a_row = F;
      d.a_kc = 1;
      d.out_n = O;
      d.out_row = 1;
      d.in_bf16 = k.plan.buffer(k.kernel.inputs[0]).dtype == ir::DType::BF16;
      return emit_window_gemm(k, d, k.in[1], k.in[0], k.in.size() > 2 ? k.in[2] : nullptr, k.out, nullptr, "fc");
    }
    case ir::OpKind::LinearGradInput: {
      const int64_t N = k.in_shape(0)[0], O = k.in_shape(0)[1], F = k.out_shape()[1];
      WindowGemm d = dense(N, F, O);
      d.in_n = O;  // dy
      d.in_c = 1;
      d.a_row = 1;  // W[o][f]: row f, k = o
      d.a_kc = F;
      d.out_n = F;
      d.out_row = 1;
      d.in_bf16 = k.plan.buffer(k.kernel.inputs[0]).dtype == ir::DType::BF16;
      return emit_window_gemm(k, d, k.in[1], k.in[0], nullptr, k.out, nullptr, "fc_dx");
    }
    case ir::OpKind::LinearGradWeight: {
      const int64_t N = k.in_shape(0)[0], O = k.in_shape(0)[1], F = k.in_shape(1)[1];
      WeightGrad d;
      d.out_per_group = O;
      d.in_per_group = F;
      d.batch = N;
      d.dy_bf16 = k.plan.buffer(k.kernel.inputs[0]).dtype == ir::DType::BF16;
      d.x_bf16 = k.plan.buffer(k.kernel.inputs[1]).dtype == ir::DType::BF16;
      return emit_weight_grad(k, d, k.in[0], k.in[1], k.out, "fc_dw");
    }
    default: break;
  }
  throw std::logic_error(fmt::format("emit_linear: unexpected {}", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
