#pragma once
// The LLVM rendering of the scalar instruction set's arithmetic opcodes (ir::FusedOpcode), the one
// table from opcode to IR: the fused programs (fused.cpp) and the window renderer's combining
// opcode (pooling.cpp) both use it.
#include "compiler/codegen/llvm/loops.h"
#include "compiler/ir/graph.h"

namespace resnetc::codegen::llvm_backend {

// Arithmetic instruction `code` on x = r[a] and y = r[b] (null when not read), in their type;
// throws std::logic_error for a load or constant.
llvm::Value* scalar_op(Builder& b, ir::FusedOpcode code, llvm::Value* x, llvm::Value* y);

}  // namespace resnetc::codegen::llvm_backend
