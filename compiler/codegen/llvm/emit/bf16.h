#pragma once
// bfloat16 in the LLVM kernels: rounding float32 to bf16 bits (the GEMMs' operands, stores to a
// bf16 buffer) and reading and writing the elements of a buffer of either float dtype
// (ir::DType::BF16 activations, plan::PlanOptions::bf16_activations).
#include <vector>

#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/codegen/llvm/loops.h"
#include "compiler/ir/graph.h"

namespace resnetc::codegen::llvm_backend {

// x (float or a vector of floats) rounded to bfloat16, to nearest with ties to even, NaN to
// the quiet 0x7fc0, denormals kept: the bits in the low half of an i32 (or a vector of i32).
llvm::Value* round_to_bf16(Builder& b, llvm::Value* x);
// bf16 bits in the low half of an i32 (or a vector of i32) as float32 (or floats), exactly: the
// bits as a float32's top half.
llvm::Value* widen_bf16(Builder& b, llvm::Value* bits);
// v as a constant of x's type: a scalar i32 or a splat.
llvm::Value* int_like(Builder& b, llvm::Value* x, uint32_t v);

// Element `index` (an i64) of `array` (a float* argument) as a float: a float32 buffer's
// element, or a bf16 buffer's bits widened (exactly: the bits as a float32's top half).
llvm::Value* load_element(Builder& b, llvm::Value* array, llvm::Value* index, ir::DType dtype);
// Stores float `value` there, rounded by round_to_bf16 into a bf16 buffer.
void store_element(Builder& b, llvm::Value* value, llvm::Value* array, llvm::Value* index, ir::DType dtype);

// The dtypes of k's inputs, in order.
std::vector<ir::DType> input_dtypes(const KernelBody& k);
// The dtype of k's output.
ir::DType output_dtype(const KernelBody& k);

}  // namespace resnetc::codegen::llvm_backend
