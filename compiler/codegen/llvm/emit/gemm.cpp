// The GEMM generators' shared pieces (gemm_internal.h): IR helpers, the epilogue's row
// statistics, and the position classes of a window.
#include "compiler/codegen/llvm/emit/gemm_internal.h"

#include <algorithm>

namespace resnetc::codegen::llvm_backend::gemm_internal {
namespace {

// Output positions along one axis that see the same range of taps: tap t reaches the input at
// q*stride + taps[t], which is inside [0, in) for t in [lo, hi) (a contiguous range: the taps
// are monotonic).
struct AxisClass {
  int64_t lo = 0, hi = 0;
  std::vector<int64_t> q;
};

std::vector<AxisClass> axis_classes(int64_t out, int64_t stride, const std::vector<int64_t>& taps, int64_t in) {
  std::vector<AxisClass> classes;
  for (int64_t q = 0; q < out; ++q) {
    int64_t lo = 0, hi = 0;
    for (size_t t = 0; t < taps.size(); ++t) {
      int64_t y = q * stride + taps[t];
      if (y < 0 || y >= in) continue;
      if (hi == 0) lo = static_cast<int64_t>(t);
      hi = static_cast<int64_t>(t) + 1;
    }
    auto it = std::find_if(classes.begin(), classes.end(), [&](const AxisClass& c) { return c.lo == lo && c.hi == hi; });
    if (it == classes.end()) it = classes.insert(classes.end(), AxisClass{lo, hi, {}});
    it->q.push_back(q);
  }
  return classes;
}

}  // namespace

void emit_if(Builder& b, llvm::Value* cond, llvm::function_ref<void()> then) {
  llvm::Function* f = b.GetInsertBlock()->getParent();
  auto* then_block = llvm::BasicBlock::Create(b.getContext(), "if.then", f);
  auto* end_block = llvm::BasicBlock::Create(b.getContext(), "if.end", f);
  b.CreateCondBr(cond, then_block, end_block);
  b.SetInsertPoint(then_block);
  then();
  b.CreateBr(end_block);
  b.SetInsertPoint(end_block);
}

std::vector<llvm::Value*> transpose8x16(Builder& b, llvm::ArrayRef<llvm::Value*> a) {
  auto shuffle = [&](llvm::Value* x, llvm::Value* y, std::initializer_list<int> m) {
    return b.CreateShuffleVector(x, y, llvm::ArrayRef<int>(m.begin(), m.end()));
  };
  llvm::Value* t[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = shuffle(a[2 * k], a[2 * k + 1], {0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29});
    t[2 * k + 1] = shuffle(a[2 * k], a[2 * k + 1], {2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31});
  }
  // u[i] lane q = row 4q+i, columns 0-3; u[4+i]: columns 4-7.
  llvm::Value* u[8];
  for (int h = 0; h < 2; ++h) {
    llvm::Value *p0 = t[4 * h], *p1 = t[4 * h + 1], *p2 = t[4 * h + 2], *p3 = t[4 * h + 3];
    u[4 * h + 0] = shuffle(p0, p2, {0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29});
    u[4 * h + 1] = shuffle(p0, p2, {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31});
    u[4 * h + 2] = shuffle(p1, p3, {0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29});
    u[4 * h + 3] = shuffle(p1, p3, {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31});
  }
  std::vector<llvm::Value*> rows(16);
  for (int q = 0; q < 4; ++q)
    for (int i = 0; i < 4; ++i)
      rows[static_cast<size_t>(4 * q + i)] =
          shuffle(u[i], u[4 + i], {4 * q, 4 * q + 1, 4 * q + 2, 4 * q + 3, 16 + 4 * q, 17 + 4 * q, 18 + 4 * q, 19 + 4 * q});
  return rows;
}

std::string unique_prefix(Builder& b, const std::string& tag) {
  return b.GetInsertBlock()->getParent()->getName().str() + "." + tag;
}

RowStats row_stats(const Ir& ir, Builder& b, int64_t items, int64_t RB, int64_t ig, int64_t irb, int64_t ij, int64_t J) {
  llvm::Value* partials = b.CreateBitCast(ir.alloc(b, items * 2 * RB * 8), b.getDoubleTy()->getPointerTo());
  return {partials, RB, ig, irb, ij, J};
}

void finalize_row_stats(const Ir& ir, Builder& b, const WindowGemm& d, const RowStats& s, llvm::Value* bias,
                        llvm::Value* stats) {
  auto* f64 = b.getDoubleTy();
  const double count = static_cast<double>(d.batch * d.out_rows * d.out_cols);
  emit_for(b, "stats.g", 0, d.groups, 1, [&](llvm::Value* g) {
    emit_for(b, "stats.rb", 0, ceil_div(d.rows, s.RB), 1, [&](llvm::Value* rb) {
      llvm::Value* first = b.CreateAdd(b.CreateMul(g, c64(b, s.ig)), b.CreateMul(rb, c64(b, s.ir)));
      llvm::Value* total = at_f64(b, s.partials, b.CreateMul(first, c64(b, 2 * s.RB)));
      emit_for(b, "stats.j", 1, s.J, 1, [&](llvm::Value* j) {  // into the first item's slot, in item order
        llvm::Value* slot = at_f64(b, total, b.CreateMul(j, c64(b, s.ij * 2 * s.RB)));
        emit_for(b, "stats.l", 0, 2 * s.RB, 1, [&](llvm::Value* l) {
          llvm::Value* t = at_f64(b, total, l);
          b.CreateStore(b.CreateFAdd(b.CreateLoad(f64, t), b.CreateLoad(f64, at_f64(b, slot, l))), t);
        }, LoopHints{.vectorize = true, .no_unroll = true});
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
      llvm::Value* row0 = b.CreateMul(rb, c64(b, s.RB));
      emit_for(b, "stats.row", c64(b, 0), min64(b, c64(b, s.RB), b.CreateSub(c64(b, d.rows), row0)), c64(b, 1),
               [&](llvm::Value* l) {
        llvm::Value* mean = b.CreateFDiv(b.CreateLoad(f64, at_f64(b, total, l)), llvm::ConstantFP::get(f64, count));
        llvm::Value* squares = b.CreateLoad(f64, at_f64(b, total, b.CreateAdd(l, c64(b, s.RB))));
        llvm::Value* var = b.CreateFSub(b.CreateFDiv(squares, llvm::ConstantFP::get(f64, count)), b.CreateFMul(mean, mean));
        var = b.CreateSelect(b.CreateFCmpOLT(var, llvm::ConstantFP::get(f64, 0.0)), llvm::ConstantFP::get(f64, 0.0), var);
        llvm::Value* c = b.CreateAdd(b.CreateMul(g, c64(b, d.rows)), b.CreateAdd(row0, l));
        if (bias) mean = b.CreateFAdd(mean, b.CreateFPExt(b.CreateAlignedLoad(ir.f32, ir.at(b, bias, c), llvm::Align(4)), f64));
        b.CreateAlignedStore(b.CreateFPTrunc(mean, ir.f32), ir.at(b, stats, c), llvm::Align(4));
        b.CreateAlignedStore(b.CreateFPTrunc(var, ir.f32), ir.at(b, stats, b.CreateAdd(c, c64(b, d.groups * d.rows))), llvm::Align(4));
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  }, LoopHints{.no_vectorize = true, .no_unroll = true});
  ir.release(b, s.partials);
}

llvm::Value* tree_sum(Builder& b, std::vector<llvm::Value*> v) {
  while (v.size() > 1) {
    std::vector<llvm::Value*> next;
    for (size_t i = 0; i + 1 < v.size(); i += 2) next.push_back(b.CreateFAdd(v[i], v[i + 1]));
    if (v.size() % 2) next.push_back(v.back());
    v = std::move(next);
  }
  return v.front();
}

void window_classes(const WindowGemm& d, WindowPlan& p, bool merge_small, bool one_class) {
  const auto TH = static_cast<int64_t>(d.tap_h.size()), TW = static_cast<int64_t>(d.tap_w.size());
  std::vector<AxisClass> hc = axis_classes(d.out_rows, d.in_sh, d.tap_h, d.in_h);
  std::vector<AxisClass> wc = axis_classes(d.out_cols, d.in_sw, d.tap_w, d.in_w);
  std::vector<WindowClass> own;
  WindowClass all;
  all.h1 = TH;
  all.w1 = TW;
  for (const AxisClass& h : hc) {
    for (const AxisClass& w : wc) {
      WindowClass c;
      c.h0 = h.lo, c.h1 = h.hi, c.w0 = w.lo, c.w1 = w.hi;
      for (int64_t n = 0; n < d.batch; ++n)
        for (int64_t qh : h.q)
          for (int64_t qw : w.q) c.cols.push_back({n, qh, qw});
      bool full = c.h0 == 0 && c.h1 == TH && c.w0 == 0 && c.w1 == TW;
      if (c.cols.empty()) continue;
      if (full || (merge_small && static_cast<int64_t>(c.cols.size()) < kMinClassColumns)) {
        all.cols.insert(all.cols.end(), c.cols.begin(), c.cols.end());
      } else {
        own.push_back(std::move(c));
      }
    }
  }
  // Each class has its own unrolled code: past a budget of taps (7x7 kernels on small
  // images), everything goes to the all-taps class.
  int64_t unrolled = (all.h1 - all.h0) * (all.w1 - all.w0);
  for (const WindowClass& c : own) unrolled += (c.h1 - c.h0) * (c.w1 - c.w0);
  if (one_class || (merge_small && unrolled > kIm2colUnrollBudget)) {
    for (WindowClass& c : own) all.cols.insert(all.cols.end(), c.cols.begin(), c.cols.end());
    own.clear();
  }
  std::sort(all.cols.begin(), all.cols.end());
  if (!all.cols.empty()) own.push_back(std::move(all));
  int64_t panel = 0, block = 0;
  for (WindowClass& c : own) {
    c.T = (c.h1 - c.h0) * (c.w1 - c.w0);
    c.first_panel = panel;
    c.panels = ceil_div(static_cast<int64_t>(c.cols.size()), kNR);
    panel += c.panels;
    // Column blocks: as many panels as keep the packed block within kBlockBytes (L2).
    const int64_t panel_bytes = std::max<int64_t>(1, c.T * d.kouter) * kNR * 4;
    c.block_panels = std::clamp<int64_t>(kBlockBytes / panel_bytes, 1, c.panels);
    c.blocks = ceil_div(c.panels, c.block_panels);
    c.block_panels = ceil_div(c.panels, c.blocks);
    c.first_block = block;
    block += c.blocks;
    p.Kmax = std::max(p.Kmax, c.T * d.kouter * c.block_panels);
  }
  p.NP = panel;
  p.NBLK = block;
  p.classes = std::move(own);
}

std::vector<llvm::Value*> make_acc(const Ir& ir, Builder& b, int64_t mr) {
  std::vector<llvm::Value*> acc(static_cast<size_t>(mr * kNV));
  for (auto& s : acc) s = ir.slot(b, ir.vf);
  return acc;
}

}  // namespace resnetc::codegen::llvm_backend::gemm_internal
