// WindowGemm (gemm.h) with rows in vector lanes: the "direct" formulation.
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "compiler/codegen/llvm/emit/gemm_internal.h"

namespace resnetc::codegen::llvm_backend::gemm_internal {
namespace {

// WindowGemm, rows in vector lanes ("direct"): out[g][rows r..r+32][col] for 8 columns at a
// time, broadcasting the image operand straight from the input (no im2col: every tap of a
// class is inside the image for all of its columns) against A packed once per call as
// [g][32-row panel][kc][tap][32]. Stores are scatters (rows are out_row apart).

struct DirectPlan {
  int64_t RPn = 0, T = 0, groups_total = 0, items = 0;
  struct Class {
    int64_t h0, h1, w0, w1;
    int64_t first_col, blocks, first_group, groups;
    int64_t col_end;  // first_col + its columns (the padding to whole microkernels excluded)
  };
  std::vector<Class> classes;
  llvm::GlobalVariable* col_base = nullptr;  // per column: n*in_n + qh*in_sh*in_w + qw*in_sw
  llvm::GlobalVariable* col_off = nullptr;   // per column: output offset (group and row excluded)
  llvm::GlobalVariable* contiguous = nullptr;  // per 8 columns: i8 1 when their outputs are consecutive
};

// A direct work item's running sums and squares of its 32 rows (kNV vectors each, in float: an
// item has at most kDGroup * kDC columns), and the end of its class's columns (the padding
// past it repeats the last column).
struct DirectStats {
  std::vector<llvm::Value*> sums, squares;  // allocas
  llvm::Value* col_end = nullptr;
};

// With h0v/h1v (runtime tap rows [h0v, h1v), taps of a row unrolled) instead of c.h0/c.h1 (every tap
// unrolled): one code for all classes that share a tap-column range. With stats, adds the
// block's row sums and squares to them. With `dot` (vdpbf16ps), A and the image operand hold
// bf16 pairs along kc (pack_input_pairs, emit_direct's A pack) and each kc step of d is a pair.
void direct_micro(const Ir& ir, Builder& b, const WindowGemm& d, const DirectPlan& p, const DirectPlan::Class& c,
                  llvm::Value* apanel, llvm::Value* in_g, llvm::Value* bias, llvm::Value* out_g, llvm::Value* rp,
                  llvm::Value* g, llvm::Value* col0, const DirectStats* stats, llvm::Function* dot,
                  llvm::Value* h0v = nullptr, llvm::Value* h1v = nullptr) {
  const auto TW = static_cast<int64_t>(d.tap_w.size());
  std::vector<llvm::Value*> base(kDC);
  for (int64_t r = 0; r < kDC; ++r)
    base[static_cast<size_t>(r)] = ir.at(b, in_g, b.CreateSExt(ir.load_scalar(b, p.col_base, b.CreateAdd(col0, c64(b, r))), b.getInt64Ty()));
  auto acc = make_acc(ir, b, kDC);
  for (auto* slot : acc) b.CreateStore(ir.fzero(), slot);
  auto* vi32 = llvm::FixedVectorType::get(b.getInt32Ty(), kLanes);
  // One tap row: taps (th, tw) for tw in [c.w0, c.w1), th and the input row offset as Values.
  auto tap_row = [&](llvm::Value* ap, llvm::Value* koff, llvm::Value* th, llvm::Value* row_off) {
    std::vector<llvm::Value*> s(acc.size());
    for (size_t i = 0; i < acc.size(); ++i) s[i] = b.CreateLoad(ir.vf, acc[i]);
    llvm::Value* ap_row = ir.at(b, ap, b.CreateMul(th, c64(b, TW * kDRows)));
    llvm::Value* in_off = b.CreateAdd(koff, row_off);
    for (int64_t tw = c.w0; tw < c.w1; ++tw) {
      const int64_t toff = d.tap_w[static_cast<size_t>(tw)];
      llvm::Value* av[kNV];
      for (int64_t v = 0; v < kNV; ++v) av[v] = ir.vload(b, ir.at(b, ap_row, tw * kDRows + v * kLanes), 64);
      if (dot)
        for (int64_t v = 0; v < kNV; ++v) av[v] = b.CreateBitCast(av[v], vi32);
      for (int64_t r = 0; r < kDC; ++r) {
        llvm::Value* x_at = ir.at(b, ir.at(b, base[static_cast<size_t>(r)], in_off), toff);
        if (dot) x_at = b.CreateBitCast(x_at, b.getInt32Ty()->getPointerTo());
        llvm::Value* x = b.CreateAlignedLoad(dot ? b.getInt32Ty() : ir.f32, x_at, llvm::Align(4));
        llvm::Value* splat = b.CreateVectorSplat(kLanes, x);
        for (int64_t v = 0; v < kNV; ++v) {
          auto i = static_cast<size_t>(r * kNV + v);
          s[i] = dot ? b.CreateCall(dot, {s[i], splat, av[v]}) : ir.fma(b, splat, av[v], s[i]);
        }
      }
    }
    for (size_t i = 0; i < acc.size(); ++i) b.CreateStore(s[i], acc[i]);
  };
  const int64_t T = (c.h1 - c.h0) * (c.w1 - c.w0);
  if ((h0v || T > 0) && c.w1 > c.w0 && d.kouter > 0) {
    LoopHints hints{.no_vectorize = true};
    if (!h0v && T == 1) hints.unroll = 4; else hints.no_unroll = true;
    emit_for(b, "dkc", 0, d.kouter, 1, [&](llvm::Value* kc) {
      llvm::Value* ap = ir.at(b, apanel, b.CreateMul(kc, c64(b, p.T * kDRows)));
      llvm::Value* koff = b.CreateMul(kc, c64(b, d.in_c));
      if (h0v) {
        // tap_h is affine in th (consecutive kernel rows): tap_h[th] = tap_h[0] + th * step.
        const int64_t step = d.tap_h.size() > 1 ? d.tap_h[1] - d.tap_h[0] : 0;
        emit_for(b, "th", h0v, h1v, c64(b, 1), [&](llvm::Value* th) {
          llvm::Value* row_off = b.CreateMul(b.CreateAdd(c64(b, d.tap_h[0]), b.CreateMul(th, c64(b, step))), c64(b, d.in_w));
          tap_row(ap, koff, th, row_off);
        }, LoopHints{.no_vectorize = true, .no_unroll = true});
      } else {
        for (int64_t th = c.h0; th < c.h1; ++th)
          tap_row(ap, koff, c64(b, th), c64(b, d.tap_h[static_cast<size_t>(th)] * d.in_w));
      }
    }, hints);
  }
  // Epilogue. Where the 8 columns are consecutive outputs and all 32 rows exist, transpose
  // the 8 x 16 blocks in registers and store 8 floats per row; else masked scatters (rows
  // are out_row apart).
  std::vector<llvm::Value*> vals(acc.size());
  for (int64_t v = 0; v < kNV; ++v) {
    llvm::Value* rows = b.CreateAdd(ir.vsplat(b, b.CreateAdd(b.CreateMul(rp, c64(b, kDRows)), c64(b, v * kLanes))), ir.iota());
    llvm::Value* mask = b.CreateICmpSLT(rows, ir.vsplat(b, d.rows));
    llvm::Value* bias_v = nullptr;
    if (bias) {
      llvm::Value* first = b.CreateAdd(b.CreateMul(g, c64(b, d.rows)), b.CreateAdd(b.CreateMul(rp, c64(b, kDRows)), c64(b, v * kLanes)));
      bias_v = b.CreateMaskedLoad(ir.vf, ir.vptr(b, ir.at(b, bias, first)), llvm::Align(4), mask, ir.fzero());
    }
    for (int64_t r = 0; r < kDC; ++r) {
      auto i = static_cast<size_t>(r * kNV + v);
      vals[i] = b.CreateLoad(ir.vf, acc[i]);
      if (bias_v) vals[i] = b.CreateFAdd(vals[i], bias_v);
    }
  }
  if (stats) {
    // Before the bias (see RowStats). Rows past d.rows hold zeros (A is zero-padded), which
    // finalize never reads.
    for (int64_t v = 0; v < kNV; ++v) {
      std::vector<llvm::Value*> cols, squares;
      for (int64_t r = 0; r < kDC; ++r) {
        llvm::Value* val = b.CreateLoad(ir.vf, acc[static_cast<size_t>(r * kNV + v)]);
        if (r > 0)  // column 0 is always real: a class's padding is under kDC columns
          val = b.CreateSelect(b.CreateICmpSLT(b.CreateAdd(col0, c64(b, r)), stats->col_end), val, ir.fzero());
        cols.push_back(val);
        squares.push_back(b.CreateFMul(val, val));
      }
      auto vs = static_cast<size_t>(v);
      b.CreateStore(b.CreateFAdd(b.CreateLoad(ir.vf, stats->sums[vs]), tree_sum(b, cols)), stats->sums[vs]);
      b.CreateStore(b.CreateFAdd(b.CreateLoad(ir.vf, stats->squares[vs]), tree_sum(b, squares)), stats->squares[vs]);
    }
  }
  llvm::Value* off0 = b.CreateSExt(ir.load_scalar(b, p.col_off, col0), b.getInt64Ty());
  llvm::Value* contiguous = b.CreateICmpNE(ir.load_scalar(b, p.contiguous, b.CreateUDiv(col0, c64(b, kDC))), b.getInt8(0));
  if (d.rows % kDRows != 0) contiguous = b.CreateAnd(contiguous, b.CreateICmpSLT(rp, c64(b, p.RPn - 1)));
  llvm::Function* fn = b.GetInsertBlock()->getParent();
  auto* fast = llvm::BasicBlock::Create(b.getContext(), "store.rows", fn);
  auto* slow = llvm::BasicBlock::Create(b.getContext(), "store.scatter", fn);
  auto* join = llvm::BasicBlock::Create(b.getContext(), "store.done", fn);
  b.CreateCondBr(contiguous, fast, slow);
  b.SetInsertPoint(fast);
  {
    llvm::Value* out_c = ir.at(b, out_g, off0);
    auto* v8 = llvm::FixedVectorType::get(ir.f32, kDC);
    for (int64_t v = 0; v < kNV; ++v) {
      llvm::Value* a[kDC];
      for (int64_t r = 0; r < kDC; ++r) a[r] = vals[static_cast<size_t>(r * kNV + v)];
      std::vector<llvm::Value*> rows = transpose8x16(b, a);
      for (int64_t l = 0; l < kLanes; ++l) {
        llvm::Value* r_index = b.CreateAdd(b.CreateMul(rp, c64(b, kDRows)), c64(b, v * kLanes + l));
        llvm::Value* dst = ir.at(b, out_c, b.CreateMul(r_index, c64(b, d.out_row)));
        b.CreateAlignedStore(rows[static_cast<size_t>(l)], b.CreateBitCast(dst, v8->getPointerTo()), llvm::Align(4));
      }
    }
  }
  b.CreateBr(join);
  b.SetInsertPoint(slow);
  for (int64_t v = 0; v < kNV; ++v) {
    llvm::Value* rows = b.CreateAdd(ir.vsplat(b, b.CreateAdd(b.CreateMul(rp, c64(b, kDRows)), c64(b, v * kLanes))), ir.iota());
    llvm::Value* mask = b.CreateICmpSLT(rows, ir.vsplat(b, d.rows));
    llvm::Value* row_off = b.CreateMul(rows, ir.vsplat(b, d.out_row));
    for (int64_t r = 0; r < kDC; ++r) {
      llvm::Value* off = ir.load_scalar(b, p.col_off, b.CreateAdd(col0, c64(b, r)));
      llvm::Value* index = b.CreateAdd(row_off, ir.vsplat(b, off));
      b.CreateMaskedScatter(vals[static_cast<size_t>(r * kNV + v)], b.CreateGEP(ir.f32, out_g, index), llvm::Align(4), mask);
    }
  }
  b.CreateBr(join);
  b.SetInsertPoint(join);
}

}  // namespace

void emit_direct(KernelBody& k, const WindowGemm& given, const WindowPlan& classes, llvm::Value* a, llvm::Value* in,
                 llvm::Value* bias, llvm::Value* out, llvm::Value* stats, const std::string& prefix, bool wide) {
  Builder& b = k.b;
  Ir ir(k.module, wide);
  // bf16: kc runs over pairs, both operands packed as bf16 pairs (the image operand once per
  // call, before the columns' offsets are taken from its strides).
  const bool bf16 = k.kernel.operands == plan::Precision::Bf16;
  const WindowGemm d = bf16 ? paired_window(given) : given;
  llvm::Function* dot = bf16 ? llvm::Intrinsic::getDeclaration(&k.module, llvm::Intrinsic::x86_avx512bf16_dpbf16ps_512) : nullptr;
  llvm::Value* in_pairs = bf16 ? pack_input_pairs(ir, b, k.pool, prefix, given, in) : nullptr;
  if (in_pairs) in = in_pairs;
  DirectPlan p;
  p.RPn = ceil_div(d.rows, kDRows);
  p.T = static_cast<int64_t>(d.tap_h.size() * d.tap_w.size());
  std::vector<int64_t> col_base, col_off;
  int64_t group = 0;
  for (const WindowClass& wc : classes.classes) {
    const auto first = static_cast<int64_t>(col_base.size());
    DirectPlan::Class c{wc.h0, wc.h1, wc.w0, wc.w1, first, 0, group, 0, first + static_cast<int64_t>(wc.cols.size())};
    for (const auto& [n, qh, qw] : wc.cols) {
      col_base.push_back(n * d.in_n + qh * d.in_sh * d.in_w + qw * d.in_sw);
      col_off.push_back(n * d.out_n + (qh * d.out_sh + d.out_oh) * d.out_w + qw * d.out_sw + d.out_ow);
    }
    // Pad to whole microkernels with copies of the last column (they store the same values).
    while ((col_base.size() - static_cast<size_t>(c.first_col)) % kDC != 0) {
      col_base.push_back(col_base.back());
      col_off.push_back(col_off.back());
    }
    c.blocks = (static_cast<int64_t>(col_base.size()) - c.first_col) / kDC;
    c.groups = ceil_div(c.blocks, kDGroup);
    group += c.groups;
    p.classes.push_back(c);
  }
  p.groups_total = group;
  p.col_base = ir.table(prefix + ".col_base", ir.it, col_base);
  p.col_off = ir.table(prefix + ".col_off", ir.it, col_off);
  {
    std::vector<int64_t> contiguous(col_off.size() / kDC, 1);
    for (size_t blk = 0; blk < contiguous.size(); ++blk)
      for (size_t j = 1; j < kDC; ++j)
        if (col_off[blk * kDC + j] != col_off[blk * kDC] + static_cast<int64_t>(j)) contiguous[blk] = 0;
    p.contiguous = ir.table(prefix + ".contiguous", b.getInt8Ty(), contiguous);
  }

  // Every tap of every class unrolled, unless that makes too much code (7x7 kernels on small
  // images have dozens of classes): then the classes come from tables and the kernel rows of
  // a class are a loop, with one code per range of kernel columns.
  int64_t unrolled = 0;
  for (const DirectPlan::Class& c : p.classes) unrolled += (c.h1 - c.h0) * (c.w1 - c.w0);
  bool affine = true;  // rolling computes tap_h[th] = tap_h[0] + th * step
  for (size_t i = 2; i < d.tap_h.size(); ++i) affine = affine && d.tap_h[i] - d.tap_h[i - 1] == d.tap_h[1] - d.tap_h[0];
  const bool rolled = affine && unrolled > kDirectUnrollBudget;
  std::vector<std::pair<int64_t, int64_t>> wranges;
  llvm::GlobalVariable *t_grp_cls = nullptr, *t_first_group = nullptr, *t_blocks = nullptr, *t_first_col = nullptr,
                       *t_col_end = nullptr, *t_h0 = nullptr, *t_h1 = nullptr, *t_wg = nullptr;
  if (rolled) {
    std::vector<int64_t> grp_cls, first_group, blocks, first_col, col_end, h0, h1, wg;
    for (size_t ci = 0; ci < p.classes.size(); ++ci) {
      const DirectPlan::Class& c = p.classes[ci];
      for (int64_t i = 0; i < c.groups; ++i) grp_cls.push_back(static_cast<int64_t>(ci));
      first_group.push_back(c.first_group);
      blocks.push_back(c.blocks);
      first_col.push_back(c.first_col);
      col_end.push_back(c.col_end);
      h0.push_back(c.h0);
      h1.push_back(c.h1);
      auto it = std::find(wranges.begin(), wranges.end(), std::pair<int64_t, int64_t>{c.w0, c.w1});
      if (it == wranges.end()) it = wranges.insert(wranges.end(), {c.w0, c.w1});
      wg.push_back(it - wranges.begin());
    }
    t_grp_cls = ir.table(prefix + ".grp_cls", ir.it, grp_cls);
    t_first_group = ir.table(prefix + ".first_group", ir.it, first_group);
    t_blocks = ir.table(prefix + ".blocks", ir.it, blocks);
    t_first_col = ir.table(prefix + ".first_col", ir.it, first_col);
    if (stats) t_col_end = ir.table(prefix + ".col_end", ir.it, col_end);
    t_h0 = ir.table(prefix + ".h0", ir.it, h0);
    t_h1 = ir.table(prefix + ".h1", ir.it, h1);
    t_wg = ir.table(prefix + ".wg", ir.it, wg);
  }

  // A, packed: [g][rp][kc][tap][32 rows], zero past the last row; under bf16, kc a pair and
  // each element a word of two bf16 (the odd kc's zero past an odd kouter).
  const int64_t panel_floats = d.kouter * p.T * kDRows;
  llvm::Value* apack = ir.alloc(b, std::max<int64_t>(1, d.groups * p.RPn * panel_floats) * 4);
  if (panel_floats > 0) {
    emit_parallel_for(b, k.pool, prefix + ".pack", c64(b, d.groups * p.RPn * d.kouter), {a, apack},
                      [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
      emit_for(bb, "row", begin, end, c64(bb, 1), [&](llvm::Value* item) {
        llvm::Value* kc = bb.CreateURem(item, c64(bb, d.kouter));
        llvm::Value* gr = bb.CreateUDiv(item, c64(bb, d.kouter));
        llvm::Value* rp = bb.CreateURem(gr, c64(bb, p.RPn));
        llvm::Value* g = bb.CreateUDiv(gr, c64(bb, p.RPn));
        llvm::Value* src = ir.at(bb, cap[0], bb.CreateAdd(bb.CreateMul(g, c64(bb, d.a_g)), bb.CreateMul(kc, c64(bb, d.a_kc))));
        llvm::Value* dst = ir.at(bb, cap[1], bb.CreateMul(item, c64(bb, p.T * kDRows)));
        for (int64_t v = 0; v < kNV; ++v) {
          llvm::Value* rows = bb.CreateAdd(ir.vsplat(bb, bb.CreateAdd(bb.CreateMul(rp, c64(bb, kDRows)), c64(bb, v * kLanes))), ir.iota());
          llvm::Value* mask = bb.CreateICmpSLT(rows, ir.vsplat(bb, d.rows));
          llvm::Value* index = bb.CreateMul(rows, ir.vsplat(bb, d.a_row));
          llvm::Value* odd_mask = nullptr;
          if (bf16) {
            llvm::Value* has_odd = bb.CreateICmpSLT(bb.CreateAdd(bb.CreateMul(kc, c64(bb, 2)), c64(bb, 1)), c64(bb, given.kouter));
            odd_mask = bb.CreateAnd(mask, bb.CreateVectorSplat(kLanes, has_odd));
          }
          for (int64_t t = 0; t < p.T; ++t) {
            llvm::Value* val = ir.gather(bb, ir.at(bb, src, d.tap_a[static_cast<size_t>(t)]), index, mask);
            if (bf16) {
              llvm::Value* high = round_to_bf16(bb, ir.gather(bb, ir.at(bb, src, given.a_kc + d.tap_a[static_cast<size_t>(t)]), index, odd_mask));
              high = bb.CreateShl(high, bb.CreateVectorSplat(kLanes, bb.getInt32(16)));
              val = bb.CreateBitCast(bb.CreateOr(round_to_bf16(bb, val), high), ir.vf);
            }
            ir.vstore(bb, val, ir.at(bb, dst, t * kDRows + v * kLanes), 64);
          }
        }
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    });
  }

  p.items = d.groups * p.groups_total * p.RPn;
  // Statistics: an item owns its 32-row panel rp over its column group.
  RowStats st;
  if (stats) st = row_stats(ir, b, p.items, kDRows, p.RPn * p.groups_total, p.groups_total, 1, p.groups_total);
  std::vector<llvm::Value*> captured{apack, in, out};
  if (bias) captured.push_back(bias);
  if (st.partials) captured.push_back(st.partials);
  emit_parallel_for(b, k.pool, prefix, c64(b, p.items), captured,
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    llvm::Value* bias_ = bias ? cap[3] : nullptr;
    llvm::Value* partials = st.partials ? cap.back() : nullptr;
    DirectStats ds;
    for (int64_t v = 0; partials && v < kNV; ++v) {
      ds.sums.push_back(ir.slot(bb, ir.vf));
      ds.squares.push_back(ir.slot(bb, ir.vf));
    }
    const DirectStats* stats_ = partials ? &ds : nullptr;
    emit_for(bb, "item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      for (size_t v = 0; v < ds.sums.size(); ++v) {
        bb.CreateStore(ir.fzero(), ds.sums[v]);
        bb.CreateStore(ir.fzero(), ds.squares[v]);
      }
      // Column groups innermost: a thread's consecutive items share the packed row panel.
      llvm::Value* grp = bb.CreateURem(item, c64(bb, p.groups_total));
      llvm::Value* rest = bb.CreateUDiv(item, c64(bb, p.groups_total));
      llvm::Value* rp = bb.CreateURem(rest, c64(bb, p.RPn));
      llvm::Value* g = bb.CreateUDiv(rest, c64(bb, p.RPn));
      llvm::Value* apanel = ir.at(bb, cap[0], bb.CreateMul(bb.CreateAdd(bb.CreateMul(g, c64(bb, p.RPn)), rp), c64(bb, panel_floats)));
      llvm::Value* in_g = ir.at(bb, cap[1], bb.CreateMul(g, c64(bb, d.in_g)));
      llvm::Value* out_g = ir.at(bb, cap[2], bb.CreateMul(g, c64(bb, d.out_g)));
      // The item's slot: [2][32] doubles, sums then squares.
      auto store_stats = [&] {
        if (!partials) return;
        llvm::Value* slot = at_f64(bb, partials, bb.CreateMul(item, c64(bb, 2 * kDRows)));
        auto* v16d = llvm::FixedVectorType::get(bb.getDoubleTy(), kLanes);
        for (int64_t v = 0; v < kNV; ++v)
          for (auto [from, at] : {std::pair{ds.sums[static_cast<size_t>(v)], v * kLanes},
                                  std::pair{ds.squares[static_cast<size_t>(v)], kDRows + v * kLanes}})
            bb.CreateAlignedStore(bb.CreateFPExt(bb.CreateLoad(ir.vf, from), v16d),
                                  bb.CreateBitCast(at_f64(bb, slot, c64(bb, at)), v16d->getPointerTo()), llvm::Align(64));
      };
      if (!rolled) {
        for (const DirectPlan::Class& c : p.classes) {
          auto run_class = [&] {
            llvm::Value* local = bb.CreateSub(grp, c64(bb, c.first_group));
            llvm::Value* blk0 = bb.CreateMul(local, c64(bb, kDGroup));
            llvm::Value* nblk = min64(bb, c64(bb, kDGroup), bb.CreateSub(c64(bb, c.blocks), blk0));
            ds.col_end = c64(bb, c.col_end);
            emit_for(bb, "blk", c64(bb, 0), nblk, c64(bb, 1), [&](llvm::Value* j) {
              llvm::Value* col0 = bb.CreateAdd(c64(bb, c.first_col), bb.CreateMul(bb.CreateAdd(blk0, j), c64(bb, kDC)));
              direct_micro(ir, bb, d, p, c, apanel, in_g, bias_, out_g, rp, g, col0, stats_, dot);
            }, LoopHints{.no_vectorize = true, .no_unroll = true});
          };
          if (p.classes.size() == 1) run_class();
          else emit_if(bb, bb.CreateICmpULT(bb.CreateSub(grp, c64(bb, c.first_group)), c64(bb, c.groups)), run_class);
        }
        store_stats();
        return;
      }
      // Rolled: the class of this group from the tables, one code per tap-column range.
      auto load = [&](llvm::GlobalVariable* t, llvm::Value* i) { return bb.CreateSExt(ir.load_scalar(bb, t, i), bb.getInt64Ty()); };
      llvm::Value* ci = load(t_grp_cls, grp);
      llvm::Value* local = bb.CreateSub(grp, load(t_first_group, ci));
      llvm::Value* blk0 = bb.CreateMul(local, c64(bb, kDGroup));
      llvm::Value* nblk = min64(bb, c64(bb, kDGroup), bb.CreateSub(load(t_blocks, ci), blk0));
      llvm::Value* first_col = load(t_first_col, ci);
      llvm::Value* h0 = load(t_h0, ci);
      llvm::Value* h1 = load(t_h1, ci);
      if (t_col_end) ds.col_end = load(t_col_end, ci);
      llvm::Function* fn = bb.GetInsertBlock()->getParent();
      auto* done = llvm::BasicBlock::Create(bb.getContext(), "wg.done", fn);
      auto* sw = bb.CreateSwitch(load(t_wg, ci), done, static_cast<unsigned>(wranges.size()));
      for (size_t w = 0; w < wranges.size(); ++w) {
        auto* case_block = llvm::BasicBlock::Create(bb.getContext(), "wg", fn, done);
        sw->addCase(llvm::cast<llvm::ConstantInt>(c64(bb, static_cast<int64_t>(w))), case_block);
        bb.SetInsertPoint(case_block);
        DirectPlan::Class c{0, 0, wranges[w].first, wranges[w].second, 0, 0, 0, 0, 0};
        emit_for(bb, "blk", c64(bb, 0), nblk, c64(bb, 1), [&](llvm::Value* j) {
          llvm::Value* col0 = bb.CreateAdd(first_col, bb.CreateMul(bb.CreateAdd(blk0, j), c64(bb, kDC)));
          direct_micro(ir, bb, d, p, c, apanel, in_g, bias_, out_g, rp, g, col0, stats_, dot, h0, h1);
        }, LoopHints{.no_vectorize = true, .no_unroll = true});
        bb.CreateBr(done);
      }
      bb.SetInsertPoint(done);
      store_stats();
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
  ir.release(b, apack);
  if (in_pairs) ir.release(b, in_pairs);
  if (st.partials) finalize_row_stats(ir, b, d, st, bias, stats);
}

}  // namespace resnetc::codegen::llvm_backend::gemm_internal
