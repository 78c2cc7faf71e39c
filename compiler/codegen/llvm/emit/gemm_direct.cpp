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
  int64_t panel = 0;  // floats of a packed A panel: [kc][tap][32 rows]
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

// What the microkernels of one emit_direct share.
struct DirectKernel {
  const Ir& ir;
  const WindowGemm& given;  // the GEMM as given
  const WindowGemm& d;      // as run: under bf16, kc over pairs (paired_window)
  const DirectPlan& p;
  llvm::Function* dot;        // vdpbf16ps under bf16, else null
  const std::string& prefix;  // of the tables' and the parallel loops' names
};

// A work item: the 32-row panel rp of group g over the column group grp, and where its
// operands are.
struct DirectItem {
  llvm::Value *g = nullptr, *rp = nullptr, *grp = nullptr;
  llvm::Value* apanel = nullptr;  // A's packed panel [kc][tap][32]
  llvm::Value *in_g = nullptr, *out_g = nullptr;  // the group's image operand and output
  llvm::Value* bias = nullptr;                    // null: none
  const DirectStats* stats = nullptr;             // null: none
};

// Rows rp*32 + v*16 + [0, 16) as a vector: the lanes of vector v of a 32-row panel.
llvm::Value* panel_rows(const Ir& ir, Builder& b, llvm::Value* rp, int64_t v) {
  return b.CreateAdd(ir.vsplat(b, b.CreateAdd(b.CreateMul(rp, c64(b, kDRows)), c64(b, v * kLanes))), ir.iota());
}

// One microkernel: the item's 32 rows times kDC columns from col0, summed in kDC x kNV vectors
// (accumulate), then stored (store).
class DirectMicro {
 public:
  DirectMicro(const DirectKernel& x, Builder& b, const DirectItem& item, llvm::Value* col0)
      : x_(x), ir_(x.ir), d_(x.d), b_(b), item_(item), col0_(col0), base_(kDC) {
    for (int64_t r = 0; r < kDC; ++r)
      base_[static_cast<size_t>(r)] =
          ir_.at(b, item.in_g, b.CreateSExt(ir_.load_scalar(b, x.p.col_base, b.CreateAdd(col0, c64(b, r))), b.getInt64Ty()));
    acc_ = make_acc(ir_, b, kDC);
    for (auto* slot : acc_) b.CreateStore(ir_.fzero(), slot);
  }

  // The products over k of the taps of class c. With h0v/h1v (runtime tap rows [h0v, h1v),
  // taps of a row unrolled) instead of c.h0/c.h1 (every tap unrolled): one code for all classes
  // that share a tap-column range.
  void accumulate(const DirectPlan::Class& c, llvm::Value* h0v, llvm::Value* h1v) {
    Builder& b = b_;
    const int64_t T = (c.h1 - c.h0) * (c.w1 - c.w0);
    if (!((h0v || T > 0) && c.w1 > c.w0 && d_.kouter > 0)) return;
    LoopHints hints{.no_vectorize = true};
    if (!h0v && T == 1) hints.unroll = 4; else hints.no_unroll = true;
    emit_for(b, "dkc", 0, d_.kouter, 1, [&](llvm::Value* kc) {
      llvm::Value* ap = ir_.at(b, item_.apanel, b.CreateMul(kc, c64(b, x_.p.T * kDRows)));
      llvm::Value* koff = b.CreateMul(kc, c64(b, d_.in_c));
      if (h0v) {
        // tap_h is affine in th (consecutive kernel rows): tap_h[th] = tap_h[0] + th * step.
        const int64_t step = d_.tap_h.size() > 1 ? d_.tap_h[1] - d_.tap_h[0] : 0;
        emit_for(b, "th", h0v, h1v, c64(b, 1), [&](llvm::Value* th) {
          llvm::Value* row_off = b.CreateMul(b.CreateAdd(c64(b, d_.tap_h[0]), b.CreateMul(th, c64(b, step))), c64(b, d_.in_w));
          tap_row(c, ap, koff, th, row_off);
        }, LoopHints{.no_vectorize = true, .no_unroll = true});
      } else {
        for (int64_t th = c.h0; th < c.h1; ++th)
          tap_row(c, ap, koff, c64(b, th), c64(b, d_.tap_h[static_cast<size_t>(th)] * d_.in_w));
      }
    }, hints);
  }

