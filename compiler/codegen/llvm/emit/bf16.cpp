#include "compiler/codegen/llvm/emit/bf16.h"

namespace resnetc::codegen::llvm_backend {
namespace {

llvm::Value* bf16_pointer(Builder& b, llvm::Value* array, llvm::Value* index) {
  return b.CreateInBoundsGEP(b.getInt16Ty(), b.CreateBitCast(array, b.getInt16Ty()->getPointerTo()), index);
}

}  // namespace

llvm::Value* int_like(Builder& b, llvm::Value* x, uint32_t v) {
  llvm::Constant* c = b.getInt32(v);
  if (auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(x->getType())) return llvm::ConstantVector::getSplat(vt->getElementCount(), c);
  return c;
}

llvm::Value* widen_bf16(Builder& b, llvm::Value* bits) {
  llvm::Type* type = b.getFloatTy();
  if (auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(bits->getType())) type = llvm::FixedVectorType::get(type, vt->getNumElements());
  return b.CreateBitCast(b.CreateShl(bits, int_like(b, bits, 16)), type);
}

llvm::Value* round_to_bf16(Builder& b, llvm::Value* x) {
  llvm::Type* int_type = b.getInt32Ty();
  if (auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(x->getType())) int_type = llvm::FixedVectorType::get(int_type, vt->getNumElements());
  llvm::Value* bits = b.CreateBitCast(x, int_type);
  // Round to nearest, ties to even: add 0x7fff plus the kept part's lowest bit, keep the top
  // half (c10::BFloat16's round_to_nearest_even; denormals are kept, not flushed).
  llvm::Value* odd = b.CreateAnd(b.CreateLShr(bits, int_like(b, bits, 16)), int_like(b, bits, 1));
  llvm::Value* rounded = b.CreateLShr(b.CreateAdd(b.CreateAdd(bits, int_like(b, bits, 0x7fff)), odd), int_like(b, bits, 16));
  // A NaN would round into the infinities (or carry into the sign): PyTorch's canonical quiet NaN.
  return b.CreateSelect(b.CreateFCmpUNO(x, x), int_like(b, bits, 0x7fc0), rounded);
}

llvm::Value* load_element(Builder& b, llvm::Value* array, llvm::Value* index, ir::DType dtype) {
  if (dtype != ir::DType::BF16) return load_f32(b, array, index);
  llvm::Value* bits = b.CreateAlignedLoad(b.getInt16Ty(), bf16_pointer(b, array, index), llvm::Align(2));
  return widen_bf16(b, b.CreateZExt(bits, b.getInt32Ty()));
}

void store_element(Builder& b, llvm::Value* value, llvm::Value* array, llvm::Value* index, ir::DType dtype) {
  if (dtype != ir::DType::BF16) {
    store_f32(b, value, array, index);
    return;
  }
  b.CreateAlignedStore(b.CreateTrunc(round_to_bf16(b, value), b.getInt16Ty()), bf16_pointer(b, array, index),
                       llvm::Align(2));
}

std::vector<ir::DType> input_dtypes(const KernelBody& k) {
  std::vector<ir::DType> dtypes;
  for (int in : k.kernel.inputs) dtypes.push_back(k.plan.buffer(in).dtype);
  return dtypes;
}

ir::DType output_dtype(const KernelBody& k) { return k.plan.buffer(k.kernel.output).dtype; }

}  // namespace resnetc::codegen::llvm_backend
