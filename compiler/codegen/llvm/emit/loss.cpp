// The row renderer: softmax_cross_entropy and its gradient, each rendered from its
// ir::RowReduction (folds over each row of the logits, a program per row, then the total or a
// map at every element, the opcodes through scalar_op.h's table), so no kind is named here.
// Tiny (N*K elements once per step): computed in double on the calling thread, in the
// description's order, so the additions are the description's. A label outside [0, K) reads
// nothing out of bounds (it reads as 0) and makes its row's results NaN, which the trainer
// reports.
#include <stdexcept>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/emit/scalar_op.h"
#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/ir/row_reduction.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::FusedOpcode;

// Where the programs of row n read: the inputs, the row's label, its folds and results so far,
// and (for the total) the sums over the rows.
struct Row {
  const ir::RowReduction& r;
  llvm::ArrayRef<llvm::Value*> in;
  int64_t classes;
  llvm::Value* n = nullptr;
  llvm::Value* label = nullptr;  // i64, 0 when not a class index
  llvm::Value* valid = nullptr;  // i1: the label is a class index
  std::vector<llvm::Value*> folded{}, results{}, sums{};
};

llvm::Value* nan_unless(Builder& b, llvm::Value* valid, llvm::Value* v) {
  return b.CreateSelect(valid, v, llvm::ConstantFP::getNaN(v->getType()));
}

// The label of row n, read as 0 when it is not a class index.
void read_label(Builder& b, Row& row) {
  llvm::Value* labels = b.CreateBitCast(row.in[static_cast<size_t>(row.r.labels)], b.getInt32Ty()->getPointerTo(), "labels");
  llvm::Value* label = b.CreateSExt(
      b.CreateAlignedLoad(b.getInt32Ty(), b.CreateInBoundsGEP(b.getInt32Ty(), labels, row.n), llvm::Align(4)),
      b.getInt64Ty(), "label");
  row.valid = b.CreateAnd(b.CreateICmpSGE(label, i64(b, 0)), b.CreateICmpSLT(label, i64(b, row.classes)), "valid");
  row.label = b.CreateSelect(row.valid, label, i64(b, 0));
}

// Program `p` of row `row` in double at column `k` (null outside the element loops); its registers.
std::vector<llvm::Value*> run(Builder& b, const ir::FusedProgram& p, const Row& row, llvm::Value* k) {
  const ir::RowReduction& r = row.r;
  auto element = [&](int32_t input, llvm::Value* column) {
    return to_f64(b, load_f32(b, row.in[static_cast<size_t>(input)],
                              b.CreateAdd(b.CreateMul(row.n, i64(b, row.classes)), column)));
  };
  std::vector<llvm::Value*> reg;
  for (const ir::FusedInstr& in : p.instrs) {
    llvm::Value* v = nullptr;
    switch (in.code) {
      case FusedOpcode::Load: v = element(in.a, k); break;
      case FusedOpcode::AtLabel: v = element(in.a, row.label); break;
      case FusedOpcode::OnLabel:
        v = b.CreateSelect(b.CreateICmpEQ(k, row.label), reg[static_cast<size_t>(in.a)], reg[static_cast<size_t>(in.b)]);
        break;
      case FusedOpcode::Const: v = f64(b, in.value); break;
      case FusedOpcode::LoadChannel: {
        const auto q = static_cast<size_t>(in.b);
        if (in.a == r.folded()) v = row.folded.at(q);
        else if (in.a == r.row_results()) v = row.results.at(q);
        else if (in.a == r.sums()) v = row.sums.at(q);
        else throw std::logic_error("row reduction: an input read per row");
        break;
      }
      default:
        v = scalar_op(b, in, reg);
    }
    reg.push_back(v);
  }
  return reg;
}

llvm::Value* result(const ir::FusedProgram& p, const std::vector<llvm::Value*>& reg, size_t q = 0) {
  return reg[static_cast<size_t>(p.results.at(q))];
}

// Row n's folds, each a loop over its elements in column order, then its program; an invalid
// label makes its results NaN.
void emit_row(Builder& b, Row& row) {
  read_label(b, row);
  row.folded.clear();
  for (const ir::RowReduction::Fold& f : row.r.folds) {
    llvm::AllocaInst* acc = local(b, b.getDoubleTy(), "acc");
    b.CreateStore(f64(b, f.init), acc);
    emit_for(b, "k", 0, row.classes, 1, [&](llvm::Value* k) {
      llvm::Value* term = result(f.term, run(b, f.term, row, k));
      b.CreateStore(scalar_op(b, f.combine, b.CreateLoad(b.getDoubleTy(), acc), term), acc);
    });
    row.folded.push_back(b.CreateLoad(b.getDoubleTy(), acc));
  }
  const std::vector<llvm::Value*> reg = run(b, row.r.row, row, nullptr);
  row.results.clear();
  for (size_t q = 0; q < row.r.row.results.size(); ++q) row.results.push_back(nan_unless(b, row.valid, result(row.r.row, reg, q)));
}

}  // namespace

void emit_loss(KernelBody& k) {
  const ir::Dims& logits = k.in_shape(0);
  const ir::RowReduction r = ir::row_reduction(k.kernel.kind, k.attrs(), std::vector<ir::Dims>{logits, k.in_shape(1)});
  Builder& b = k.b;
  Row row{r, k.in, logits[1]};
  if (!r.map.empty()) {
    emit_for(b, "n", 0, logits[0], 1, [&](llvm::Value* n) {
      row.n = n;
      emit_row(b, row);
      llvm::Value* offset = b.CreateMul(n, i64(b, row.classes));
      emit_for(b, "k", 0, row.classes, 1, [&](llvm::Value* c) {
        llvm::Value* v = result(r.map, run(b, r.map, row, c));
        store_f32(b, to_f32(b, nan_unless(b, row.valid, v)), k.out, b.CreateAdd(offset, c));
      });
    }, kOuter);
    return;
  }
  std::vector<llvm::AllocaInst*> sums;
  for (size_t q = 0; q < r.row.results.size(); ++q) {
    sums.push_back(local(b, b.getDoubleTy(), "total"));
    b.CreateStore(f64(b, 0), sums.back());
  }
  emit_for(b, "n", 0, logits[0], 1, [&](llvm::Value* n) {
    row.n = n;
    emit_row(b, row);
    for (size_t q = 0; q < sums.size(); ++q)
      b.CreateStore(b.CreateFAdd(b.CreateLoad(b.getDoubleTy(), sums[q]), row.results[q]), sums[q]);
  }, kOuter);
  for (llvm::AllocaInst* sum : sums) row.sums.push_back(b.CreateLoad(b.getDoubleTy(), sum));
  store_f32(b, to_f32(b, result(r.total, run(b, r.total, row, nullptr))), k.out, 0);
}

}  // namespace resnetc::codegen::llvm_backend