  // The epilogue: the sums plus the bias, the item's statistics (before the bias), the stores.
  void store() {
    const std::vector<llvm::Value*> vals = with_bias();
    if (item_.stats) add_stats();
    store_block(vals);
  }

 private:
  // One tap row: taps (th, tw) for tw in [c.w0, c.w1), th and the input row offset as Values.
  // With `dot` (vdpbf16ps), A and the image operand hold bf16 pairs along kc (pack_input_pairs,
  // pack_a) and each kc step of d is a pair.
  void tap_row(const DirectPlan::Class& c, llvm::Value* ap, llvm::Value* koff, llvm::Value* th, llvm::Value* row_off) {
    Builder& b = b_;
    llvm::Function* dot = x_.dot;
    auto* vi32 = llvm::FixedVectorType::get(b.getInt32Ty(), kLanes);
    const auto TW = static_cast<int64_t>(d_.tap_w.size());
    std::vector<llvm::Value*> s(acc_.size());
    for (size_t i = 0; i < acc_.size(); ++i) s[i] = b.CreateLoad(ir_.vf, acc_[i]);
    llvm::Value* ap_row = ir_.at(b, ap, b.CreateMul(th, c64(b, TW * kDRows)));
    llvm::Value* in_off = b.CreateAdd(koff, row_off);
    for (int64_t tw = c.w0; tw < c.w1; ++tw) {
      const int64_t toff = d_.tap_w[static_cast<size_t>(tw)];
      llvm::Value* av[kNV];
      for (int64_t v = 0; v < kNV; ++v) av[v] = ir_.vload(b, ir_.at(b, ap_row, tw * kDRows + v * kLanes), 64);
      if (dot)
        for (int64_t v = 0; v < kNV; ++v) av[v] = b.CreateBitCast(av[v], vi32);
      for (int64_t r = 0; r < kDC; ++r) {
        llvm::Value* x_at = ir_.at(b, ir_.at(b, base_[static_cast<size_t>(r)], in_off), toff);
        if (dot) x_at = b.CreateBitCast(x_at, b.getInt32Ty()->getPointerTo());
        llvm::Value* x = b.CreateAlignedLoad(dot ? b.getInt32Ty() : ir_.f32, x_at, llvm::Align(4));
        llvm::Value* splat = b.CreateVectorSplat(kLanes, x);
        for (int64_t v = 0; v < kNV; ++v) {
          auto i = static_cast<size_t>(r * kNV + v);
          s[i] = dot ? b.CreateCall(dot, {s[i], splat, av[v]}) : ir_.fma(b, splat, av[v], s[i]);
        }
      }
    }
    for (size_t i = 0; i < acc_.size(); ++i) b.CreateStore(s[i], acc_[i]);
  }

  std::vector<llvm::Value*> with_bias() {
    Builder& b = b_;
    std::vector<llvm::Value*> vals(acc_.size());
    for (int64_t v = 0; v < kNV; ++v) {
      llvm::Value* rows = panel_rows(ir_, b, item_.rp, v);
      llvm::Value* mask = b.CreateICmpSLT(rows, ir_.vsplat(b, d_.rows));
      llvm::Value* bias_v = nullptr;
      if (item_.bias) {
        llvm::Value* first =
            b.CreateAdd(b.CreateMul(item_.g, c64(b, d_.rows)), b.CreateAdd(b.CreateMul(item_.rp, c64(b, kDRows)), c64(b, v * kLanes)));
        bias_v = b.CreateMaskedLoad(ir_.vf, ir_.vptr(b, ir_.at(b, item_.bias, first)), llvm::Align(4), mask, ir_.fzero());
      }
      for (int64_t r = 0; r < kDC; ++r) {
        auto i = static_cast<size_t>(r * kNV + v);
        vals[i] = b.CreateLoad(ir_.vf, acc_[i]);
        if (bias_v) vals[i] = b.CreateFAdd(vals[i], bias_v);
      }
    }
    return vals;
  }

