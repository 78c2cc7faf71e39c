// WindowGemm (gemm.h): the choice of formulation, and columns in vector lanes ("im2col").
#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "compiler/codegen/llvm/emit/gemm_internal.h"

namespace resnetc::codegen::llvm_backend {
using namespace gemm_internal;
namespace {


// Gathers the 32 columns of `panel` (class c) into bpack[kc][tap][32], zeros for padding.
void window_pack(const Ir& ir, Builder& b, const WindowGemm& d, const WindowPlan& p, const WindowClass& c,
                 llvm::Value* in, llvm::Value* g, llvm::Value* panel, llvm::Value* bpack) {
  llvm::Value *y0[kNV], *x0[kNV], *base[kNV];
  for (int64_t v = 0; v < kNV; ++v) {
    llvm::Value* col = b.CreateAdd(b.CreateMul(panel, c64(b, kNR)), c64(b, v * kLanes));
    base[v] = ir.load_vector(b, p.in_base, col);
    y0[v] = ir.load_vector(b, p.y0, col);
    x0[v] = ir.load_vector(b, p.x0, col);
  }
  llvm::Value* in_g = operand_at(ir, b, in, b.CreateMul(g, c64(b, d.in_g)), d.in_bf16);
  const int64_t TW = c.w1 - c.w0;
  for (int64_t th = c.h0; th < c.h1; ++th) {
    for (int64_t tw = c.w0; tw < c.w1; ++tw) {
      const int64_t t = (th - c.h0) * TW + (tw - c.w0);
      const int64_t dy = d.tap_h[static_cast<size_t>(th)], dx = d.tap_w[static_cast<size_t>(tw)];
      llvm::Value *mask[kNV], *index[kNV];
      for (int64_t v = 0; v < kNV; ++v) {
        llvm::Value* y = b.CreateAdd(y0[v], ir.vsplat(b, dy));
        llvm::Value* x = b.CreateAdd(x0[v], ir.vsplat(b, dx));
        mask[v] = b.CreateAnd(b.CreateICmpULT(y, ir.vsplat(b, d.in_h)), b.CreateICmpULT(x, ir.vsplat(b, d.in_w)));
        index[v] = b.CreateAdd(base[v], ir.vsplat(b, dy * d.in_w + dx));
      }
      emit_for(b, "pack.kc", 0, d.kouter, 1, [&](llvm::Value* kc) {
        // The channel offset goes into the (i32) index vector inside the loop, so the gather's
        // index is visibly a sign-extended i32 vector and becomes one 16-lane vgatherdps.
        llvm::Value* channel = ir.vsplat(b, b.CreateMul(kc, c64(b, d.in_c)));
        llvm::Value* dst = ir.at(b, bpack, b.CreateAdd(b.CreateMul(kc, c64(b, c.T * kNR)), c64(b, t * kNR)));
        for (int64_t v = 0; v < kNV; ++v)
          ir.vstore(b, gather_operand(ir, b, in_g, b.CreateAdd(index[v], channel), mask[v], d.in_bf16), ir.at(b, dst, v * kLanes), 64);
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    }
  }
}

// acc[r][v] = Σ_{kc, tap of class c} A[g][row + r][kc][tap] · bpack[kc][tap][16v..].
void window_kloop(const Ir& ir, Builder& b, const WindowGemm& d, const WindowClass& c, int64_t mr, llvm::Value* a,
                  llvm::Value* g, llvm::Value* row, llvm::Value* bpack, const std::vector<llvm::Value*>& acc) {
  for (auto* slot : acc) b.CreateStore(ir.fzero(), slot);
  if (c.T == 0 || d.kouter == 0) return;
  std::vector<int64_t> tap_a;
  const auto TW = static_cast<int64_t>(d.tap_w.size());
  for (int64_t th = c.h0; th < c.h1; ++th)
    for (int64_t tw = c.w0; tw < c.w1; ++tw) tap_a.push_back(d.tap_a[static_cast<size_t>(th * TW + tw)]);
  llvm::Value* a_rows = ir.at(b, a, b.CreateAdd(b.CreateMul(g, c64(b, d.a_g)), b.CreateMul(row, c64(b, d.a_row))));
  LoopHints hints{.no_vectorize = true};
  if (c.T == 1) hints.unroll = 4; else hints.no_unroll = true;
  emit_for(b, "kc", 0, d.kouter, 1, [&](llvm::Value* kc) {
    llvm::Value* bp = ir.at(b, bpack, b.CreateMul(kc, c64(b, c.T * kNR)));
    llvm::Value* ap = ir.at(b, a_rows, b.CreateMul(kc, c64(b, d.a_kc)));
    std::vector<llvm::Value*> s(acc.size());
    for (size_t i = 0; i < acc.size(); ++i) s[i] = b.CreateLoad(ir.vf, acc[i]);
    for (int64_t t = 0; t < c.T; ++t) {
      llvm::Value* bv[kNV];
      for (int64_t v = 0; v < kNV; ++v) bv[v] = ir.vload(b, ir.at(b, bp, t * kNR + v * kLanes), 64);
      for (int64_t r = 0; r < mr; ++r) {
        llvm::Value* x = b.CreateAlignedLoad(ir.f32, ir.at(b, ap, r * d.a_row + tap_a[static_cast<size_t>(t)]), llvm::Align(4));
        llvm::Value* splat = b.CreateVectorSplat(kLanes, x);
        for (int64_t v = 0; v < kNV; ++v) {
          auto i = static_cast<size_t>(r * kNV + v);
          s[i] = ir.fma(b, splat, bv[v], s[i]);
        }
      }
    }
    for (size_t i = 0; i < acc.size(); ++i) b.CreateStore(s[i], acc[i]);
  }, hints);
}

// Epilogue of an mr x 32 block: bias, then stores by contiguous runs or a scatter. With
// stat_rows (double*, the item's slot at this block's first row, RB rows per slot) the rows'
// sums and squares over the panel's columns (before the bias) are added to it: lanes past a
// class's last column add nothing, their packed B being zero.
void window_store(const Ir& ir, Builder& b, const WindowGemm& d, const WindowPlan& p, const WindowClass& c, int64_t mr,
                  llvm::Value* bias, llvm::Value* out, llvm::Value* g, llvm::Value* row, llvm::Value* panel,
                  const std::vector<llvm::Value*>& acc, llvm::Value* stat_rows, int64_t RB) {
  std::vector<std::vector<llvm::Value*>> stat_vals(static_cast<size_t>(mr));  // per row: its kNV vectors
  llvm::Value* out_rows = ir.at(b, out, b.CreateAdd(b.CreateMul(g, c64(b, d.out_g)), b.CreateMul(row, c64(b, d.out_row))));
  llvm::Value* bias_rows = bias ? ir.at(b, bias, b.CreateAdd(b.CreateMul(g, c64(b, d.rows)), row)) : nullptr;
  for (int64_t v = 0; v < kNV; ++v) {
    std::vector<llvm::Value*> run_base, run_mask;
    llvm::Value *index = nullptr, *mask = nullptr;
    if (c.runs > 0) {
      llvm::Value* vec = b.CreateAdd(b.CreateMul(b.CreateSub(panel, c64(b, c.first_panel)), c64(b, kNV)), c64(b, v));
      for (int64_t r = 0; r < c.runs; ++r) {
        llvm::Value* at = b.CreateAdd(b.CreateMul(vec, c64(b, c.runs)), c64(b, r));
        run_base.push_back(b.CreateSExt(ir.load_scalar(b, c.run_base, at), b.getInt64Ty()));
        run_mask.push_back(b.CreateBitCast(ir.load_scalar(b, c.run_mask, at), ir.vm));
      }
    } else {
      index = ir.load_vector(b, p.col_off, b.CreateAdd(b.CreateMul(panel, c64(b, kNR)), c64(b, v * kLanes)));
      mask = b.CreateICmpSGE(index, ir.vsplat(b, int64_t{0}));
    }
    for (int64_t r = 0; r < mr; ++r) {
      llvm::Value* val = b.CreateLoad(ir.vf, acc[static_cast<size_t>(r * kNV + v)]);
      if (stat_rows) stat_vals[static_cast<size_t>(r)].push_back(val);
      if (bias_rows) val = b.CreateFAdd(val, b.CreateVectorSplat(kLanes, b.CreateAlignedLoad(ir.f32, ir.at(b, bias_rows, r), llvm::Align(4))));
      llvm::Value* row_ptr = ir.at(b, out_rows, r * d.out_row);
      if (c.runs > 0) {
        for (int64_t k = 0; k < c.runs; ++k)
          b.CreateMaskedStore(val, ir.vptr(b, ir.at(b, row_ptr, run_base[static_cast<size_t>(k)])), llvm::Align(4),
                              run_mask[static_cast<size_t>(k)]);
      } else {
        b.CreateMaskedScatter(val, b.CreateGEP(ir.f32, row_ptr, index), llvm::Align(4), mask);
      }
    }
  }
  if (!stat_rows) return;
  llvm::FastMathFlags reassoc;
  reassoc.setAllowReassoc();
  auto* f64 = b.getDoubleTy();
  for (int64_t r = 0; r < mr; ++r) {
    const auto& vals = stat_vals[static_cast<size_t>(r)];
    std::vector<llvm::Value*> squares;
    for (llvm::Value* v : vals) squares.push_back(b.CreateFMul(v, v));
    int64_t at = r;
    for (llvm::Value* lanes : {tree_sum(b, vals), tree_sum(b, squares)}) {
      auto* sum = llvm::cast<llvm::Instruction>(b.CreateFAddReduce(llvm::ConstantFP::getNegativeZero(ir.f32), lanes));
      sum->setFastMathFlags(reassoc);
      llvm::Value* slot = at_f64(b, stat_rows, c64(b, at));
      b.CreateStore(b.CreateFAdd(b.CreateLoad(f64, slot), b.CreateFPExt(sum, f64)), slot);
      at += RB;
    }
  }
}

// Where direct's offsets need 64 bits: the image's and the output's extents, and A's rows
// rounded up to whole panels.
bool direct_is_wide(const WindowGemm& d) {
  const int64_t extent = d.batch * std::abs(d.in_n) + (d.out_rows * d.in_sh + d.in_h) * d.in_w + d.out_cols * d.in_sw;
  const int64_t out_extent = d.batch * std::abs(d.out_n) + d.rows * std::abs(d.out_row) + (d.out_rows * d.out_sh + 2) * d.out_w + d.out_cols * d.out_sw;
  return std::max({extent, out_extent + kDRows * std::abs(d.out_row), round_up(d.rows, kDRows) * std::abs(d.a_row)}) >= (int64_t{1} << 31);
}

// The im2col path's classes, column blocks and row blocks: at least 4 items per thread where
// the column blocks alone are fewer.
WindowPlan lay_out(const WindowGemm& d, int threads, bool bf16, int64_t K) {
  WindowPlan p;
  window_classes(d, p, /*merge_small=*/true, /*one_class=*/bf16);
  if (bf16 && !p.classes.empty()) p.Kmax = round_up(K, 2) * p.classes.front().block_panels;
  const int64_t blocks = d.groups * p.NBLK;
  if (blocks < 4 * threads) p.MBn = std::min(ceil_div(d.rows, kMR), ceil_div(4 * threads, blocks));
  p.MB = round_up(ceil_div(d.rows, p.MBn), kMR);
  p.MBn = ceil_div(d.rows, p.MB);
  p.items = blocks * p.MBn;
  p.Mfull = d.rows / kMR * kMR;
  p.Mtail = d.rows - p.Mfull;
  return p;
}

// Per-column tables (WindowPlan's in_base, y0, x0, col_off), each class padded to whole panels.
struct Columns {
  std::vector<int64_t> in_base, y0, x0, off;
  bool wide = false;  // the image's or the output's offsets need 64 bits
};

Columns columns(const WindowGemm& d, const WindowPlan& p) {
  const auto padded = static_cast<size_t>(p.NP * kNR);
  Columns t{std::vector<int64_t>(padded, 0), std::vector<int64_t>(padded, std::numeric_limits<int32_t>::min() / 2),
            std::vector<int64_t>(padded, 0), std::vector<int64_t>(padded, -1)};
  int64_t max_abs = 0, in_extent = 0;
  for (const WindowClass& c : p.classes) {
    for (size_t i = 0; i < c.cols.size(); ++i) {
      const auto [n, qh, qw] = c.cols[i];
      const size_t col = static_cast<size_t>(c.first_panel * kNR) + i;
      t.y0[col] = qh * d.in_sh;
      t.x0[col] = qw * d.in_sw;
      t.in_base[col] = n * d.in_n + t.y0[col] * d.in_w + t.x0[col];
      t.off[col] = n * d.out_n + (qh * d.out_sh + d.out_oh) * d.out_w + qw * d.out_sw + d.out_ow;
      max_abs = std::max(max_abs, t.off[col]);
      in_extent = std::max(in_extent, std::abs(t.in_base[col]));
    }
  }
  for (int64_t tap : d.tap_h) in_extent += std::abs(tap) * d.in_w;
  for (int64_t tap : d.tap_w) in_extent += std::abs(tap);
  in_extent += (d.kouter + 1) * std::abs(d.in_c);
  t.wide = std::max(in_extent, max_abs + kLanes) >= (int64_t{1} << 31);
  return t;
}

// The contiguous runs of class c's output vectors: per vector, (output offset of lane 0, lane mask).
std::vector<std::vector<std::pair<int64_t, int64_t>>> output_runs(const WindowClass& c, const std::vector<int64_t>& off) {
  std::vector<std::vector<std::pair<int64_t, int64_t>>> vector_runs(static_cast<size_t>(c.panels * kNV));
  for (size_t v = 0; v < vector_runs.size(); ++v) {
    auto& list = vector_runs[v];
    const size_t first = static_cast<size_t>(c.first_panel * kNR) + v * kLanes;
    for (int64_t l = 0; l < kLanes; ++l) {
      int64_t o = off[first + static_cast<size_t>(l)];
      if (o < 0) continue;
      bool extends = l > 0 && !list.empty() && off[first + static_cast<size_t>(l) - 1] == o - 1;
      if (!extends) list.push_back({o - l, 0});
      list.back().second |= int64_t{1} << l;
    }
  }
  return vector_runs;
}

// p's tables: each class's runs (or, past kMaxRuns per vector, runs = 0: a scatter through
// col_off), then the columns'.
void make_tables(const Ir& ir, Builder& b, const std::string& prefix, WindowPlan& p, const Columns& cols) {
  bool any_scatter = false;
  for (size_t ci = 0; ci < p.classes.size(); ++ci) {
    WindowClass& c = p.classes[ci];
    const auto vector_runs = output_runs(c, cols.off);
    int64_t runs = 0;
    for (const auto& list : vector_runs) runs = std::max(runs, static_cast<int64_t>(list.size()));
    if (runs > kMaxRuns) {
      c.runs = 0;
      any_scatter = true;
      continue;
    }
    c.runs = std::max<int64_t>(runs, 1);
    std::vector<int64_t> base(vector_runs.size() * static_cast<size_t>(c.runs), 0), mask(base.size(), 0);
    for (size_t v = 0; v < vector_runs.size(); ++v)
      for (size_t r = 0; r < vector_runs[v].size(); ++r) {
        base[v * static_cast<size_t>(c.runs) + r] = vector_runs[v][r].first;
        mask[v * static_cast<size_t>(c.runs) + r] = static_cast<int16_t>(static_cast<uint16_t>(vector_runs[v][r].second));
      }
    c.run_base = ir.table(fmt::format("{}.c{}.run_base", prefix, ci), ir.it, base);
    c.run_mask = ir.table(fmt::format("{}.c{}.run_mask", prefix, ci), b.getInt16Ty(), mask);
  }
  p.in_base = ir.table(prefix + ".in_base", ir.it, cols.in_base);
  p.y0 = ir.table(prefix + ".y0", ir.it, cols.y0);
  p.x0 = ir.table(prefix + ".x0", ir.it, cols.x0);
  if (any_scatter) p.col_off = ir.table(prefix + ".col_off", ir.it, cols.off);
}

// What the im2col path's work items share: the problem, its plan, the IR helpers and, under
// bf16, K (the one class's k: taps x kouter).
struct Im2col {
  const WindowGemm& d;
  const WindowPlan& p;
  const Ir& ir;
  bool bf16;
  int64_t K;
};

// Inside the items' parallel loop: its builder, the captured operands (bias and apack, A
// packed in bf16, null when absent), the packed column block and which (group, block) it holds.
struct Im2colLoop {
  const Im2col& w;
  Builder& bb;
  llvm::Value *a, *in, *out, *bias, *apack;
  llvm::Value *bpack, *last;
};

// One item: group g, column block blk (gb: both), rows [row0, full_end) of row block mb, and its
// statistics slot (null without statistics).
struct Im2colItem {
  llvm::Value *mb, *gb, *blk, *g, *row0, *full_end, *slot;
};

// This item's panels [p0, p0 + np) of class c, panel_floats floats each once packed.
struct ClassPanels {
  const WindowClass& c;
  llvm::Value *p0, *np;
  int64_t panel_floats;
};

// Packs the item's panels into bpack unless it holds them already (the previous item had the
// same group and column block).
void pack_panels(const Im2colLoop& l, const Im2colItem& it, const ClassPanels& cp) {
  Builder& bb = l.bb;
  const Ir& ir = l.w.ir;
  emit_if(bb, bb.CreateICmpNE(it.gb, bb.CreateLoad(bb.getInt64Ty(), l.last)), [&] {
    emit_for(bb, "pack.panel", c64(bb, 0), cp.np, c64(bb, 1), [&](llvm::Value* j) {
      llvm::Value* panel = ir.at(bb, l.bpack, bb.CreateMul(j, c64(bb, cp.panel_floats)));
      window_pack(ir, bb, l.w.d, l.w.p, cp.c, l.in, it.g, bb.CreateAdd(cp.p0, j), panel);
      if (l.w.bf16) panel_to_bf16(ir, bb, panel, l.w.K);
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
    bb.CreateStore(it.gb, l.last);
  });
}

// Rows [row, row + mr) against each of the item's panels: the k loop, then the stores.
void row_block(const Im2colLoop& l, const Im2colItem& it, const ClassPanels& cp, int64_t mr, llvm::Value* row) {
  Builder& bb = l.bb;
  const Ir& ir = l.w.ir;
  const WindowGemm& d = l.w.d;
  emit_for(bb, "panel", c64(bb, 0), cp.np, c64(bb, 1), [&](llvm::Value* j) {
    auto acc = make_acc(ir, bb, mr);
    llvm::Value* bp = cp.panel_floats > 0 ? ir.at(bb, l.bpack, bb.CreateMul(j, c64(bb, cp.panel_floats))) : nullptr;
    if (l.w.bf16) {
      llvm::Value* a_rows = bb.CreateGEP(bb.getInt32Ty(), bb.CreateBitCast(l.apack, bb.getInt32Ty()->getPointerTo()),
                                         bb.CreateMul(bb.CreateAdd(bb.CreateMul(it.g, c64(bb, d.rows)), row), c64(bb, ceil_div(l.w.K, 2))));
      bf16_kloop(ir, bb, l.w.K, mr, a_rows, bp, acc);
    } else {
      window_kloop(ir, bb, d, cp.c, mr, l.a, it.g, row, bp, acc);
    }
    llvm::Value* stat_rows = it.slot ? at_f64(bb, it.slot, bb.CreateSub(row, it.row0)) : nullptr;
    window_store(ir, bb, d, l.w.p, cp.c, mr, l.bias, l.out, it.g, row, bb.CreateAdd(cp.p0, j), acc, stat_rows, l.w.p.MB);
  }, LoopHints{.no_vectorize = true, .no_unroll = true});
}

// The item's part of class c: its panels packed, then its full row blocks and the tail.
void run_class(const Im2colLoop& l, const Im2colItem& it, const WindowClass& c) {
  Builder& bb = l.bb;
  const WindowPlan& p = l.w.p;
  llvm::Value* local = bb.CreateSub(it.blk, c64(bb, c.first_block));
  llvm::Value* p0 = bb.CreateAdd(c64(bb, c.first_panel), bb.CreateMul(local, c64(bb, c.block_panels)));
  llvm::Value* np = min64(bb, c64(bb, c.block_panels), bb.CreateSub(c64(bb, c.first_panel + c.panels), p0));
  const ClassPanels cp{c, p0, np, (l.w.bf16 ? round_up(l.w.K, 2) : c.T * l.w.d.kouter) * kNR};
  if (cp.panel_floats > 0) pack_panels(l, it, cp);
  if (p.Mfull > 0)
    emit_for(bb, "rows", it.row0, it.full_end, c64(bb, kMR), [&](llvm::Value* row) { row_block(l, it, cp, kMR, row); },
             LoopHints{.no_vectorize = true, .no_unroll = true});
  if (p.Mtail > 0) {
    auto tail = [&] { row_block(l, it, cp, p.Mtail, c64(bb, p.Mfull)); };
    if (p.MBn == 1) tail();
    else emit_if(bb, bb.CreateICmpEQ(it.mb, c64(bb, p.MBn - 1)), tail);
  }
}

// The window GEMM's operands: A, the image, the bias and statistics (null when absent), C.
struct Operands {
  llvm::Value *a, *in, *bias, *out, *stats;
};

// Columns in lanes: per item (a row block of a column block of a group) each class's panels
// gathered from the image into bpack, then multiplied by blocks of kMR rows.
void emit_im2col(KernelBody& k, const WindowGemm& d, const Operands& o, const std::string& tag) {
  Builder& b = k.b;
  const bool bf16 = k.kernel.operands == plan::Precision::Bf16;
  const int64_t K = static_cast<int64_t>(d.tap_a.size()) * d.kouter;  // bf16: the one class's
  WindowPlan p = lay_out(d, std::max(1, k.options.threads), bf16, K);

  // Per-column tables, and the contiguous runs of each class's output vectors.
  const Columns cols = columns(d, p);
  Ir ir(k.module, cols.wide);
  const std::string prefix = unique_prefix(b, tag);
  make_tables(ir, b, prefix, p, cols);

  // Statistics: an item owns rows [mb*MB, mb*MB + MB) of its column block.
  RowStats st;
  if (o.stats) st = row_stats(ir, b, p.items, p.MB, p.NBLK * p.MBn, 1, p.MBn, p.NBLK);
  llvm::Value* apack = bf16 ? pack_a_bf16(ir, b, k.pool, prefix, d, K, o.a) : nullptr;
  std::vector<llvm::Value*> captured{o.a, o.in, o.out};
  if (o.bias) captured.push_back(o.bias);
  if (apack) captured.push_back(apack);
  if (st.partials) captured.push_back(st.partials);
  const Im2col w{d, p, ir, bf16, K};
  emit_parallel_for(b, k.pool, prefix, c64(b, p.items), captured,
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    llvm::Value* partials = st.partials ? cap.back() : nullptr;
    llvm::Value* bpack = p.Kmax > 0 ? ir.alloc(bb, p.Kmax * kNR * 4) : nullptr;  // one column block
    llvm::Value* last = ir.slot(bb, bb.getInt64Ty());
    bb.CreateStore(c64(bb, -1), last);
    const Im2colLoop l{w, bb, cap[0], cap[1], cap[2], o.bias ? cap[3] : nullptr, apack ? cap[o.bias ? 4 : 3] : nullptr, bpack, last};
    emit_for(bb, "item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      llvm::Value* mb = bb.CreateURem(item, c64(bb, p.MBn));
      llvm::Value* gb = bb.CreateUDiv(item, c64(bb, p.MBn));
      llvm::Value* blk = bb.CreateURem(gb, c64(bb, p.NBLK));
      llvm::Value* g = bb.CreateUDiv(gb, c64(bb, p.NBLK));
      llvm::Value* row0 = bb.CreateMul(mb, c64(bb, p.MB));
      llvm::Value* full_end = p.MBn == 1 ? c64(bb, p.Mfull) : min64(bb, bb.CreateAdd(row0, c64(bb, p.MB)), c64(bb, p.Mfull));
      llvm::Value* slot = partials ? at_f64(bb, partials, bb.CreateMul(item, c64(bb, 2 * p.MB))) : nullptr;
      if (slot) bb.CreateMemSet(slot, bb.getInt8(0), c64(bb, 2 * p.MB * 8), llvm::MaybeAlign(8));
      const Im2colItem it{mb, gb, blk, g, row0, full_end, slot};
      for (const WindowClass& c : p.classes) {
        if (p.classes.size() == 1) run_class(l, it, c);
        else emit_if(bb, bb.CreateICmpULT(bb.CreateSub(blk, c64(bb, c.first_block)), c64(bb, c.blocks)), [&] { run_class(l, it, c); });
      }
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
    if (bpack) ir.release(bb, bpack);
  });
  if (apack) ir.release(b, apack);
  if (st.partials) finalize_row_stats(ir, b, d, st, o.bias, o.stats);
}

}  // namespace

void emit_window_gemm(KernelBody& k, const WindowGemm& d, llvm::Value* a, llvm::Value* in, llvm::Value* bias,
                      llvm::Value* out, llvm::Value* stats, const std::string& tag) {
  Builder& b = k.b;
  if (static_cast<int64_t>(d.tap_a.size()) != static_cast<int64_t>(d.tap_h.size() * d.tap_w.size()))
    throw std::logic_error("WindowGemm: tap_a does not match the taps");
  if (d.batch * d.out_rows * d.out_cols == 0 || d.rows == 0 || d.groups == 0) return;
  // Under bf16 both formulations multiply bf16 pairs along k (vdpbf16ps); the im2col path
  // converts its packed panels, with one class of all taps (its weights in one k order).
  const bool bf16 = k.kernel.operands == plan::Precision::Bf16;
  if (d.in_bf16 && !bf16) throw std::logic_error("WindowGemm: a bf16 image operand needs bf16 operands");
  const char* force = std::getenv("RESNETC_CONV_PATH");  // "amx", "direct" or "im2col": for tests and benchmarks
  // bf16 on AMX tiles wherever the shape and the host allow, unless another path is forced.
  if (bf16 && (!force || std::string_view(force) == "amx") && amx_fits(d) && amx_ready())
    return emit_amx(k, d, a, in, bias, out, stats, unique_prefix(b, tag));
  // Rows in lanes ("direct") packs A once (rows x k) and scatters its outputs; columns in
  // lanes (im2col) gathers the image operand (columns x k) for every block of rows. Direct
  // wins unless there are few columns for many rows (ResNet's last stages on small images),
  // where packing all of A costs more than the convolution saves (measured with
  // bench/conv_kernels on AVX-512, both ways forced by RESNETC_CONV_PATH).
  WindowPlan exact;
  window_classes(d, exact, /*merge_small=*/false);
  const int64_t cols = d.batch * d.out_rows * d.out_cols;
  const bool forced = force && (std::string_view(force) == "direct" || std::string_view(force) == "im2col");
  const bool use_direct = forced ? std::string_view(force) == "direct" : cols * 4 > d.rows;
  if (use_direct) return emit_direct(k, d, exact, a, in, bias, out, stats, unique_prefix(b, tag), direct_is_wide(d));
  emit_im2col(k, d, Operands{a, in, bias, out, stats}, tag);
}

}  // namespace resnetc::codegen::llvm_backend
