#pragma once
// The LLVM rendering of the scalar instruction set's arithmetic opcodes (ir::FusedOpcode), the one
// table from opcode to IR: the fused programs (fused.cpp) and the window renderer's combining
// opcode (pooling.cpp) both use it.
#include "compiler/codegen/llvm/loops.h"
#include "compiler/ir/graph.h"

namespace resnetc::codegen::llvm_backend {

// Arithmetic instruction `code` on x = r[a], y = r[b] and z = r[c] (null when not read), in their
// type; throws std::logic_error for a load or constant.
llvm::Value* scalar_op(Builder& b, ir::FusedOpcode code, llvm::Value* x, llvm::Value* y, llvm::Value* z = nullptr);
// Arithmetic instruction `in` on the registers it reads of `reg`.
llvm::Value* scalar_op(Builder& b, const ir::FusedInstr& in, llvm::ArrayRef<llvm::Value*> reg);

}  // namespace resnetc::codegen::llvm_backend