  // Adds the block's row sums and squares to the item's. Before the bias (see RowStats). Rows
  // past d.rows hold zeros (A is zero-padded), which finalize never reads.
  void add_stats() {
    Builder& b = b_;
    const DirectStats& stats = *item_.stats;
    for (int64_t v = 0; v < kNV; ++v) {
      std::vector<llvm::Value*> cols, squares;
      for (int64_t r = 0; r < kDC; ++r) {
        llvm::Value* val = b.CreateLoad(ir_.vf, acc_[static_cast<size_t>(r * kNV + v)]);
        if (r > 0)  // column 0 is always real: a class's padding is under kDC columns
          val = b.CreateSelect(b.CreateICmpSLT(b.CreateAdd(col0_, c64(b, r)), stats.col_end), val, ir_.fzero());
        cols.push_back(val);
        squares.push_back(b.CreateFMul(val, val));
      }
      auto vs = static_cast<size_t>(v);
      b.CreateStore(b.CreateFAdd(b.CreateLoad(ir_.vf, stats.sums[vs]), tree_sum(b, cols)), stats.sums[vs]);
      b.CreateStore(b.CreateFAdd(b.CreateLoad(ir_.vf, stats.squares[vs]), tree_sum(b, squares)), stats.squares[vs]);
    }
  }

  // Where the 8 columns are consecutive outputs and all 32 rows exist, transpose the 8 x 16
  // blocks in registers and store 8 floats per row; else masked scatters (rows are out_row apart).
  void store_block(const std::vector<llvm::Value*>& vals) {
    Builder& b = b_;
    const DirectPlan& p = x_.p;
    llvm::Value* off0 = b.CreateSExt(ir_.load_scalar(b, p.col_off, col0_), b.getInt64Ty());
    llvm::Value* contiguous = b.CreateICmpNE(ir_.load_scalar(b, p.contiguous, b.CreateUDiv(col0_, c64(b, kDC))), b.getInt8(0));
    if (d_.rows % kDRows != 0) contiguous = b.CreateAnd(contiguous, b.CreateICmpSLT(item_.rp, c64(b, p.RPn - 1)));
    llvm::Function* fn = b.GetInsertBlock()->getParent();
    auto* fast = llvm::BasicBlock::Create(b.getContext(), "store.rows", fn);
    auto* slow = llvm::BasicBlock::Create(b.getContext(), "store.scatter", fn);
    auto* join = llvm::BasicBlock::Create(b.getContext(), "store.done", fn);
    b.CreateCondBr(contiguous, fast, slow);
    b.SetInsertPoint(fast);
    store_rows(vals, off0);
    b.CreateBr(join);
    b.SetInsertPoint(slow);
    scatter(vals);
    b.CreateBr(join);
    b.SetInsertPoint(join);
  }

  void store_rows(const std::vector<llvm::Value*>& vals, llvm::Value* off0) {
    Builder& b = b_;
    llvm::Value* out_c = ir_.at(b, item_.out_g, off0);
    auto* v8 = llvm::FixedVectorType::get(ir_.f32, kDC);
    for (int64_t v = 0; v < kNV; ++v) {
      llvm::Value* a[kDC];
      for (int64_t r = 0; r < kDC; ++r) a[r] = vals[static_cast<size_t>(r * kNV + v)];
      std::vector<llvm::Value*> rows = transpose8x16(b, a);
      for (int64_t l = 0; l < kLanes; ++l) {
        llvm::Value* r_index = b.CreateAdd(b.CreateMul(item_.rp, c64(b, kDRows)), c64(b, v * kLanes + l));
        llvm::Value* dst = ir_.at(b, out_c, b.CreateMul(r_index, c64(b, d_.out_row)));
        b.CreateAlignedStore(rows[static_cast<size_t>(l)], b.CreateBitCast(dst, v8->getPointerTo()), llvm::Align(4));
      }
    }
  }

