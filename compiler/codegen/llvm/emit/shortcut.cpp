// pad_shortcut and its gradient (He et al. 2015's option-A shortcut): strided gathers and
// scatters, one output row at a time, split over the thread pool by rows when large.
#include <stdexcept>

#include <fmt/format.h>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/kernel_emitter.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::OpKind;

// y[n, c, i, j] = c < C ? x[n, c, i*sh, j*sw] : 0. The channel is clamped before the load so a
// padded channel reads a real element; the select drops it.
void emit_forward(KernelBody& k) {
  const ir::Dims& x = k.in_shape(0);
  const ir::Dims& y = k.out_shape();
  const int64_t cin = x[1], h = x[2], w = x[3], cout = y[1], oh = y[2], ow = y[3];
  const int64_t sh = k.attrs().stride[0], sw = k.attrs().stride[1];
  const int64_t rows = y[0] * cout * oh;
  for_range(k, "rows", rows, rows * ow, {k.in[0], k.out},
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              emit_for(b, "row", begin, end, i64(b, 1), [&](llvm::Value* row) {
                llvm::Value* i = b.CreateURem(row, i64(b, oh));
                llvm::Value* plane = b.CreateUDiv(row, i64(b, oh));
                llvm::Value* c = b.CreateURem(plane, i64(b, cout));
                llvm::Value* n = b.CreateUDiv(plane, i64(b, cout));
                llvm::Value* real = b.CreateICmpULT(c, i64(b, cin));
                llvm::Value* src_c = b.CreateSelect(real, c, i64(b, cin - 1));
                llvm::Value* src_row = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, i64(b, cin)), src_c), i64(b, h)),
                                                   b.CreateMul(i, i64(b, sh)));
                llvm::Value* src = gep_f32(b, a[0], b.CreateMul(src_row, i64(b, w)), "src");
                llvm::Value* dst = gep_f32(b, a[1], b.CreateMul(row, i64(b, ow)), "dst");
                emit_for(b, "j", 0, ow, 1, [&](llvm::Value* j) {
                  llvm::Value* v = load_f32(b, src, b.CreateMul(j, i64(b, sw)));
                  store_f32(b, b.CreateSelect(real, v, f32(b, 0)), dst, j);
                }, kVector);
              }, kOuter);
            });
}

// dx[n, c, h, w] = (sh divides h and sw divides w) ? dy[n, c, h/sh, w/sw] : 0. The load is in
// bounds either way (h/sh < ceil(H/sh)); the select drops it off the grid.
void emit_backward(KernelBody& k) {
  const ir::Dims& dy = k.in_shape(0);
  const ir::Dims& x = k.out_shape();
  const int64_t cin = x[1], h = x[2], w = x[3], cout = dy[1], oh = dy[2], ow = dy[3];
  const int64_t sh = k.attrs().stride[0], sw = k.attrs().stride[1];
  const int64_t rows = x[0] * cin * h;
  for_range(k, "rows", rows, rows * w, {k.in[0], k.out},
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              emit_for(b, "row", begin, end, i64(b, 1), [&](llvm::Value* row) {
                llvm::Value* r = b.CreateURem(row, i64(b, h));
                llvm::Value* plane = b.CreateUDiv(row, i64(b, h));
                llvm::Value* c = b.CreateURem(plane, i64(b, cin));
                llvm::Value* n = b.CreateUDiv(plane, i64(b, cin));
                llvm::Value* on_row = b.CreateICmpEQ(b.CreateURem(r, i64(b, sh)), i64(b, 0));
                llvm::Value* src_row = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(n, i64(b, cout)), c), i64(b, oh)),
                                                   b.CreateUDiv(r, i64(b, sh)));
                llvm::Value* src = gep_f32(b, a[0], b.CreateMul(src_row, i64(b, ow)), "src");
                llvm::Value* dst = gep_f32(b, a[1], b.CreateMul(row, i64(b, w)), "dst");
                emit_for(b, "j", 0, w, 1, [&](llvm::Value* j) {
                  llvm::Value* v = load_f32(b, src, b.CreateUDiv(j, i64(b, sw)));
                  llvm::Value* on_grid = b.CreateAnd(on_row, b.CreateICmpEQ(b.CreateURem(j, i64(b, sw)), i64(b, 0)));
                  store_f32(b, b.CreateSelect(on_grid, v, f32(b, 0)), dst, j);
                }, kVector);
              }, kOuter);
            });
}

}  // namespace

void emit_shortcut(KernelBody& k) {
  switch (k.kernel.kind) {
    case OpKind::PadShortcut: return emit_forward(k);
    case OpKind::PadShortcutGrad: return emit_backward(k);
    default: break;
  }
  throw std::logic_error(fmt::format("emit_shortcut: {} is not a shortcut op", ir::op_kind_name(k.kernel.kind)));
}

}  // namespace resnetc::codegen::llvm_backend
