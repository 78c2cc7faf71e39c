// softmax_cross_entropy and its gradient, over logits [N, K] and int32 labels [N] (which
// arrive in a float* buffer), with label smoothing s: the target (1 - s) onehot + s/K. Tiny (N*K elements once per step): computed in double on the
// calling thread, each row's log-sum-exp taken stably (shifted by the row's maximum).
// A label outside [0, K) reads nothing out of bounds and gives a NaN loss (or NaN gradient
// row), which the trainer reports.
#include <limits>
#include <stdexcept>

#include <fmt/format.h>
#include <llvm/IR/Intrinsics.h>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/kernel_emitter.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::OpKind;

struct Row {
  llvm::Value* lse;    // double: log(sum_k exp(logits[n, k]))
  llvm::Value* label;  // i64, clamped into [0, K)
  llvm::Value* valid;  // i1: the label was a class index
};

// The log-sum-exp and label of row n.
Row emit_row(Builder& b, llvm::Value* logits, llvm::Value* labels, llvm::Value* n, int64_t classes) {
  llvm::Value* row = gep_f32(b, logits, b.CreateMul(n, i64(b, classes)), "row");
  llvm::AllocaInst* top = local(b, b.getDoubleTy(), "top");
  llvm::AllocaInst* sum = local(b, b.getDoubleTy(), "sum");
  b.CreateStore(f64(b, -std::numeric_limits<double>::infinity()), top);
  emit_for(b, "k", 0, classes, 1, [&](llvm::Value* k) {
    llvm::Value* v = to_f64(b, load_f32(b, row, k));
    llvm::Value* t = b.CreateLoad(b.getDoubleTy(), top);
    b.CreateStore(b.CreateSelect(b.CreateFCmpOLT(t, v), v, t), top);  // std::max(t, v)
  });
  llvm::Value* t = b.CreateLoad(b.getDoubleTy(), top);
  b.CreateStore(f64(b, 0), sum);
  emit_for(b, "k", 0, classes, 1, [&](llvm::Value* k) {
    llvm::Value* e = b.CreateUnaryIntrinsic(llvm::Intrinsic::exp, b.CreateFSub(to_f64(b, load_f32(b, row, k)), t));
    b.CreateStore(b.CreateFAdd(b.CreateLoad(b.getDoubleTy(), sum), e), sum);
  });
  llvm::Value* lse = b.CreateFAdd(t, b.CreateUnaryIntrinsic(llvm::Intrinsic::log, b.CreateLoad(b.getDoubleTy(), sum)));

  llvm::Value* int_labels = b.CreateBitCast(labels, b.getInt32Ty()->getPointerTo(), "labels");
  llvm::Value* label = b.CreateSExt(
      b.CreateAlignedLoad(b.getInt32Ty(), b.CreateInBoundsGEP(b.getInt32Ty(), int_labels, n), llvm::Align(4)),
      b.getInt64Ty(), "label");
  llvm::Value* valid = b.CreateAnd(b.CreateICmpSGE(label, i64(b, 0)), b.CreateICmpSLT(label, i64(b, classes)), "valid");
  return {lse, b.CreateSelect(valid, label, i64(b, 0)), valid};
}

llvm::Value* nan_unless(Builder& b, llvm::Value* valid, llvm::Value* v) {
  return b.CreateSelect(valid, v, llvm::ConstantFP::getNaN(v->getType()));
}

// The sum of row n's logits, in double.
llvm::Value* emit_row_sum(Builder& b, llvm::Value* logits, llvm::Value* n, int64_t classes) {
  llvm::Value* row = gep_f32(b, logits, b.CreateMul(n, i64(b, classes)), "row");
  llvm::AllocaInst* sum = local(b, b.getDoubleTy(), "row_sum");
  b.CreateStore(f64(b, 0), sum);
  emit_for(b, "k", 0, classes, 1, [&](llvm::Value* k) {
    b.CreateStore(b.CreateFAdd(b.CreateLoad(b.getDoubleTy(), sum), to_f64(b, load_f32(b, row, k))), sum);
  });
  return b.CreateLoad(b.getDoubleTy(), sum);
}

// [1]: the mean over the batch of lse(row) - (1 - s) logits[n, label[n]] - s/K sum_k logits[n, k].
void emit_loss_value(KernelBody& k) {
  Builder& b = k.b;
  const int64_t batch = k.in_shape(0)[0], classes = k.in_shape(0)[1];
  const double s = k.attrs().label_smoothing;
  llvm::AllocaInst* total = local(b, b.getDoubleTy(), "total");
  b.CreateStore(f64(b, 0), total);
  emit_for(b, "n", 0, batch, 1, [&](llvm::Value* n) {
    Row r = emit_row(b, k.in[0], k.in[1], n, classes);
    llvm::Value* picked = to_f64(b, load_f32(b, k.in[0], b.CreateAdd(b.CreateMul(n, i64(b, classes)), r.label)));
    llvm::Value* loss = b.CreateFSub(r.lse, s != 0 ? b.CreateFMul(f64(b, 1 - s), picked) : picked);
    if (s != 0)
      loss = b.CreateFSub(loss, b.CreateFMul(f64(b, s / static_cast<double>(classes)),
                                             emit_row_sum(b, k.in[0], n, classes)));
    llvm::Value* term = nan_unless(b, r.valid, loss);
    b.CreateStore(b.CreateFAdd(b.CreateLoad(b.getDoubleTy(), total), term), total);
  }, kOuter);
  store_f32(b, to_f32(b, b.CreateFDiv(b.CreateLoad(b.getDoubleTy(), total), f64(b, static_cast<double>(batch)))),
            k.out, 0);
}

// [N, K]: (softmax(logits) - (1 - s) onehot(labels) - s/K) / N.
void emit_loss_grad(KernelBody& k) {
  Builder& b = k.b;
  const int64_t batch = k.in_shape(0)[0], classes = k.in_shape(0)[1];
  const double s = k.attrs().label_smoothing, spread = s / static_cast<double>(classes);
  const double inv_batch = 1.0 / static_cast<double>(batch);
  emit_for(b, "n", 0, batch, 1, [&](llvm::Value* n) {
    Row r = emit_row(b, k.in[0], k.in[1], n, classes);
    llvm::Value* offset = b.CreateMul(n, i64(b, classes));
    emit_for(b, "k", 0, classes, 1, [&](llvm::Value* c) {
      llvm::Value* i = b.CreateAdd(offset, c);
      llvm::Value* shifted = b.CreateFSub(to_f64(b, load_f32(b, k.in[0], i)), r.lse);
      llvm::Value* p = b.CreateUnaryIntrinsic(llvm::Intrinsic::exp, shifted);
      p = b.CreateFSub(p, b.CreateSelect(b.CreateICmpEQ(c, r.label), f64(b, 1 - s + spread), f64(b, spread)));
      store_f32(b, to_f32(b, nan_unless(b, r.valid, b.CreateFMul(p, f64(b, inv_batch)))), k.out, i);
    });
  }, kOuter);
}

}  // namespace

void emit_loss(KernelBody& k) {
  switch (k.kernel.kind) {
    case OpKind::SoftmaxCrossEntropy: return emit_loss_value(k);
    case OpKind::SoftmaxCrossEntropyGrad: return emit_loss_grad(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_loss: {} is not a loss op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