  void scatter(const std::vector<llvm::Value*>& vals) {
    Builder& b = b_;
    for (int64_t v = 0; v < kNV; ++v) {
      llvm::Value* rows = panel_rows(ir_, b, item_.rp, v);
      llvm::Value* mask = b.CreateICmpSLT(rows, ir_.vsplat(b, d_.rows));
      llvm::Value* row_off = b.CreateMul(rows, ir_.vsplat(b, d_.out_row));
      for (int64_t r = 0; r < kDC; ++r) {
        llvm::Value* off = ir_.load_scalar(b, x_.p.col_off, b.CreateAdd(col0_, c64(b, r)));
        llvm::Value* index = b.CreateAdd(row_off, ir_.vsplat(b, off));
        b.CreateMaskedScatter(vals[static_cast<size_t>(r * kNV + v)], b.CreateGEP(ir_.f32, item_.out_g, index), llvm::Align(4), mask);
      }
    }
  }

  const DirectKernel& x_;
  const Ir& ir_;
  const WindowGemm& d_;
  Builder& b_;
  const DirectItem& item_;
  llvm::Value* col0_;
  std::vector<llvm::Value*> base_;  // per column: its image operand, group included
  std::vector<llvm::Value*> acc_;
};

void direct_micro(const DirectKernel& x, Builder& b, const DirectItem& item, const DirectPlan::Class& c,
                  llvm::Value* col0, llvm::Value* h0v = nullptr, llvm::Value* h1v = nullptr) {
  DirectMicro micro(x, b, item, col0);
  micro.accumulate(c, h0v, h1v);
  micro.store();
}

// The classes' columns in the order of their microkernels, each class padded to whole ones,
// and their input and output offsets as tables.
DirectPlan plan_columns(const Ir& ir, Builder& b, const WindowGemm& d, const WindowPlan& classes,
                        const std::string& prefix) {
  DirectPlan p;
  p.RPn = ceil_div(d.rows, kDRows);
  p.T = static_cast<int64_t>(d.tap_h.size() * d.tap_w.size());
  p.panel = d.kouter * p.T * kDRows;
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
  p.items = d.groups * p.groups_total * p.RPn;
  p.col_base = ir.table(prefix + ".col_base", ir.it, col_base);
  p.col_off = ir.table(prefix + ".col_off", ir.it, col_off);
  std::vector<int64_t> contiguous(col_off.size() / kDC, 1);
  for (size_t blk = 0; blk < contiguous.size(); ++blk)
    for (size_t j = 1; j < kDC; ++j)
      if (col_off[blk * kDC + j] != col_off[blk * kDC] + static_cast<int64_t>(j)) contiguous[blk] = 0;
  p.contiguous = ir.table(prefix + ".contiguous", b.getInt8Ty(), contiguous);
  return p;
}

// Rolled classes: the class of each column group and the classes' fields as tables, the kernel
// rows of a class a loop, and one code per range of kernel columns.
struct RolledClasses {
  bool rolled = false;
  std::vector<std::pair<int64_t, int64_t>> wranges;  // the distinct [w0, w1)
  llvm::GlobalVariable *grp_cls = nullptr, *first_group = nullptr, *blocks = nullptr, *first_col = nullptr,
                       *col_end = nullptr, *h0 = nullptr, *h1 = nullptr, *wg = nullptr;
};

// Every tap of every class unrolled, unless that makes too much code (7x7 kernels on small
// images have dozens of classes): then the classes come from tables and the kernel rows of
// a class are a loop, with one code per range of kernel columns.
RolledClasses roll_classes(const Ir& ir, const WindowGemm& d, const DirectPlan& p, bool stats, const std::string& prefix) {
  int64_t unrolled = 0;
  for (const DirectPlan::Class& c : p.classes) unrolled += (c.h1 - c.h0) * (c.w1 - c.w0);
  bool affine = true;  // rolling computes tap_h[th] = tap_h[0] + th * step
  for (size_t i = 2; i < d.tap_h.size(); ++i) affine = affine && d.tap_h[i] - d.tap_h[i - 1] == d.tap_h[1] - d.tap_h[0];
  RolledClasses r;
  r.rolled = affine && unrolled > kDirectUnrollBudget;
  if (!r.rolled) return r;
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
    auto it = std::find(r.wranges.begin(), r.wranges.end(), std::pair<int64_t, int64_t>{c.w0, c.w1});
    if (it == r.wranges.end()) it = r.wranges.insert(r.wranges.end(), {c.w0, c.w1});
    wg.push_back(it - r.wranges.begin());
  }
  r.grp_cls = ir.table(prefix + ".grp_cls", ir.it, grp_cls);
  r.first_group = ir.table(prefix + ".first_group", ir.it, first_group);
  r.blocks = ir.table(prefix + ".blocks", ir.it, blocks);
  r.first_col = ir.table(prefix + ".first_col", ir.it, first_col);
  if (stats) r.col_end = ir.table(prefix + ".col_end", ir.it, col_end);
  r.h0 = ir.table(prefix + ".h0", ir.it, h0);
  r.h1 = ir.table(prefix + ".h1", ir.it, h1);
  r.wg = ir.table(prefix + ".wg", ir.it, wg);
  return r;
}

