// WeightGrad (gemm.h): the weight gradient of a convolution, output channels in vector lanes.
#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "compiler/codegen/llvm/emit/gemm_internal.h"
#include "compiler/codegen/llvm/emit/gemm_weight_grad_bf16.h"

namespace resnetc::codegen::llvm_backend {
using namespace gemm_internal;
namespace {

// WeightGrad, output channels in vector lanes ("direct"): a tile is 32 output channels x 8
// k's (k = (kc, kh, kw)); it sums over every output position in registers, broadcasting x
// straight from the input and reading dy from a transposed copy dyT[g][o/32][n, oh, ow][32]
// made once per call, then scatters its 8 x 32 results into dw. With 8 or more input
// channels a tile's k's share one tap, and each position class (gemm's WindowClass) only
// contributes to the taps it sees; with fewer, the k's are consecutive (kc, kh, kw) and x
// is read from a zero-padded copy.
//
// The kernel, in the order it runs (emit_weight_grad_direct): the column tables
// (lay_out_columns), dyT (emit_transpose_dy), x's padded copy (emit_padded_x), the dead taps'
// zeros (lay_out_tiles, emit_zero_dead_taps), then the tiles over work items (emit_tiles): an
// item's k blocks (ItemEmitter), each a tile that sums columns in registers (sum_columns,
// grad_direct_loop) and scatters its sums into dw (scatter).

constexpr int64_t kGRows = 8;      // k's per tile
constexpr int64_t kGBlocks = 8;    // k blocks per work item
constexpr int64_t kGChunk = 1024;  // columns per chunk: dyT's chunk (128 KiB) stays in L2

struct GradDirect {
  int64_t G, Og, Cg, KK, Kconv, OPn, P, cols = 0;
  bool padded = false;                // Cg < 8: k blocks over (kc, tap), x from a padded copy
  int64_t Hp = 0, Wp = 0;             // padded copy's extent
  std::vector<WindowClass> classes;   // not padded: columns by the taps they see
  llvm::GlobalVariable* col_x = nullptr;   // per column: x (or padded copy) offset of tap (0, 0), kc 0
  llvm::GlobalVariable* col_dy = nullptr;  // per column: its row of dyT, n*P + oh*OW + ow
};

// Tiles: (g, k block, o panel); a work item is one o panel and up to kGBlocks k blocks, which
// walk the columns in chunks (so dyT's chunk stays in L2 across them) with their
// accumulators parked in a small scratch between chunks.
//  * not padded: k block = (tap, 8 input channels from kc0): x offsets r*XHW from
//    kc0*XHW + tap_x[tap], dw columns (kc0 + r)*KK + tap; the columns that see the tap come
//    from per-tap range tables. One microkernel (and one for the channel tail).
//  * padded: k block = 8 consecutive (kc, kh, kw); one switch case per block (few: Cg < 8).
struct TileGrid {
  int64_t per_tap = 0;  // k blocks per tap (not padded)
  int64_t KB = 0;       // k blocks
  int64_t CH = 0, NCH = 0;  // columns per chunk, chunks
  int64_t KBG = 0, KGn = 0;  // k blocks per work item, k groups
  int64_t items = 0;
  int64_t XHW = 0;  // x's (or the padded copy's) plane
  // Not padded, per tap: x offset, and its column ranges [rng_lo, rng_hi)[tap_rb .. tap_re).
  llvm::GlobalVariable *t_x = nullptr, *t_rb = nullptr, *t_re = nullptr, *t_lo = nullptr, *t_hi = nullptr;
};

// The kernel's extents, and whether x is read from a zero-padded copy.
GradDirect grad_direct_shape(const WeightGrad& d) {
  GradDirect p;
  p.G = d.groups, p.Og = d.out_per_group, p.Cg = d.in_per_group, p.KK = d.kernel_h * d.kernel_w;
  p.Kconv = p.Cg * p.KK;
  p.OPn = ceil_div(p.Og, kDRows);
  p.P = d.out_h * d.out_w;
  p.padded = p.Cg < kGRows && p.KK > 1;
  if (p.padded) {
    p.Hp = d.in_h + 2 * d.pad_h + d.stride_h;  // room for every tap of every output position
    p.Wp = d.in_w + 2 * d.pad_w + d.stride_w;
    p.Hp = std::max(p.Hp, (d.out_h - 1) * d.stride_h + (d.kernel_h - 1) * d.dilation_h + 1);
    p.Wp = std::max(p.Wp, (d.out_w - 1) * d.stride_w + (d.kernel_w - 1) * d.dilation_w + 1);
  }
  return p;
}

// Whether an offset may pass 2^31 (less a margin): i64 indices.
bool needs_wide_index(const WeightGrad& d, const GradDirect& p) {
  const int64_t C = p.G * p.Cg, O = p.G * p.Og, HW = d.in_h * d.in_w;
  return std::max(d.batch * C * std::max(HW, p.Hp * p.Wp), d.batch * O * p.P) >= (int64_t{1} << 31) - 1024;
}

// Columns: output positions, grouped by the taps they see (one group when padded), with their
// tables col_x and col_dy.
void lay_out_columns(const Ir& ir, const WeightGrad& d, GradDirect& p, const std::string& prefix) {
  const int64_t C = p.G * p.Cg, HW = d.in_h * d.in_w;
  std::vector<int64_t> col_x, col_dy;
  if (p.padded) {
    WindowClass all;
    for (int64_t n = 0; n < d.batch; ++n)
      for (int64_t qh = 0; qh < d.out_h; ++qh)
        for (int64_t qw = 0; qw < d.out_w; ++qw) all.cols.push_back({n, qh, qw});
    all.h1 = d.kernel_h, all.w1 = d.kernel_w;
    p.classes.push_back(std::move(all));
  } else {
    WindowGemm fd;
    fd.batch = d.batch, fd.out_rows = d.out_h, fd.out_cols = d.out_w;
    for (int64_t kh = 0; kh < d.kernel_h; ++kh) fd.tap_h.push_back(kh * d.dilation_h - d.pad_h);
    for (int64_t kw = 0; kw < d.kernel_w; ++kw) fd.tap_w.push_back(kw * d.dilation_w - d.pad_w);
    fd.in_h = d.in_h, fd.in_w = d.in_w, fd.in_sh = d.stride_h, fd.in_sw = d.stride_w;
    WindowPlan wp;
    window_classes(fd, wp, /*merge_small=*/false);
    p.classes = std::move(wp.classes);
  }
  for (WindowClass& c : p.classes) {
    c.first_panel = static_cast<int64_t>(col_x.size());  // here: the first column
    for (const auto& [n, qh, qw] : c.cols) {
      if (p.padded) col_x.push_back(n * C * p.Hp * p.Wp + qh * d.stride_h * p.Wp + qw * d.stride_w);
      else col_x.push_back(n * C * HW + (qh * d.stride_h - d.pad_h) * d.in_w + qw * d.stride_w - d.pad_w);
      col_dy.push_back(n * p.P + qh * d.out_w + qw);
    }
  }
  p.cols = static_cast<int64_t>(col_x.size());
  p.col_x = ir.table(prefix + ".col_x", ir.it, col_x);
  p.col_dy = ir.table(prefix + ".col_dy", ir.it, col_dy);
}

// dyT[g][op][n*P + p][32], zero past the last channel: 8 x 16 blocks of dy (8 channels, 16
// positions) transposed in registers; `bf16`: each value rounded to bf16 on the way. Returns
// the scratch (the caller frees it).
llvm::Value* emit_transpose_dy(const Ir& ir, KernelBody& k, const WeightGrad& d, const GradDirect& p, llvm::Value* dy,
                               const std::string& prefix, bool bf16) {
  Builder& b = k.b;
  const int64_t O = p.G * p.Og;
  const int64_t dyt_floats = p.G * p.OPn * d.batch * p.P * kDRows;
  llvm::Value* dyt = ir.alloc(b, dyt_floats * 4);
  emit_parallel_for(b, k.pool, prefix + ".dyT", c64(b, p.G * p.OPn * d.batch), {dy, dyt},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    auto* v8 = llvm::FixedVectorType::get(ir.f32, 8);
    emit_for(bb, "i", begin, end, c64(bb, 1), [&](llvm::Value* i) {
      llvm::Value* n = bb.CreateURem(i, c64(bb, d.batch));
      llvm::Value* gop = bb.CreateUDiv(i, c64(bb, d.batch));
      llvm::Value* op = bb.CreateURem(gop, c64(bb, p.OPn));
      llvm::Value* g = bb.CreateUDiv(gop, c64(bb, p.OPn));
      llvm::Value* o0 = bb.CreateMul(op, c64(bb, kDRows));
      llvm::Value* src = operand_at(ir, bb, cap[0], bb.CreateAdd(bb.CreateMul(n, c64(bb, O * p.P)),
                                                                bb.CreateMul(bb.CreateAdd(bb.CreateMul(g, c64(bb, p.Og)), o0), c64(bb, p.P))),
                                    d.dy_bf16);
      llvm::Value* dst = ir.at(bb, cap[1], bb.CreateMul(bb.CreateAdd(bb.CreateMul(gop, c64(bb, d.batch)), n), c64(bb, p.P * kDRows)));
      emit_for(bb, "pb", 0, ceil_div(p.P, kLanes), 1, [&](llvm::Value* pb) {
        llvm::Value* p0 = bb.CreateMul(pb, c64(bb, kLanes));
        llvm::Value* pmask = bb.CreateICmpSLT(bb.CreateAdd(ir.vsplat(bb, p0), ir.iota()), ir.vsplat(bb, p.P));
        for (int64_t h = 0; h < kDRows / 8; ++h) {
          llvm::Value* a[8];
          for (int64_t r = 0; r < 8; ++r) {
            llvm::Value* ok = bb.CreateICmpSLT(bb.CreateAdd(o0, c64(bb, 8 * h + r)), c64(bb, p.Og));
            llvm::Value* m = bb.CreateAnd(pmask, bb.CreateVectorSplat(kLanes, ok));
            a[r] = load_operand(ir, bb, operand_at(ir, bb, src, bb.CreateAdd(c64(bb, (8 * h + r) * p.P), p0), d.dy_bf16), m, d.dy_bf16);
            if (bf16 && !d.dy_bf16) a[r] = round_as_float(bb, a[r]);
          }
          std::vector<llvm::Value*> rows = transpose8x16(bb, a);
          for (int64_t l = 0; l < kLanes; ++l) {
            llvm::Value* pos = bb.CreateAdd(p0, c64(bb, l));
            llvm::Value* at = ir.at(bb, dst, bb.CreateAdd(bb.CreateMul(pos, c64(bb, kDRows)), c64(bb, 8 * h)));
            llvm::Value* ok = bb.CreateVectorSplat(8, bb.CreateICmpSLT(pos, c64(bb, p.P)));
            bb.CreateMaskedStore(rows[static_cast<size_t>(l)], bb.CreateBitCast(at, v8->getPointerTo()), llvm::Align(32), ok);
          }
        }
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
  return dyt;
}

// The zero-padded copy of x, for when the k's of a tile span several taps; `bf16`: rounded to
// bf16. Returns the scratch (the caller frees it).
llvm::Value* emit_padded_x(const Ir& ir, KernelBody& k, const WeightGrad& d, const GradDirect& p, llvm::Value* x,
                           const std::string& prefix, bool bf16) {
  Builder& b = k.b;
  const int64_t C = p.G * p.Cg, HW = d.in_h * d.in_w;
  llvm::Value* xpad = ir.alloc(b, d.batch * C * p.Hp * p.Wp * 4);
  emit_parallel_for(b, k.pool, prefix + ".pad", c64(b, d.batch * C), {x, xpad},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    emit_for(bb, "plane", begin, end, c64(bb, 1), [&](llvm::Value* plane) {
      llvm::Value* src = operand_at(ir, bb, cap[0], bb.CreateMul(plane, c64(bb, HW)), d.x_bf16);
      llvm::Value* dst = ir.at(bb, cap[1], bb.CreateMul(plane, c64(bb, p.Hp * p.Wp)));
      emit_for(bb, "y", 0, p.Hp, 1, [&](llvm::Value* y) {
        llvm::Value* sy = bb.CreateSub(y, c64(bb, d.pad_h));
        llvm::Value* row_ok = bb.CreateICmpULT(sy, c64(bb, d.in_h));
        emit_for(bb, "x", 0, p.Wp, 1, [&](llvm::Value* xx) {
          llvm::Value* sx = bb.CreateSub(xx, c64(bb, d.pad_w));
          llvm::Value* ok = bb.CreateAnd(row_ok, bb.CreateICmpULT(sx, c64(bb, d.in_w)));
          llvm::Value* at = bb.CreateSelect(ok, bb.CreateAdd(bb.CreateMul(sy, c64(bb, d.in_w)), sx), c64(bb, 0));
          llvm::Value* v = bb.CreateSelect(ok, load_operand(ir, bb, operand_at(ir, bb, src, at, d.x_bf16), d.x_bf16), f32(bb, 0));
          if (bf16 && !d.x_bf16) v = round_as_float(bb, v);
          bb.CreateAlignedStore(v, ir.at(bb, dst, bb.CreateAdd(bb.CreateMul(y, c64(bb, p.Wp)), xx)), llvm::Align(4));
        }, LoopHints{.vectorize = true});
      }, LoopHints{.no_vectorize = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
  return xpad;
}

// The tile grid's extents and, not padded, its per-tap tables. Returns the k's (kc*KK + tap) that
// no column sees: their gradient is zero.
std::vector<bool> lay_out_tiles(const Ir& ir, const WeightGrad& d, const GradDirect& p, TileGrid& t,
                                const std::string& prefix) {
  t.per_tap = ceil_div(p.Cg, kGRows);
  t.KB = p.padded ? ceil_div(p.Kconv, kGRows) : p.KK * t.per_tap;
  t.CH = p.cols <= 2 * kGChunk ? p.cols : kGChunk;
  t.NCH = ceil_div(p.cols, t.CH);
  t.KBG = std::min<int64_t>(t.KB, t.NCH == 1 ? 1 : kGBlocks);
  t.KGn = ceil_div(t.KB, t.KBG);
  t.items = p.G * p.OPn * t.KGn;
  t.XHW = p.padded ? p.Hp * p.Wp : d.in_h * d.in_w;

  std::vector<int64_t> tap_x, tap_rb, tap_re, rng_lo, rng_hi;
  std::vector<bool> dead(static_cast<size_t>(p.Kconv), false);
  if (!p.padded) {
    for (int64_t tap = 0; tap < p.KK; ++tap) {
      const int64_t kh = tap / d.kernel_w, kw = tap % d.kernel_w;
      tap_x.push_back(kh * d.dilation_h * d.in_w + kw * d.dilation_w);
      tap_rb.push_back(static_cast<int64_t>(rng_lo.size()));
      for (const WindowClass& c : p.classes) {
        if (kh < c.h0 || kh >= c.h1 || kw < c.w0 || kw >= c.w1) continue;
        const int64_t c0 = c.first_panel, c1 = c.first_panel + static_cast<int64_t>(c.cols.size());
        if (static_cast<int64_t>(rng_lo.size()) > tap_rb.back() && rng_hi.back() == c0) {
          rng_hi.back() = c1;
        } else {
          rng_lo.push_back(c0);
          rng_hi.push_back(c1);
        }
      }
      tap_re.push_back(static_cast<int64_t>(rng_lo.size()));
      if (tap_re.back() == tap_rb.back())
        for (int64_t kc = 0; kc < p.Cg; ++kc) dead[static_cast<size_t>(kc * p.KK + tap)] = true;
    }
    rng_lo.push_back(0);  // never empty
    rng_hi.push_back(0);
  }
  t.t_x = p.padded ? nullptr : ir.table(prefix + ".tap_x", ir.it, tap_x);
  t.t_rb = p.padded ? nullptr : ir.table(prefix + ".tap_rb", ir.it, tap_rb);
  t.t_re = p.padded ? nullptr : ir.table(prefix + ".tap_re", ir.it, tap_re);
  t.t_lo = p.padded ? nullptr : ir.table(prefix + ".rng_lo", ir.it, rng_lo);
  t.t_hi = p.padded ? nullptr : ir.table(prefix + ".rng_hi", ir.it, rng_hi);
  return dead;
}

// Taps no output position sees have a zero gradient: zeroed here, skipped by the tiles.
void emit_zero_dead_taps(const Ir& ir, KernelBody& k, const GradDirect& p, const std::vector<bool>& dead,
                         llvm::Value* dw, const std::string& prefix) {
  if (std::find(dead.begin(), dead.end(), true) == dead.end()) return;
  Builder& b = k.b;
  const int64_t vecs = ceil_div(p.Kconv, kLanes);
  std::vector<int64_t> masks(static_cast<size_t>(vecs), 0);
  for (int64_t kk = 0; kk < p.Kconv; ++kk)
    if (dead[static_cast<size_t>(kk)]) masks[static_cast<size_t>(kk / kLanes)] |= int64_t{1} << (kk % kLanes);
  for (auto& m : masks) m = static_cast<int16_t>(static_cast<uint16_t>(m));
  llvm::GlobalVariable* dead_mask = ir.table(prefix + ".dead", b.getInt16Ty(), masks);
  emit_parallel_for(b, k.pool, prefix + ".dead", c64(b, p.G * p.Og), {dw},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    emit_for(bb, "row", begin, end, c64(bb, 1), [&](llvm::Value* row) {
      llvm::Value* dst = ir.at(bb, cap[0], bb.CreateMul(row, c64(bb, p.Kconv)));
      emit_for(bb, "j", 0, vecs, 1, [&](llvm::Value* j) {
        llvm::Value* m = bb.CreateBitCast(ir.load_scalar(bb, dead_mask, j), ir.vm);
        bb.CreateMaskedStore(ir.fzero(), ir.vptr(bb, ir.at(bb, dst, bb.CreateMul(j, c64(bb, kLanes)))), llvm::Align(4), m);
      }, LoopHints{.no_vectorize = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
}

// acc[r][v] += Σ_{columns [c0, c1)} x[col_x[col] + koff[r]] · dyT[col][16v..]
void grad_direct_loop(const Ir& ir, Builder& b, const GradDirect& p, llvm::Value* xg, llvm::Value* dyt_panel,
                      llvm::Value* c0, llvm::Value* c1, const std::vector<int64_t>& koff,
                      const std::vector<llvm::Value*>& acc) {
  const auto mr = static_cast<int64_t>(koff.size());
  emit_for(b, "gwcol", c0, c1, c64(b, 1), [&](llvm::Value* col) {
    llvm::Value* xb = ir.at(b, xg, b.CreateSExt(ir.load_scalar(b, p.col_x, col), b.getInt64Ty()));
    llvm::Value* pos = b.CreateSExt(ir.load_scalar(b, p.col_dy, col), b.getInt64Ty());
    llvm::Value* dp = ir.at(b, dyt_panel, b.CreateMul(pos, c64(b, kDRows)));
    llvm::Value* av[kNV];
    for (int64_t v = 0; v < kNV; ++v) av[v] = ir.vload(b, ir.at(b, dp, v * kLanes), 64);
    std::vector<llvm::Value*> s(acc.size());
    for (size_t i = 0; i < acc.size(); ++i) s[i] = b.CreateLoad(ir.vf, acc[i]);
    for (int64_t r = 0; r < mr; ++r) {
      llvm::Value* splat = b.CreateVectorSplat(kLanes, b.CreateAlignedLoad(ir.f32, ir.at(b, xb, koff[static_cast<size_t>(r)]), llvm::Align(4)));
      for (int64_t v = 0; v < kNV; ++v) {
        auto i = static_cast<size_t>(r * kNV + v);
        s[i] = ir.fma(b, splat, av[v], s[i]);
      }
    }
    for (size_t i = 0; i < acc.size(); ++i) b.CreateStore(s[i], acc[i]);
  }, LoopHints{.no_vectorize = true, .unroll = 2});
}

// The code of one work item: its k blocks of one (g, o panel), over the columns. Built at the
// item loop's body, where the item's coordinates are computed once.
class ItemEmitter {
 public:
  ItemEmitter(const Ir& ir, Builder& bb, const WeightGrad& d, const GradDirect& p, const TileGrid& t,
              llvm::Value* park, llvm::Value* item, llvm::ArrayRef<llvm::Value*> cap)
      : ir_(ir), bb_(bb), d_(d), p_(p), t_(t), park_(park) {
    // k groups innermost: a thread's items share dyT's panel, and threads write disjoint
    // rows of dw (tiles of one row interleave within cache lines).
    llvm::Value* kg = bb.CreateURem(item, c64(bb, t.KGn));
    llvm::Value* gop = bb.CreateUDiv(item, c64(bb, t.KGn));
    llvm::Value* op = bb.CreateURem(gop, c64(bb, p.OPn));
    llvm::Value* g = bb.CreateUDiv(gop, c64(bb, p.OPn));
    xg_ = ir.at(bb, cap[0], bb.CreateMul(g, c64(bb, p.Cg * t.XHW)));
    dyt_panel_ = ir.at(bb, cap[1], bb.CreateMul(bb.CreateAdd(bb.CreateMul(g, c64(bb, p.OPn)), op), c64(bb, d.batch * p.P * kDRows)));
    o0_ = bb.CreateMul(op, c64(bb, kDRows));
    dw_g_ = ir.at(bb, cap[2], bb.CreateMul(bb.CreateAdd(bb.CreateMul(g, c64(bb, p.Og)), o0_), c64(bb, p.Kconv)));
    kb0_ = bb.CreateMul(kg, c64(bb, t.KBG));
    nkb_ = min64(bb, c64(bb, t.KBG), bb.CreateSub(c64(bb, t.KB), kb0_));
  }

  // The item's k blocks over all columns: at once when they fit one chunk, else chunk by chunk
  // (each k block's accumulators parked between chunks), then a pass that stores them.
  void emit() {
    Builder& bb = bb_;
    if (t_.NCH == 1) {
      emit_for(bb, "kb", c64(bb, 0), nkb_, c64(bb, 1), [&](llvm::Value* j) {
        kblock(j, c64(bb, 0), c64(bb, p_.cols), bb.getTrue(), true);
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
      return;
    }
    emit_for(bb, "chunk", 0, t_.NCH, 1, [&](llvm::Value* ch) {
      llvm::Value* lo = bb.CreateMul(ch, c64(bb, t_.CH));
      llvm::Value* hi = min64(bb, bb.CreateAdd(lo, c64(bb, t_.CH)), c64(bb, p_.cols));
      llvm::Value* first = bb.CreateICmpEQ(ch, c64(bb, 0));
      emit_for(bb, "kb", c64(bb, 0), nkb_, c64(bb, 1), [&](llvm::Value* j) { kblock(j, lo, hi, first, false); },
               LoopHints{.no_vectorize = true, .no_unroll = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
    emit_for(bb, "kb", c64(bb, 0), nkb_, c64(bb, 1), [&](llvm::Value* j) { kblock(j, nullptr, nullptr, nullptr, true); },
             LoopHints{.no_vectorize = true, .no_unroll = true});
  }

 private:
  // Runs tile(...) for k block kb0 + j, lo/hi the column chunk (null: the final store pass).
  void kblock(llvm::Value* j, llvm::Value* lo, llvm::Value* hi, llvm::Value* first, bool final_store) {
    llvm::Value* kb = bb_.CreateAdd(kb0_, j);
    if (p_.padded) kblock_padded(kb, j, lo, hi, first, final_store);
    else kblock_tap(kb, j, lo, hi, first, final_store);
  }

  // Padded: one switch case per k block, its k's consecutive (kc, kh, kw).
  void kblock_padded(llvm::Value* kb, llvm::Value* j, llvm::Value* lo, llvm::Value* hi, llvm::Value* first,
                     bool final_store) {
    Builder& bb = bb_;
    llvm::Function* f = bb.GetInsertBlock()->getParent();
    auto* done = llvm::BasicBlock::Create(bb.getContext(), "kblock.done", f);
    auto* sw = bb.CreateSwitch(kb, done, static_cast<unsigned>(t_.KB));
    for (int64_t blk = 0; blk < t_.KB; ++blk) {
      auto* case_block = llvm::BasicBlock::Create(bb.getContext(), "kblock", f, done);
      sw->addCase(llvm::cast<llvm::ConstantInt>(c64(bb, blk)), case_block);
      bb.SetInsertPoint(case_block);
      std::vector<int64_t> koff, dcol;
      for (int64_t kk = blk * kGRows; kk < std::min(p_.Kconv, (blk + 1) * kGRows); ++kk) {
        int64_t kc = kk / p_.KK, kh = kk % p_.KK / d_.kernel_w, kw = kk % d_.kernel_w;
        dcol.push_back(kk);
        koff.push_back(kc * t_.XHW + kh * d_.dilation_h * p_.Wp + kw * d_.dilation_w);
      }
      tile(j, xg_, koff, dw_g_, dcol, nullptr, nullptr, lo, hi, first, final_store);
      bb.CreateBr(done);
    }
    bb.SetInsertPoint(done);
  }

  // Not padded: one tap and up to 8 input channels from kc0 (a microkernel for 8, one for the
  // channel tail), over the column ranges that see the tap; nothing for a dead tap.
  void kblock_tap(llvm::Value* kb, llvm::Value* j, llvm::Value* lo, llvm::Value* hi, llvm::Value* first,
                  bool final_store) {
    Builder& bb = bb_;
    llvm::Value* tap = bb.CreateUDiv(kb, c64(bb, t_.per_tap));
    llvm::Value* kc0 = bb.CreateMul(bb.CreateURem(kb, c64(bb, t_.per_tap)), c64(bb, kGRows));
    llvm::Value* rb = bb.CreateSExt(ir_.load_scalar(bb, t_.t_rb, tap), bb.getInt64Ty());
    llvm::Value* re = bb.CreateSExt(ir_.load_scalar(bb, t_.t_re, tap), bb.getInt64Ty());
    emit_if(bb, bb.CreateICmpNE(rb, re), [&] {  // else: a dead tap, zeroed already
      llvm::Value* base = ir_.at(bb, xg_, bb.CreateAdd(bb.CreateMul(kc0, c64(bb, t_.XHW)),
                                                       bb.CreateSExt(ir_.load_scalar(bb, t_.t_x, tap), bb.getInt64Ty())));
      llvm::Value* dw_cols = ir_.at(bb, dw_g_, bb.CreateAdd(bb.CreateMul(kc0, c64(bb, p_.KK)), tap));
      auto variant = [&](int64_t mr) {
        std::vector<int64_t> koff, dcol;
        for (int64_t r = 0; r < mr; ++r) {
          koff.push_back(r * t_.XHW);
          dcol.push_back(r * p_.KK);
        }
        tile(j, base, koff, dw_cols, dcol, rb, re, lo, hi, first, final_store);
      };
      const int64_t tail = p_.Cg % kGRows;
      if (tail == 0 || p_.Cg < kGRows) {
        variant(std::min(p_.Cg, kGRows));
      } else {
        llvm::Function* fn = bb.GetInsertBlock()->getParent();
        auto* full_b = llvm::BasicBlock::Create(bb.getContext(), "full", fn);
        auto* tail_b = llvm::BasicBlock::Create(bb.getContext(), "tail", fn);
        auto* join = llvm::BasicBlock::Create(bb.getContext(), "join", fn);
        bb.CreateCondBr(bb.CreateICmpSLE(bb.CreateAdd(kc0, c64(bb, kGRows)), c64(bb, p_.Cg)), full_b, tail_b);
        bb.SetInsertPoint(full_b);
        variant(kGRows);
        bb.CreateBr(join);
        bb.SetInsertPoint(tail_b);
        variant(tail);
        bb.CreateBr(join);
        bb.SetInsertPoint(join);
      }
    });
  }

  // One k block: x offsets koff (from base), dw columns dcol (from dw_cols), column ranges
  // [lo, hi) read from the tables between rb and re (or all columns), accumulators from/to the
  // park slot j.
  void tile(llvm::Value* j, llvm::Value* base, const std::vector<int64_t>& koff, llvm::Value* dw_cols,
            const std::vector<int64_t>& dcol, llvm::Value* rb, llvm::Value* re, llvm::Value* lo, llvm::Value* hi,
            llvm::Value* first, bool final_store) {
    auto acc = make_acc(ir_, bb_, static_cast<int64_t>(koff.size()));
    if (lo) {
      sum_columns(acc, j, base, koff, rb, re, lo, hi, first, final_store);
    } else {
      for (size_t i = 0; i < acc.size(); ++i) bb_.CreateStore(ir_.vload(bb_, parked(j, i), 64), acc[i]);
    }
    if (final_store) scatter(acc, dw_cols, dcol);
  }

  // Slot j's vector i in the park.
  llvm::Value* parked(llvm::Value* j, size_t i) {
    Builder& bb = bb_;
    return ir_.at(bb, park_, bb.CreateAdd(bb.CreateMul(j, c64(bb, kGRows * kNV * kLanes)), c64(bb, static_cast<int64_t>(i) * kLanes)));
  }

  // acc = (first or no park: 0, else the parked sums) + the columns [lo, hi) of the ranges
  // rb .. re (null: all columns); parked again unless this is the final store.
  void sum_columns(const std::vector<llvm::Value*>& acc, llvm::Value* j, llvm::Value* base,
                   const std::vector<int64_t>& koff, llvm::Value* rb, llvm::Value* re, llvm::Value* lo,
                   llvm::Value* hi, llvm::Value* first, bool final_store) {
    Builder& bb = bb_;
    for (size_t i = 0; i < acc.size(); ++i) {
      llvm::Value* init = park_ ? bb.CreateSelect(first, ir_.fzero(), ir_.vload(bb, parked(j, i), 64)) : ir_.fzero();
      bb.CreateStore(init, acc[i]);
    }
    auto columns = [&](llvm::Value* c0, llvm::Value* c1) {
      llvm::Value* from = bb.CreateSelect(bb.CreateICmpSGT(lo, c0), lo, c0);
      llvm::Value* to = min64(bb, hi, c1);
      grad_direct_loop(ir_, bb, p_, base, dyt_panel_, from, to, koff, acc);
    };
    if (rb) {
      emit_for(bb, "range", rb, re, c64(bb, 1), [&](llvm::Value* ri) {
        columns(bb.CreateSExt(ir_.load_scalar(bb, t_.t_lo, ri), bb.getInt64Ty()),
                bb.CreateSExt(ir_.load_scalar(bb, t_.t_hi, ri), bb.getInt64Ty()));
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    } else {
      columns(c64(bb, 0), c64(bb, p_.cols));
    }
    if (!final_store)
      for (size_t i = 0; i < acc.size(); ++i) ir_.vstore(bb, bb.CreateLoad(ir_.vf, acc[i]), parked(j, i), 64);
  }

  // The epilogue: the tile's 8 x 32 sums scattered into dw (row o, column dcol[r]), masked past
  // the last output channel.
  void scatter(const std::vector<llvm::Value*>& acc, llvm::Value* dw_cols, const std::vector<int64_t>& dcol) {
    Builder& bb = bb_;
    const auto mr = static_cast<int64_t>(dcol.size());
    for (int64_t v = 0; v < kNV; ++v) {
      llvm::Value* o = bb.CreateAdd(ir_.vsplat(bb, bb.CreateAdd(o0_, c64(bb, v * kLanes))), ir_.iota());
      llvm::Value* mask = bb.CreateICmpSLT(o, ir_.vsplat(bb, p_.Og));
      llvm::Value* index = bb.CreateMul(bb.CreateAdd(ir_.iota(), ir_.vsplat(bb, v * kLanes)), ir_.vsplat(bb, p_.Kconv));
      for (int64_t r = 0; r < mr; ++r)
        bb.CreateMaskedScatter(bb.CreateLoad(ir_.vf, acc[static_cast<size_t>(r * kNV + v)]),
                               bb.CreateGEP(ir_.f32, ir_.at(bb, dw_cols, dcol[static_cast<size_t>(r)]), index), llvm::Align(4), mask);
    }
  }

  const Ir& ir_;
  Builder& bb_;
  const WeightGrad& d_;
  const GradDirect& p_;
  const TileGrid& t_;
  llvm::Value* park_;  // the item's scratch for parked accumulators; null with one chunk
  llvm::Value *xg_ = nullptr, *dyt_panel_ = nullptr, *o0_ = nullptr, *dw_g_ = nullptr;  // the item's group and o panel
  llvm::Value *kb0_ = nullptr, *nkb_ = nullptr;  // its first k block, and how many
};

// The tiles, over work items in parallel.
void emit_tiles(const Ir& ir, KernelBody& k, const WeightGrad& d, const GradDirect& p, const TileGrid& t,
                llvm::Value* xsrc, llvm::Value* dyt, llvm::Value* dw, const std::string& prefix) {
  emit_parallel_for(k.b, k.pool, prefix, c64(k.b, t.items), {xsrc, dyt, dw},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    llvm::Value* park = t.NCH > 1 ? ir.alloc(bb, t.KBG * kGRows * kNV * kLanes * 4) : nullptr;
    emit_for(bb, "item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      ItemEmitter(ir, bb, d, p, t, park, item, cap).emit();
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
    if (park) ir.release(bb, park);
  });
}

// `bf16`: the operands rounded to bf16 in the copies the kernel makes anyway (dyT, the padded
// x) or, for x read in place, in a copy of its own: the same products as bf16 multiplies
// (two bf16 values multiply exactly in float32), at float32's speed. An operand stored in bf16
// (WeightGrad::dy_bf16, x_bf16) is widened in those copies instead (x read in place gets a widened copy).
void emit_weight_grad_direct(KernelBody& k, const WeightGrad& d, llvm::Value* dy, llvm::Value* x, llvm::Value* dw,
                             const std::string& tag, bool bf16) {
  GradDirect p = grad_direct_shape(d);
  Ir ir(k.module, needs_wide_index(d, p));
  const std::string prefix = unique_prefix(k.b, tag);
  lay_out_columns(ir, d, p, prefix);
  llvm::Value* dyt = emit_transpose_dy(ir, k, d, p, dy, prefix, bf16);
  llvm::Value* x_copy = (bf16 || d.x_bf16) && !p.padded ? emit_rounded_copy(ir, k, x, d.x_bf16, d.batch * p.G * p.Cg * d.in_h * d.in_w, prefix + ".round_x") : nullptr;
  if (x_copy) x = x_copy;
  llvm::Value* xpad = p.padded ? emit_padded_x(ir, k, d, p, x, prefix, bf16) : nullptr;
  TileGrid t;
  const std::vector<bool> dead = lay_out_tiles(ir, d, p, t, prefix);
  emit_zero_dead_taps(ir, k, p, dead, dw, prefix);
  emit_tiles(ir, k, d, p, t, xpad ? xpad : x, dyt, dw, prefix);
  ir.release(k.b, dyt);
  if (xpad) ir.release(k.b, xpad);
  if (x_copy) ir.release(k.b, x_copy);
}

// bf16 operands: AMX tiles where the shape and the host allow (unless RESNETC_CONV_PATH forces
// another formulation), else the float32 kernel on operands rounded to bf16, so every host
// gives bf16's numbers.
void emit_weight_grad_bf16(KernelBody& k, const WeightGrad& d, llvm::Value* dy, llvm::Value* x, llvm::Value* dw,
                           const std::string& tag) {
  const char* force = std::getenv("RESNETC_CONV_PATH");
  if ((!force || std::string_view(force) == "amx") && amx_weight_grad_fits(d) && amx_ready())
    return emit_amx_weight_grad(k, d, dy, x, dw, unique_prefix(k.b, tag));
  emit_weight_grad_direct(k, d, dy, x, dw, tag, /*bf16=*/true);
}

}  // namespace

void emit_weight_grad(KernelBody& k, const WeightGrad& d, llvm::Value* dy, llvm::Value* x, llvm::Value* dw,
                      const std::string& tag) {
  if (d.in_per_group == 0 || d.out_per_group == 0 || d.groups == 0) return;
  if (k.kernel.operands == plan::Precision::Bf16) return emit_weight_grad_bf16(k, d, dy, x, dw, tag);
  emit_weight_grad_direct(k, d, dy, x, dw, tag, /*bf16=*/false);
}

}  // namespace resnetc::codegen::llvm_backend
