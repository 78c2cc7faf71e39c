#pragma once
// The weight gradient with bf16 operands (gemm_weight_grad_bf16.cpp; gemm_weight_grad.cpp picks):
// on AMX tiles where the host has them and the shape fits, else the float32 kernel on copies of
// its operands rounded to bf16 (the same products, at float32's speed; gemm_weight_grad.cpp).
#include <string>

#include "compiler/codegen/llvm/emit/gemm_internal.h"

namespace resnetc::codegen::llvm_backend::gemm_internal {

// Whether emit_amx_weight_grad runs d: one group, at least 16 input and 16 output channels (a
// tile's side), and output positions that fill half of the padded planes it walks.
bool amx_weight_grad_fits(const WeightGrad& d);

// dw [Og, Cg, KH, KW] from dy and x (gemm.h's WeightGrad) on AMX tiles; needs amx_ready().
void emit_amx_weight_grad(KernelBody& k, const WeightGrad& d, llvm::Value* dy, llvm::Value* x, llvm::Value* dw,
                          const std::string& prefix);

// x (float or <16 x float>) rounded to bfloat16 and widened back to float32 (exactly).
llvm::Value* round_as_float(Builder& b, llvm::Value* x);

// A copy of the `count` elements at src, each rounded to bfloat16 (nearest, ties to even) and
// kept as a float (`src_bf16`: src holds bf16 bits, widened); Ir::alloc'd (the caller releases
// it), filled over the thread pool.
llvm::Value* emit_rounded_copy(const Ir& ir, KernelBody& k, llvm::Value* src, bool src_bf16, int64_t count,
                               const std::string& prefix);

}  // namespace resnetc::codegen::llvm_backend::gemm_internal