// Packs item (g, rp, kc) of A: its T taps' 32 rows, from a to apack.
void pack_a_item(const DirectKernel& x, Builder& bb, llvm::Value* item, llvm::Value* a, llvm::Value* apack) {
  const Ir& ir = x.ir;
  const WindowGemm& d = x.d;
  const DirectPlan& p = x.p;
  const bool bf16 = x.dot != nullptr;
  llvm::Value* kc = bb.CreateURem(item, c64(bb, d.kouter));
  llvm::Value* gr = bb.CreateUDiv(item, c64(bb, d.kouter));
  llvm::Value* rp = bb.CreateURem(gr, c64(bb, p.RPn));
  llvm::Value* g = bb.CreateUDiv(gr, c64(bb, p.RPn));
  llvm::Value* src = ir.at(bb, a, bb.CreateAdd(bb.CreateMul(g, c64(bb, d.a_g)), bb.CreateMul(kc, c64(bb, d.a_kc))));
  llvm::Value* dst = ir.at(bb, apack, bb.CreateMul(item, c64(bb, p.T * kDRows)));
  for (int64_t v = 0; v < kNV; ++v) {
    llvm::Value* rows = panel_rows(ir, bb, rp, v);
    llvm::Value* mask = bb.CreateICmpSLT(rows, ir.vsplat(bb, d.rows));
    llvm::Value* index = bb.CreateMul(rows, ir.vsplat(bb, d.a_row));
    llvm::Value* odd_mask = nullptr;
    if (bf16) {
      llvm::Value* has_odd = bb.CreateICmpSLT(bb.CreateAdd(bb.CreateMul(kc, c64(bb, 2)), c64(bb, 1)), c64(bb, x.given.kouter));
      odd_mask = bb.CreateAnd(mask, bb.CreateVectorSplat(kLanes, has_odd));
    }
    for (int64_t t = 0; t < p.T; ++t) {
      llvm::Value* val = ir.gather(bb, ir.at(bb, src, d.tap_a[static_cast<size_t>(t)]), index, mask);
      if (bf16) {
        llvm::Value* high = round_to_bf16(bb, ir.gather(bb, ir.at(bb, src, x.given.a_kc + d.tap_a[static_cast<size_t>(t)]), index, odd_mask));
        high = bb.CreateShl(high, bb.CreateVectorSplat(kLanes, bb.getInt32(16)));
        val = bb.CreateBitCast(bb.CreateOr(round_to_bf16(bb, val), high), ir.vf);
      }
      ir.vstore(bb, val, ir.at(bb, dst, t * kDRows + v * kLanes), 64);
    }
  }
}

// A, packed: [g][rp][kc][tap][32 rows], zero past the last row; under bf16, kc a pair and
// each element a word of two bf16 (the odd kc's zero past an odd kouter).
llvm::Value* pack_a(KernelBody& k, const DirectKernel& x, llvm::Value* a) {
  Builder& b = k.b;
  const WindowGemm& d = x.d;
  const DirectPlan& p = x.p;
  llvm::Value* apack = x.ir.alloc(b, std::max<int64_t>(1, d.groups * p.RPn * p.panel) * 4);
  if (p.panel > 0) {
    emit_parallel_for(b, k.pool, x.prefix + ".pack", c64(b, d.groups * p.RPn * d.kouter), {a, apack},
                      [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
      emit_for(bb, "row", begin, end, c64(bb, 1), [&](llvm::Value* item) {
        pack_a_item(x, bb, item, cap[0], cap[1]);
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    });
  }
  return apack;
}

// The unrolled classes: each its own code, run where the item's column group is the class's.
void run_classes(const DirectKernel& x, Builder& bb, const DirectItem& item, DirectStats& ds) {
  const DirectPlan& p = x.p;
  for (const DirectPlan::Class& c : p.classes) {
    auto run_class = [&] {
      llvm::Value* local = bb.CreateSub(item.grp, c64(bb, c.first_group));
      llvm::Value* blk0 = bb.CreateMul(local, c64(bb, kDGroup));
      llvm::Value* nblk = min64(bb, c64(bb, kDGroup), bb.CreateSub(c64(bb, c.blocks), blk0));
      ds.col_end = c64(bb, c.col_end);
      emit_for(bb, "blk", c64(bb, 0), nblk, c64(bb, 1), [&](llvm::Value* j) {
        llvm::Value* col0 = bb.CreateAdd(c64(bb, c.first_col), bb.CreateMul(bb.CreateAdd(blk0, j), c64(bb, kDC)));
        direct_micro(x, bb, item, c, col0);
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    };
    if (p.classes.size() == 1) run_class();
    else emit_if(bb, bb.CreateICmpULT(bb.CreateSub(item.grp, c64(bb, c.first_group)), c64(bb, c.groups)), run_class);
  }
}

// Rolled: the class of the item's column group from the tables, one code per tap-column range.
void run_rolled(const DirectKernel& x, Builder& bb, const DirectItem& item, const RolledClasses& r, DirectStats& ds) {
  const Ir& ir = x.ir;
  auto load = [&](llvm::GlobalVariable* t, llvm::Value* i) { return bb.CreateSExt(ir.load_scalar(bb, t, i), bb.getInt64Ty()); };
  llvm::Value* ci = load(r.grp_cls, item.grp);
  llvm::Value* local = bb.CreateSub(item.grp, load(r.first_group, ci));
  llvm::Value* blk0 = bb.CreateMul(local, c64(bb, kDGroup));
  llvm::Value* nblk = min64(bb, c64(bb, kDGroup), bb.CreateSub(load(r.blocks, ci), blk0));
  llvm::Value* first_col = load(r.first_col, ci);
  llvm::Value* h0 = load(r.h0, ci);
  llvm::Value* h1 = load(r.h1, ci);
  if (r.col_end) ds.col_end = load(r.col_end, ci);
  llvm::Function* fn = bb.GetInsertBlock()->getParent();
  auto* done = llvm::BasicBlock::Create(bb.getContext(), "wg.done", fn);
  auto* sw = bb.CreateSwitch(load(r.wg, ci), done, static_cast<unsigned>(r.wranges.size()));
  for (size_t w = 0; w < r.wranges.size(); ++w) {
    auto* case_block = llvm::BasicBlock::Create(bb.getContext(), "wg", fn, done);
    sw->addCase(llvm::cast<llvm::ConstantInt>(c64(bb, static_cast<int64_t>(w))), case_block);
    bb.SetInsertPoint(case_block);
    DirectPlan::Class c{0, 0, r.wranges[w].first, r.wranges[w].second, 0, 0, 0, 0, 0};
    emit_for(bb, "blk", c64(bb, 0), nblk, c64(bb, 1), [&](llvm::Value* j) {
      llvm::Value* col0 = bb.CreateAdd(first_col, bb.CreateMul(bb.CreateAdd(blk0, j), c64(bb, kDC)));
      direct_micro(x, bb, item, c, col0, h0, h1);
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
    bb.CreateBr(done);
  }
  bb.SetInsertPoint(done);
}

// The item's statistics to its slot: [2][32] doubles, sums then squares.
void store_item_stats(const Ir& ir, Builder& bb, const DirectStats& ds, llvm::Value* partials, llvm::Value* item) {
  llvm::Value* slot = at_f64(bb, partials, bb.CreateMul(item, c64(bb, 2 * kDRows)));
  auto* v16d = llvm::FixedVectorType::get(bb.getDoubleTy(), kLanes);
  for (int64_t v = 0; v < kNV; ++v)
    for (auto [from, at] : {std::pair{ds.sums[static_cast<size_t>(v)], v * kLanes},
                            std::pair{ds.squares[static_cast<size_t>(v)], kDRows + v * kLanes}})
      bb.CreateAlignedStore(bb.CreateFPExt(bb.CreateLoad(ir.vf, from), v16d),
                            bb.CreateBitCast(at_f64(bb, slot, c64(bb, at)), v16d->getPointerTo()), llvm::Align(64));
}

// The work items on the thread pool: item = (g, rp, column group), column groups innermost
// (a thread's consecutive items share the packed row panel). captured: the packed A, the image
// operand, the output, then the bias and the statistics' slots where there are.
void run_items(KernelBody& k, const DirectKernel& x, const RolledClasses& rolled, llvm::ArrayRef<llvm::Value*> captured,
               bool bias, const RowStats& st) {
  const Ir& ir = x.ir;
  const WindowGemm& d = x.d;
  const DirectPlan& p = x.p;
  emit_parallel_for(k.b, k.pool, x.prefix, c64(k.b, p.items), captured,
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    llvm::Value* partials = st.partials ? cap.back() : nullptr;
    DirectStats ds;
    for (int64_t v = 0; partials && v < kNV; ++v) {
      ds.sums.push_back(ir.slot(bb, ir.vf));
      ds.squares.push_back(ir.slot(bb, ir.vf));
    }
    emit_for(bb, "item", begin, end, c64(bb, 1), [&](llvm::Value* index) {
      for (size_t v = 0; v < ds.sums.size(); ++v) {
        bb.CreateStore(ir.fzero(), ds.sums[v]);
        bb.CreateStore(ir.fzero(), ds.squares[v]);
      }
      DirectItem item;
      item.grp = bb.CreateURem(index, c64(bb, p.groups_total));
      llvm::Value* rest = bb.CreateUDiv(index, c64(bb, p.groups_total));
      item.rp = bb.CreateURem(rest, c64(bb, p.RPn));
      item.g = bb.CreateUDiv(rest, c64(bb, p.RPn));
      item.apanel = ir.at(bb, cap[0], bb.CreateMul(bb.CreateAdd(bb.CreateMul(item.g, c64(bb, p.RPn)), item.rp), c64(bb, p.panel)));
      item.in_g = ir.at(bb, cap[1], bb.CreateMul(item.g, c64(bb, d.in_g)));
      item.out_g = ir.at(bb, cap[2], bb.CreateMul(item.g, c64(bb, d.out_g)));
      item.bias = bias ? cap[3] : nullptr;
      item.stats = partials ? &ds : nullptr;
      if (rolled.rolled) run_rolled(x, bb, item, rolled, ds);
      else run_classes(x, bb, item, ds);
      if (partials) store_item_stats(ir, bb, ds, partials, index);
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
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
  const DirectPlan p = plan_columns(ir, b, d, classes, prefix);
  const DirectKernel x{ir, given, d, p, dot, prefix};
  const RolledClasses rolled = roll_classes(ir, d, p, stats != nullptr, prefix);
  llvm::Value* apack = pack_a(k, x, a);
  // Statistics: an item owns its 32-row panel rp over its column group.
  RowStats st;
  if (stats) st = row_stats(ir, b, p.items, kDRows, p.RPn * p.groups_total, p.groups_total, 1, p.groups_total);
  std::vector<llvm::Value*> captured{apack, in, out};
  if (bias) captured.push_back(bias);
  if (st.partials) captured.push_back(st.partials);
  run_items(k, x, rolled, captured, bias != nullptr, st);
  ir.release(b, apack);
  if (in_pairs) ir.release(b, in_pairs);
  if (st.partials) finalize_row_stats(ir, b, d, st, bias, stats);
}

}  // namespace resnetc::codegen::llvm_backend::gemm_internal
