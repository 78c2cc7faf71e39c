#include "compiler/codegen/llvm/emit/gemm.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "runtime/cpu/thread_pool.h"

namespace resnetc::codegen::llvm_backend {
namespace {

constexpr int64_t kLanes = 16;         // floats per <16 x float>
constexpr int64_t kMR = 8;             // microkernel rows (broadcast operand)
constexpr int64_t kNV = 2;             // microkernel vectors (packed operand)
constexpr int64_t kNR = kLanes * kNV;  // microkernel columns
constexpr int64_t kMaxRuns = 4;        // more contiguous runs per vector than this: scatter

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

int pool_threads() { return std::max(1, cpu::ThreadPool::global().num_threads()); }

// Types and small IR helpers, shared by the functions a kernel is split into.
struct Ir {
  llvm::Module& module;
  llvm::LLVMContext& ctx;
  llvm::Type* f32;
  llvm::FixedVectorType* vf;  // <16 x float>
  llvm::IntegerType* it;      // index type: i32, or i64 for tensors beyond 2^31 elements
  llvm::FixedVectorType* vi;  // <16 x it>
  llvm::FixedVectorType* vm;  // <16 x i1>

  Ir(llvm::Module& m, bool wide)
      : module(m),
        ctx(m.getContext()),
        f32(llvm::Type::getFloatTy(ctx)),
        vf(llvm::FixedVectorType::get(f32, kLanes)),
        it(wide ? llvm::Type::getInt64Ty(ctx) : llvm::Type::getInt32Ty(ctx)),
        vi(llvm::FixedVectorType::get(it, kLanes)),
        vm(llvm::FixedVectorType::get(llvm::Type::getInt1Ty(ctx), kLanes)) {}

  llvm::Constant* ic(int64_t v) const { return llvm::ConstantInt::get(it, static_cast<uint64_t>(v), true); }
  llvm::Value* vsplat(Builder& b, int64_t v) const { return b.CreateVectorSplat(kLanes, ic(v)); }
  llvm::Value* vsplat(Builder& b, llvm::Value* v) const {
    if (v->getType() != it) v = b.CreateIntCast(v, it, true);
    return b.CreateVectorSplat(kLanes, v);
  }
  llvm::Constant* iota() const {
    std::vector<llvm::Constant*> lanes;
    for (int64_t l = 0; l < kLanes; ++l) lanes.push_back(ic(l));
    return llvm::ConstantVector::get(lanes);
  }
  llvm::Constant* fzero() const { return llvm::Constant::getNullValue(vf); }

  // &p[i] without inbounds (run bases may point before a row; the masked lanes are never touched).
  llvm::Value* at(Builder& b, llvm::Value* p, llvm::Value* i) const { return b.CreateGEP(f32, p, i); }
  llvm::Value* at(Builder& b, llvm::Value* p, int64_t i) const { return b.CreateGEP(f32, p, b.getInt64(static_cast<uint64_t>(i))); }
  llvm::Value* vptr(Builder& b, llvm::Value* p) const { return b.CreateBitCast(p, vf->getPointerTo()); }
  llvm::Value* vload(Builder& b, llvm::Value* p, uint64_t align) const {
    return b.CreateAlignedLoad(vf, vptr(b, p), llvm::Align(align));
  }
  void vstore(Builder& b, llvm::Value* v, llvm::Value* p, uint64_t align) const {
    b.CreateAlignedStore(v, vptr(b, p), llvm::Align(align));
  }
  llvm::Value* fma(Builder& b, llvm::Value* x, llvm::Value* y, llvm::Value* acc) const {
    return b.CreateIntrinsic(llvm::Intrinsic::fma, {vf}, {x, y, acc});
  }
  llvm::Value* gather(Builder& b, llvm::Value* base, llvm::Value* index, llvm::Value* mask) const {
    return b.CreateMaskedGather(vf, b.CreateGEP(f32, base, index), llvm::Align(4), mask, fzero());
  }

  // A constant table of integers (type `type`) as an internal global.
  llvm::GlobalVariable* table(const std::string& name, llvm::IntegerType* type, const std::vector<int64_t>& values) const {
    std::vector<llvm::Constant*> elems;
    elems.reserve(values.size());
    for (int64_t v : values) elems.push_back(llvm::ConstantInt::get(type, static_cast<uint64_t>(v), true));
    auto* array_type = llvm::ArrayType::get(type, values.size());
    auto* gv = new llvm::GlobalVariable(module, array_type, /*isConstant=*/true, llvm::GlobalValue::InternalLinkage,
                                        llvm::ConstantArray::get(array_type, elems), name);
    gv->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    gv->setAlignment(llvm::Align(64));
    return gv;
  }
  llvm::Value* element(Builder& b, llvm::GlobalVariable* t, llvm::Value* index) const {
    return b.CreateInBoundsGEP(t->getValueType(), t, {b.getInt64(0), index});
  }
  llvm::Value* load_scalar(Builder& b, llvm::GlobalVariable* t, llvm::Value* index) const {
    auto* type = llvm::cast<llvm::ArrayType>(t->getValueType())->getElementType();
    return b.CreateAlignedLoad(type, element(b, t, index), llvm::Align(type->getPrimitiveSizeInBits() / 8));
  }
  llvm::Value* load_vector(Builder& b, llvm::GlobalVariable* t, llvm::Value* index) const {
    auto* type = llvm::cast<llvm::ArrayType>(t->getValueType())->getElementType();
    auto* vt = llvm::FixedVectorType::get(type, kLanes);
    return b.CreateAlignedLoad(vt, b.CreateBitCast(element(b, t, index), vt->getPointerTo()),
                               llvm::Align(type->getPrimitiveSizeInBits() / 8));
  }

  // Scratch from the C library: aligned_alloc(64, bytes) / free.
  llvm::Value* alloc(Builder& b, int64_t bytes) const {
    auto* i8ptr = b.getInt8PtrTy();
    auto fn = module.getOrInsertFunction("aligned_alloc", llvm::FunctionType::get(i8ptr, {b.getInt64Ty(), b.getInt64Ty()}, false));
    llvm::Value* p = b.CreateCall(fn, {b.getInt64(64), b.getInt64(static_cast<uint64_t>(round_up(std::max<int64_t>(bytes, 64), 64)))});
    return b.CreateBitCast(p, f32->getPointerTo());
  }
  void release(Builder& b, llvm::Value* p) const {
    auto* i8ptr = b.getInt8PtrTy();
    auto fn = module.getOrInsertFunction("free", llvm::FunctionType::get(b.getVoidTy(), {i8ptr}, false));
    b.CreateCall(fn, {b.CreateBitCast(p, i8ptr)});
  }

  // Accumulators: allocas in the entry block (SROA turns them into registers).
  llvm::Value* slot(Builder& b, llvm::Type* type) const {
    llvm::Function* f = b.GetInsertBlock()->getParent();
    Builder eb(&f->getEntryBlock(), f->getEntryBlock().begin());
    return eb.CreateAlloca(type);
  }
};

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

// 8 vectors a[c] of 16 floats -> 16 vectors of 8: out[l][c] = a[c][l] (unpack, 64-bit shuffles,
// then one lane-pair shuffle per output: vunpck*ps / vshuff64x2 on AVX-512).
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

llvm::Value* c64(Builder& b, int64_t v) { return b.getInt64(static_cast<uint64_t>(v)); }
llvm::Value* min64(Builder& b, llvm::Value* x, llvm::Value* y) { return b.CreateSelect(b.CreateICmpSLT(x, y), x, y); }

std::string unique_prefix(Builder& b, const std::string& tag) {
  return b.GetInsertBlock()->getParent()->getName().str() + "." + tag;
}

// ---------------------------------------------------------------------------------------
// Row statistics: conv2d's BatchNorm statistics (mean and biased variance of each output
// channel over all positions) in the GEMM's epilogue. Each work item sums the values and the
// squares of the block it writes, per row, while they are still in registers (in float over
// a direct item's <= 64 columns or an im2col panel's 32, in double beyond) into its own slot of
// partials[item][2][RB] (sums, then squares, of the RB rows the item may own): no atomics,
// no second read of the output. The values are taken before the bias is added: shifted by
// it, as bn_stats shifts by a channel's first element, so a large bias does not cancel in
// Q/n - mean². After the parallel loop a serial finalize adds the slots of each row block in
// item order (deterministic) and writes mean = bias + S/n, var = max(Q/n - (S/n)², 0).

struct RowStats {
  llvm::Value* partials = nullptr;  // double*, [items][2][RB]; null: no statistics
  int64_t RB = 0;                   // rows per slot
  // The items that own rows [rb*RB, (rb + 1)*RB) of group g: g*ig + rb*ir + j*ij, j in [0, J).
  int64_t ig = 0, ir = 0, ij = 0, J = 0;
};

llvm::Value* at_f64(Builder& b, llvm::Value* p, llvm::Value* i) { return b.CreateGEP(b.getDoubleTy(), p, i); }

// The slots, allocated at the builder's position (one per item).
RowStats row_stats(const Ir& ir, Builder& b, int64_t items, int64_t RB, int64_t ig, int64_t irb, int64_t ij, int64_t J) {
  llvm::Value* partials = b.CreateBitCast(ir.alloc(b, items * 2 * RB * 8), b.getDoubleTy()->getPointerTo());
  return {partials, RB, ig, irb, ij, J};
}

// stats[c] = mean, stats[groups*rows + c] = biased variance of row c = g*rows + row (bias: the
// kernel's, or null); frees the slots.
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

// v[0] + v[1] + ... as a tree (short dependency chains).
llvm::Value* tree_sum(Builder& b, std::vector<llvm::Value*> v) {
  while (v.size() > 1) {
    std::vector<llvm::Value*> next;
    for (size_t i = 0; i + 1 < v.size(); i += 2) next.push_back(b.CreateFAdd(v[i], v[i + 1]));
    if (v.size() % 2) next.push_back(v.back());
    v = std::move(next);
  }
  return v.front();
}

// ---------------------------------------------------------------------------------------
// WindowGemm

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

// A set of columns (output positions of all images) computed with the same taps: the taps
// outside [h0, h1) x [w0, w1) only ever meet padding there, so they are left out of k.
struct WindowClass {
  int64_t h0 = 0, h1 = 0, w0 = 0, w1 = 0, T = 0;
  std::vector<std::array<int64_t, 3>> cols;  // (n, qh, qw)
  int64_t first_panel = 0, panels = 0;
  int64_t block_panels = 1, first_block = 0, blocks = 0;  // column blocks of block_panels panels
  int64_t runs = 0;  // contiguous output runs per vector; 0: scatter
  llvm::GlobalVariable* run_base = nullptr;  // [local vector * runs + r]: output offset of lane 0
  llvm::GlobalVariable* run_mask = nullptr;  // [local vector * runs + r]: i16 lane mask
};

struct WindowPlan {
  int64_t NP = 0, NBLK = 0, MB = 0, MBn = 1, items = 0, Mfull = 0, Mtail = 0, Kmax = 0;
  std::vector<WindowClass> classes;
  // Per column (global index, each class padded to whole panels):
  llvm::GlobalVariable* in_base = nullptr;  // n*in_n + y0*in_w + x0
  llvm::GlobalVariable* y0 = nullptr;       // qh*in_sh (a huge negative past a class's end)
  llvm::GlobalVariable* x0 = nullptr;       // qw*in_sw
  llvm::GlobalVariable* col_off = nullptr;  // output offset (group and row excluded), -1 past the end
};

constexpr int64_t kMinClassColumns = 2 * kNR;  // smaller classes join the all-taps class
constexpr int64_t kIm2colUnrollBudget = 200;  // unrolled taps, summed over classes, before merging them
constexpr int64_t kBlockBytes = 512 * 1024;     // packed column block, kept in L2 across row blocks

void window_classes(const WindowGemm& d, WindowPlan& p, bool merge_small = true) {
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
  if (merge_small && unrolled > kIm2colUnrollBudget) {
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
  llvm::Value* in_g = ir.at(b, in, b.CreateMul(g, c64(b, d.in_g)));
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
          ir.vstore(b, ir.gather(b, in_g, b.CreateAdd(index[v], channel), mask[v]), ir.at(b, dst, v * kLanes), 64);
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    }
  }
}

// Accumulators of one mr x 32 block: allocas in the entry block, which SROA promotes to registers.
std::vector<llvm::Value*> make_acc(const Ir& ir, Builder& b, int64_t mr) {
  std::vector<llvm::Value*> acc(static_cast<size_t>(mr * kNV));
  for (auto& s : acc) s = ir.slot(b, ir.vf);
  return acc;
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


// ---------------------------------------------------------------------------------------
// WindowGemm, rows in vector lanes ("direct"): out[g][rows r..r+32][col] for 8 columns at a
// time, broadcasting the image operand straight from the input (no im2col: every tap of a
// class is inside the image for all of its columns) against A packed once per call as
// [g][32-row panel][kc][tap][32]. Stores are scatters (rows are out_row apart).

constexpr int64_t kDC = 8;                 // columns per microkernel
constexpr int64_t kDGroup = 8;             // microkernels per work item
constexpr int64_t kDRows = kLanes * kNV;   // rows per panel
constexpr int64_t kDirectUnrollBudget = 160;  // unrolled taps, summed over classes, before rolling

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
// block's row sums and squares to them.
void direct_micro(const Ir& ir, Builder& b, const WindowGemm& d, const DirectPlan& p, const DirectPlan::Class& c,
                  llvm::Value* apanel, llvm::Value* in_g, llvm::Value* bias, llvm::Value* out_g, llvm::Value* rp,
                  llvm::Value* g, llvm::Value* col0, const DirectStats* stats, llvm::Value* h0v = nullptr,
                  llvm::Value* h1v = nullptr) {
  const auto TW = static_cast<int64_t>(d.tap_w.size());
  std::vector<llvm::Value*> base(kDC);
  for (int64_t r = 0; r < kDC; ++r)
    base[static_cast<size_t>(r)] = ir.at(b, in_g, b.CreateSExt(ir.load_scalar(b, p.col_base, b.CreateAdd(col0, c64(b, r))), b.getInt64Ty()));
  auto acc = make_acc(ir, b, kDC);
  for (auto* slot : acc) b.CreateStore(ir.fzero(), slot);
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
      for (int64_t r = 0; r < kDC; ++r) {
        llvm::Value* x = b.CreateAlignedLoad(ir.f32, ir.at(b, ir.at(b, base[static_cast<size_t>(r)], in_off), toff), llvm::Align(4));
        llvm::Value* splat = b.CreateVectorSplat(kLanes, x);
        for (int64_t v = 0; v < kNV; ++v) {
          auto i = static_cast<size_t>(r * kNV + v);
          s[i] = ir.fma(b, splat, av[v], s[i]);
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

void emit_direct(KernelBody& k, const WindowGemm& d, const WindowPlan& classes, llvm::Value* a, llvm::Value* in,
                 llvm::Value* bias, llvm::Value* out, llvm::Value* stats, const std::string& prefix, bool wide) {
  Builder& b = k.b;
  Ir ir(k.module, wide);
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

  // A, packed: [g][rp][kc][tap][32 rows], zero past the last row.
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
          for (int64_t t = 0; t < p.T; ++t)
            ir.vstore(bb, ir.gather(bb, ir.at(bb, src, d.tap_a[static_cast<size_t>(t)]), index, mask),
                      ir.at(bb, dst, t * kDRows + v * kLanes), 64);
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
              direct_micro(ir, bb, d, p, c, apanel, in_g, bias_, out_g, rp, g, col0, stats_);
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
          direct_micro(ir, bb, d, p, c, apanel, in_g, bias_, out_g, rp, g, col0, stats_, h0, h1);
        }, LoopHints{.no_vectorize = true, .no_unroll = true});
        bb.CreateBr(done);
      }
      bb.SetInsertPoint(done);
      store_stats();
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
  ir.release(b, apack);
  if (st.partials) finalize_row_stats(ir, b, d, st, bias, stats);
}

}  // namespace

void emit_window_gemm(KernelBody& k, const WindowGemm& d, llvm::Value* a, llvm::Value* in, llvm::Value* bias,
                      llvm::Value* out, llvm::Value* stats, const std::string& tag) {
  Builder& b = k.b;
  if (static_cast<int64_t>(d.tap_a.size()) != static_cast<int64_t>(d.tap_h.size() * d.tap_w.size()))
    throw std::logic_error("WindowGemm: tap_a does not match the taps");
  if (d.batch * d.out_rows * d.out_cols == 0 || d.rows == 0 || d.groups == 0) return;
  const int threads = pool_threads();
  {
    // Rows in lanes ("direct") packs A once (rows x k) and scatters its outputs; columns in
    // lanes (im2col) gathers the image operand (columns x k) for every block of rows. Direct
    // wins unless there are few columns for many rows (ResNet's last stages on small images),
    // where packing all of A costs more than the convolution saves (measured with
    // bench/conv_kernels on AVX-512, both ways forced by RESNETC_CONV_PATH).
    WindowPlan exact;
    window_classes(d, exact, /*merge_small=*/false);
    const int64_t cols = d.batch * d.out_rows * d.out_cols;
    const char* force = std::getenv("RESNETC_CONV_PATH");  // "direct" or "im2col": for tests and benchmarks
    const bool use_direct = force ? std::string_view(force) == "direct" : cols * 4 > d.rows;
    if (use_direct) {
      int64_t extent = d.batch * std::abs(d.in_n) + (d.out_rows * d.in_sh + d.in_h) * d.in_w + d.out_cols * d.in_sw;
      int64_t out_extent = d.batch * std::abs(d.out_n) + d.rows * std::abs(d.out_row) + (d.out_rows * d.out_sh + 2) * d.out_w + d.out_cols * d.out_sw;
      const bool wide = std::max({extent, out_extent + kDRows * std::abs(d.out_row), round_up(d.rows, kDRows) * std::abs(d.a_row)}) >= (int64_t{1} << 31);
      return emit_direct(k, d, exact, a, in, bias, out, stats, unique_prefix(b, tag), wide);
    }
  }
  WindowPlan p;
  window_classes(d, p);
  const int64_t blocks = d.groups * p.NBLK;
  if (blocks < 4 * threads) p.MBn = std::min(ceil_div(d.rows, kMR), ceil_div(4 * threads, blocks));
  p.MB = round_up(ceil_div(d.rows, p.MBn), kMR);
  p.MBn = ceil_div(d.rows, p.MB);
  p.items = blocks * p.MBn;
  p.Mfull = d.rows / kMR * kMR;
  p.Mtail = d.rows - p.Mfull;

  // Per-column tables, and the contiguous runs of each class's output vectors.
  const auto padded = static_cast<size_t>(p.NP * kNR);
  std::vector<int64_t> in_base(padded, 0), y0(padded, std::numeric_limits<int32_t>::min() / 2), x0(padded, 0),
      off(padded, -1);
  int64_t max_abs = 0, in_extent = 0;
  for (const WindowClass& c : p.classes) {
    for (size_t i = 0; i < c.cols.size(); ++i) {
      const auto [n, qh, qw] = c.cols[i];
      const size_t col = static_cast<size_t>(c.first_panel * kNR) + i;
      y0[col] = qh * d.in_sh;
      x0[col] = qw * d.in_sw;
      in_base[col] = n * d.in_n + y0[col] * d.in_w + x0[col];
      off[col] = n * d.out_n + (qh * d.out_sh + d.out_oh) * d.out_w + qw * d.out_sw + d.out_ow;
      max_abs = std::max(max_abs, off[col]);
      in_extent = std::max(in_extent, std::abs(in_base[col]));
    }
  }
  for (int64_t t : d.tap_h) in_extent += std::abs(t) * d.in_w;
  for (int64_t t : d.tap_w) in_extent += std::abs(t);
  in_extent += (d.kouter + 1) * std::abs(d.in_c);
  const bool wide = std::max(in_extent, max_abs + kLanes) >= (int64_t{1} << 31);
  Ir ir(k.module, wide);
  const std::string prefix = unique_prefix(b, tag);
  bool any_scatter = false;
  for (size_t ci = 0; ci < p.classes.size(); ++ci) {
    WindowClass& c = p.classes[ci];
    std::vector<std::vector<std::pair<int64_t, int64_t>>> vector_runs(static_cast<size_t>(c.panels * kNV));  // (base, mask)
    int64_t runs = 0;
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
      runs = std::max(runs, static_cast<int64_t>(list.size()));
    }
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
  p.in_base = ir.table(prefix + ".in_base", ir.it, in_base);
  p.y0 = ir.table(prefix + ".y0", ir.it, y0);
  p.x0 = ir.table(prefix + ".x0", ir.it, x0);
  if (any_scatter) p.col_off = ir.table(prefix + ".col_off", ir.it, off);

  // Statistics: an item owns rows [mb*MB, mb*MB + MB) of its column block.
  RowStats st;
  if (stats) st = row_stats(ir, b, p.items, p.MB, p.NBLK * p.MBn, 1, p.MBn, p.NBLK);
  std::vector<llvm::Value*> captured{a, in, out};
  if (bias) captured.push_back(bias);
  if (st.partials) captured.push_back(st.partials);
  emit_parallel_for(b, k.pool, prefix, c64(b, p.items), captured,
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    llvm::Value* a_ = cap[0];
    llvm::Value* in_ = cap[1];
    llvm::Value* out_ = cap[2];
    llvm::Value* bias_ = bias ? cap[3] : nullptr;
    llvm::Value* partials = st.partials ? cap.back() : nullptr;
    llvm::Value* bpack = p.Kmax > 0 ? ir.alloc(bb, p.Kmax * kNR * 4) : nullptr;  // one column block
    llvm::Value* last = ir.slot(bb, bb.getInt64Ty());
    bb.CreateStore(c64(bb, -1), last);
    emit_for(bb, "item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      llvm::Value* mb = bb.CreateURem(item, c64(bb, p.MBn));
      llvm::Value* gb = bb.CreateUDiv(item, c64(bb, p.MBn));
      llvm::Value* blk = bb.CreateURem(gb, c64(bb, p.NBLK));
      llvm::Value* g = bb.CreateUDiv(gb, c64(bb, p.NBLK));
      llvm::Value* row0 = bb.CreateMul(mb, c64(bb, p.MB));
      llvm::Value* full_end = p.MBn == 1 ? c64(bb, p.Mfull) : min64(bb, bb.CreateAdd(row0, c64(bb, p.MB)), c64(bb, p.Mfull));
      llvm::Value* slot = partials ? at_f64(bb, partials, bb.CreateMul(item, c64(bb, 2 * p.MB))) : nullptr;
      if (slot) bb.CreateMemSet(slot, bb.getInt8(0), c64(bb, 2 * p.MB * 8), llvm::MaybeAlign(8));
      for (const WindowClass& c : p.classes) {
        auto run_class = [&] {
          // This item: panels [p0, p0 + np) of class c, rows of block mb.
          llvm::Value* local = bb.CreateSub(blk, c64(bb, c.first_block));
          llvm::Value* p0 = bb.CreateAdd(c64(bb, c.first_panel), bb.CreateMul(local, c64(bb, c.block_panels)));
          llvm::Value* np = min64(bb, c64(bb, c.block_panels), bb.CreateSub(c64(bb, c.first_panel + c.panels), p0));
          const int64_t panel_floats = c.T * d.kouter * kNR;
          if (panel_floats > 0) {
            emit_if(bb, bb.CreateICmpNE(gb, bb.CreateLoad(bb.getInt64Ty(), last)), [&] {
              emit_for(bb, "pack.panel", c64(bb, 0), np, c64(bb, 1), [&](llvm::Value* j) {
                window_pack(ir, bb, d, p, c, in_, g, bb.CreateAdd(p0, j), ir.at(bb, bpack, bb.CreateMul(j, c64(bb, panel_floats))));
              }, LoopHints{.no_vectorize = true, .no_unroll = true});
              bb.CreateStore(gb, last);
            });
          }
          auto block = [&](int64_t mr, llvm::Value* row) {
            emit_for(bb, "panel", c64(bb, 0), np, c64(bb, 1), [&](llvm::Value* j) {
              auto acc = make_acc(ir, bb, mr);
              llvm::Value* bp = panel_floats > 0 ? ir.at(bb, bpack, bb.CreateMul(j, c64(bb, panel_floats))) : nullptr;
              window_kloop(ir, bb, d, c, mr, a_, g, row, bp, acc);
              llvm::Value* stat_rows = slot ? at_f64(bb, slot, bb.CreateSub(row, row0)) : nullptr;
              window_store(ir, bb, d, p, c, mr, bias_, out_, g, row, bb.CreateAdd(p0, j), acc, stat_rows, p.MB);
            }, LoopHints{.no_vectorize = true, .no_unroll = true});
          };
          if (p.Mfull > 0)
            emit_for(bb, "rows", row0, full_end, c64(bb, kMR), [&](llvm::Value* row) { block(kMR, row); },
                     LoopHints{.no_vectorize = true, .no_unroll = true});
          if (p.Mtail > 0) {
            auto tail = [&] { block(p.Mtail, c64(bb, p.Mfull)); };
            if (p.MBn == 1) tail();
            else emit_if(bb, bb.CreateICmpEQ(mb, c64(bb, p.MBn - 1)), tail);
          }
        };
        if (p.classes.size() == 1) run_class();
        else emit_if(bb, bb.CreateICmpULT(bb.CreateSub(blk, c64(bb, c.first_block)), c64(bb, c.blocks)), run_class);
      }
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
    if (bpack) ir.release(bb, bpack);
  });
  if (st.partials) finalize_row_stats(ir, b, d, st, bias, stats);
}

namespace {

// ---------------------------------------------------------------------------------------
// WeightGrad, output channels in vector lanes ("direct"): a tile is 32 output channels x 8
// k's (k = (kc, kh, kw)); it sums over every output position in registers, broadcasting x
// straight from the input and reading dy from a transposed copy dyT[g][o/32][n, oh, ow][32]
// made once per call, then scatters its 8 x 32 results into dw. With 8 or more input
// channels a tile's k's share one tap, and each position class (gemm's WindowClass) only
// contributes to the taps it sees; with fewer, the k's are consecutive (kc, kh, kw) and x
// is read from a zero-padded copy.

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

void emit_weight_grad_direct(KernelBody& k, const WeightGrad& d, llvm::Value* dy, llvm::Value* x, llvm::Value* dw,
                             const std::string& tag) {
  Builder& b = k.b;
  GradDirect p;
  p.G = d.groups, p.Og = d.out_per_group, p.Cg = d.in_per_group, p.KK = d.kernel_h * d.kernel_w;
  p.Kconv = p.Cg * p.KK;
  p.OPn = ceil_div(p.Og, kDRows);
  p.P = d.out_h * d.out_w;
  p.padded = p.Cg < kGRows && p.KK > 1;
  const int64_t C = p.G * p.Cg, O = p.G * p.Og, HW = d.in_h * d.in_w;
  if (p.padded) {
    p.Hp = d.in_h + 2 * d.pad_h + d.stride_h;  // room for every tap of every output position
    p.Wp = d.in_w + 2 * d.pad_w + d.stride_w;
    p.Hp = std::max(p.Hp, (d.out_h - 1) * d.stride_h + (d.kernel_h - 1) * d.dilation_h + 1);
    p.Wp = std::max(p.Wp, (d.out_w - 1) * d.stride_w + (d.kernel_w - 1) * d.dilation_w + 1);
  }
  const bool wide = std::max(d.batch * C * std::max(HW, p.Hp * p.Wp), d.batch * O * p.P) >= (int64_t{1} << 31) - 1024;
  Ir ir(k.module, wide);
  const std::string prefix = unique_prefix(b, tag);

  // Columns: output positions, grouped by the taps they see (one group when padded).
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

  // dyT[g][op][n*P + p][32], zero past the last channel: 8 x 16 blocks of dy (8 channels, 16
  // positions) transposed in registers.
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
      llvm::Value* src = ir.at(bb, cap[0], bb.CreateAdd(bb.CreateMul(n, c64(bb, O * p.P)),
                                                       bb.CreateMul(bb.CreateAdd(bb.CreateMul(g, c64(bb, p.Og)), o0), c64(bb, p.P))));
      llvm::Value* dst = ir.at(bb, cap[1], bb.CreateMul(bb.CreateAdd(bb.CreateMul(gop, c64(bb, d.batch)), n), c64(bb, p.P * kDRows)));
      emit_for(bb, "pb", 0, ceil_div(p.P, kLanes), 1, [&](llvm::Value* pb) {
        llvm::Value* p0 = bb.CreateMul(pb, c64(bb, kLanes));
        llvm::Value* pmask = bb.CreateICmpSLT(bb.CreateAdd(ir.vsplat(bb, p0), ir.iota()), ir.vsplat(bb, p.P));
        for (int64_t h = 0; h < kDRows / 8; ++h) {
          llvm::Value* a[8];
          for (int64_t r = 0; r < 8; ++r) {
            llvm::Value* ok = bb.CreateICmpSLT(bb.CreateAdd(o0, c64(bb, 8 * h + r)), c64(bb, p.Og));
            llvm::Value* m = bb.CreateAnd(pmask, bb.CreateVectorSplat(kLanes, ok));
            a[r] = bb.CreateMaskedLoad(ir.vf, ir.vptr(bb, ir.at(bb, src, bb.CreateAdd(c64(bb, (8 * h + r) * p.P), p0))),
                                       llvm::Align(4), m, ir.fzero());
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

  // The zero-padded copy of x when the k's of a tile span several taps.
  llvm::Value* xsrc = x;
  llvm::Value* xpad = nullptr;
  if (p.padded) {
    xpad = ir.alloc(b, d.batch * C * p.Hp * p.Wp * 4);
    emit_parallel_for(b, k.pool, prefix + ".pad", c64(b, d.batch * C), {x, xpad},
                      [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
      emit_for(bb, "plane", begin, end, c64(bb, 1), [&](llvm::Value* plane) {
        llvm::Value* src = ir.at(bb, cap[0], bb.CreateMul(plane, c64(bb, HW)));
        llvm::Value* dst = ir.at(bb, cap[1], bb.CreateMul(plane, c64(bb, p.Hp * p.Wp)));
        emit_for(bb, "y", 0, p.Hp, 1, [&](llvm::Value* y) {
          llvm::Value* sy = bb.CreateSub(y, c64(bb, d.pad_h));
          llvm::Value* row_ok = bb.CreateICmpULT(sy, c64(bb, d.in_h));
          emit_for(bb, "x", 0, p.Wp, 1, [&](llvm::Value* xx) {
            llvm::Value* sx = bb.CreateSub(xx, c64(bb, d.pad_w));
            llvm::Value* ok = bb.CreateAnd(row_ok, bb.CreateICmpULT(sx, c64(bb, d.in_w)));
            llvm::Value* at = bb.CreateSelect(ok, bb.CreateAdd(bb.CreateMul(sy, c64(bb, d.in_w)), sx), c64(bb, 0));
            llvm::Value* v = bb.CreateSelect(ok, bb.CreateAlignedLoad(ir.f32, ir.at(bb, src, at), llvm::Align(4)), f32(bb, 0));
            bb.CreateAlignedStore(v, ir.at(bb, dst, bb.CreateAdd(bb.CreateMul(y, c64(bb, p.Wp)), xx)), llvm::Align(4));
          }, LoopHints{.vectorize = true});
        }, LoopHints{.no_vectorize = true});
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    });
    xsrc = xpad;
  }

  // Tiles: (g, k block, o panel); a work item is one o panel and up to kGBlocks k blocks, which
  // walk the columns in chunks (so dyT's chunk stays in L2 across them) with their
  // accumulators parked in a small scratch between chunks.
  //  * not padded: k block = (tap, 8 input channels from kc0): x offsets r*XHW from
  //    kc0*XHW + tap_x[tap], dw columns (kc0 + r)*KK + tap; the columns that see the tap come
  //    from per-tap range tables. One microkernel (and one for the channel tail).
  //  * padded: k block = 8 consecutive (kc, kh, kw); one switch case per block (few: Cg < 8).
  const int64_t per_tap = ceil_div(p.Cg, kGRows);
  const int64_t KB = p.padded ? ceil_div(p.Kconv, kGRows) : p.KK * per_tap;
  const int64_t CH = p.cols <= 2 * kGChunk ? p.cols : kGChunk;
  const int64_t NCH = ceil_div(p.cols, CH);
  const int64_t KBG = std::min<int64_t>(KB, NCH == 1 ? 1 : kGBlocks);
  const int64_t KGn = ceil_div(KB, KBG);
  const int64_t items = p.G * p.OPn * KGn;
  const int64_t XHW = p.padded ? p.Hp * p.Wp : HW;

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
  llvm::GlobalVariable* t_x = p.padded ? nullptr : ir.table(prefix + ".tap_x", ir.it, tap_x);
  llvm::GlobalVariable* t_rb = p.padded ? nullptr : ir.table(prefix + ".tap_rb", ir.it, tap_rb);
  llvm::GlobalVariable* t_re = p.padded ? nullptr : ir.table(prefix + ".tap_re", ir.it, tap_re);
  llvm::GlobalVariable* t_lo = p.padded ? nullptr : ir.table(prefix + ".rng_lo", ir.it, rng_lo);
  llvm::GlobalVariable* t_hi = p.padded ? nullptr : ir.table(prefix + ".rng_hi", ir.it, rng_hi);

  // Taps no output position sees have a zero gradient: zeroed here, skipped by the tiles.
  if (std::find(dead.begin(), dead.end(), true) != dead.end()) {
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

  emit_parallel_for(b, k.pool, prefix, c64(b, items), {xsrc, dyt, dw},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    llvm::Value* park = NCH > 1 ? ir.alloc(bb, KBG * kGRows * kNV * kLanes * 4) : nullptr;
    llvm::Function* f = bb.GetInsertBlock()->getParent();
    emit_for(bb, "item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      // k groups innermost: a thread's items share dyT's panel, and threads write disjoint
      // rows of dw (tiles of one row interleave within cache lines).
      llvm::Value* kg = bb.CreateURem(item, c64(bb, KGn));
      llvm::Value* gop = bb.CreateUDiv(item, c64(bb, KGn));
      llvm::Value* op = bb.CreateURem(gop, c64(bb, p.OPn));
      llvm::Value* g = bb.CreateUDiv(gop, c64(bb, p.OPn));
      llvm::Value* xg = ir.at(bb, cap[0], bb.CreateMul(g, c64(bb, p.Cg * XHW)));
      llvm::Value* dyt_panel = ir.at(bb, cap[1], bb.CreateMul(bb.CreateAdd(bb.CreateMul(g, c64(bb, p.OPn)), op), c64(bb, d.batch * p.P * kDRows)));
      llvm::Value* o0 = bb.CreateMul(op, c64(bb, kDRows));
      llvm::Value* dw_g = ir.at(bb, cap[2], bb.CreateMul(bb.CreateAdd(bb.CreateMul(g, c64(bb, p.Og)), o0), c64(bb, p.Kconv)));
      llvm::Value* kb0 = bb.CreateMul(kg, c64(bb, KBG));
      llvm::Value* nkb = min64(bb, c64(bb, KBG), bb.CreateSub(c64(bb, KB), kb0));

      // One k block: x offsets koff (from base), dw columns dcol (from dw_g), column ranges [lo, hi) read
      // from the tables between rb and re (or all columns), accumulators from/to the park slot j.
      auto tile = [&](llvm::Value* j, llvm::Value* base, const std::vector<int64_t>& koff, llvm::Value* dw_cols,
                      const std::vector<int64_t>& dcol, llvm::Value* rb, llvm::Value* re, llvm::Value* lo,
                      llvm::Value* hi, llvm::Value* first, bool final_store) {
        const auto mr = static_cast<int64_t>(koff.size());
        auto acc = make_acc(ir, bb, mr);
        auto parked = [&](size_t i) {
          return ir.at(bb, park, bb.CreateAdd(bb.CreateMul(j, c64(bb, kGRows * kNV * kLanes)), c64(bb, static_cast<int64_t>(i) * kLanes)));
        };
        if (lo) {
          for (size_t i = 0; i < acc.size(); ++i) {
            llvm::Value* init = park ? bb.CreateSelect(first, ir.fzero(), ir.vload(bb, parked(i), 64)) : ir.fzero();
            bb.CreateStore(init, acc[i]);
          }
          auto columns = [&](llvm::Value* c0, llvm::Value* c1) {
            llvm::Value* from = bb.CreateSelect(bb.CreateICmpSGT(lo, c0), lo, c0);
            llvm::Value* to = min64(bb, hi, c1);
            grad_direct_loop(ir, bb, p, base, dyt_panel, from, to, koff, acc);
          };
          if (rb) {
            emit_for(bb, "range", rb, re, c64(bb, 1), [&](llvm::Value* ri) {
              columns(bb.CreateSExt(ir.load_scalar(bb, t_lo, ri), bb.getInt64Ty()),
                      bb.CreateSExt(ir.load_scalar(bb, t_hi, ri), bb.getInt64Ty()));
            }, LoopHints{.no_vectorize = true, .no_unroll = true});
          } else {
            columns(c64(bb, 0), c64(bb, p.cols));
          }
          if (!final_store)
            for (size_t i = 0; i < acc.size(); ++i) ir.vstore(bb, bb.CreateLoad(ir.vf, acc[i]), parked(i), 64);
        } else {
          for (size_t i = 0; i < acc.size(); ++i) bb.CreateStore(ir.vload(bb, parked(i), 64), acc[i]);
        }
        if (!final_store) return;
        for (int64_t v = 0; v < kNV; ++v) {
          llvm::Value* o = bb.CreateAdd(ir.vsplat(bb, bb.CreateAdd(o0, c64(bb, v * kLanes))), ir.iota());
          llvm::Value* mask = bb.CreateICmpSLT(o, ir.vsplat(bb, p.Og));
          llvm::Value* index = bb.CreateMul(bb.CreateAdd(ir.iota(), ir.vsplat(bb, v * kLanes)), ir.vsplat(bb, p.Kconv));
          for (int64_t r = 0; r < mr; ++r)
            bb.CreateMaskedScatter(bb.CreateLoad(ir.vf, acc[static_cast<size_t>(r * kNV + v)]),
                                   bb.CreateGEP(ir.f32, ir.at(bb, dw_cols, dcol[static_cast<size_t>(r)]), index), llvm::Align(4), mask);
        }
      };

      // Runs tile(...) for k block kb0 + j, lo/hi the column chunk (null: the final store pass).
      auto kblock = [&](llvm::Value* j, llvm::Value* lo, llvm::Value* hi, llvm::Value* first, bool final_store) {
        llvm::Value* kb = bb.CreateAdd(kb0, j);
        if (p.padded) {
          auto* done = llvm::BasicBlock::Create(bb.getContext(), "kblock.done", f);
          auto* sw = bb.CreateSwitch(kb, done, static_cast<unsigned>(KB));
          for (int64_t blk = 0; blk < KB; ++blk) {
            auto* case_block = llvm::BasicBlock::Create(bb.getContext(), "kblock", f, done);
            sw->addCase(llvm::cast<llvm::ConstantInt>(c64(bb, blk)), case_block);
            bb.SetInsertPoint(case_block);
            std::vector<int64_t> koff, dcol;
            for (int64_t kk = blk * kGRows; kk < std::min(p.Kconv, (blk + 1) * kGRows); ++kk) {
              int64_t kc = kk / p.KK, kh = kk % p.KK / d.kernel_w, kw = kk % d.kernel_w;
              dcol.push_back(kk);
              koff.push_back(kc * XHW + kh * d.dilation_h * p.Wp + kw * d.dilation_w);
            }
            tile(j, xg, koff, dw_g, dcol, nullptr, nullptr, lo, hi, first, final_store);
            bb.CreateBr(done);
          }
          bb.SetInsertPoint(done);
          return;
        }
        llvm::Value* tap = bb.CreateUDiv(kb, c64(bb, per_tap));
        llvm::Value* kc0 = bb.CreateMul(bb.CreateURem(kb, c64(bb, per_tap)), c64(bb, kGRows));
        llvm::Value* rb = bb.CreateSExt(ir.load_scalar(bb, t_rb, tap), bb.getInt64Ty());
        llvm::Value* re = bb.CreateSExt(ir.load_scalar(bb, t_re, tap), bb.getInt64Ty());
        emit_if(bb, bb.CreateICmpNE(rb, re), [&] {  // else: a dead tap, zeroed already
          llvm::Value* base = ir.at(bb, xg, bb.CreateAdd(bb.CreateMul(kc0, c64(bb, XHW)),
                                                         bb.CreateSExt(ir.load_scalar(bb, t_x, tap), bb.getInt64Ty())));
          llvm::Value* dw_cols = ir.at(bb, dw_g, bb.CreateAdd(bb.CreateMul(kc0, c64(bb, p.KK)), tap));
          auto variant = [&](int64_t mr) {
            std::vector<int64_t> koff, dcol;
            for (int64_t r = 0; r < mr; ++r) {
              koff.push_back(r * XHW);
              dcol.push_back(r * p.KK);
            }
            tile(j, base, koff, dw_cols, dcol, rb, re, lo, hi, first, final_store);
          };
          const int64_t tail = p.Cg % kGRows;
          if (tail == 0 || p.Cg < kGRows) {
            variant(std::min(p.Cg, kGRows));
          } else {
            llvm::Function* fn = bb.GetInsertBlock()->getParent();
            auto* full_b = llvm::BasicBlock::Create(bb.getContext(), "full", fn);
            auto* tail_b = llvm::BasicBlock::Create(bb.getContext(), "tail", fn);
            auto* join = llvm::BasicBlock::Create(bb.getContext(), "join", fn);
            bb.CreateCondBr(bb.CreateICmpSLE(bb.CreateAdd(kc0, c64(bb, kGRows)), c64(bb, p.Cg)), full_b, tail_b);
            bb.SetInsertPoint(full_b);
            variant(kGRows);
            bb.CreateBr(join);
            bb.SetInsertPoint(tail_b);
            variant(tail);
            bb.CreateBr(join);
            bb.SetInsertPoint(join);
          }
        });
      };

      if (NCH == 1) {
        emit_for(bb, "kb", c64(bb, 0), nkb, c64(bb, 1), [&](llvm::Value* j) {
          kblock(j, c64(bb, 0), c64(bb, p.cols), bb.getTrue(), true);
        }, LoopHints{.no_vectorize = true, .no_unroll = true});
        return;
      }
      emit_for(bb, "chunk", 0, NCH, 1, [&](llvm::Value* ch) {
        llvm::Value* lo = bb.CreateMul(ch, c64(bb, CH));
        llvm::Value* hi = min64(bb, bb.CreateAdd(lo, c64(bb, CH)), c64(bb, p.cols));
        llvm::Value* first = bb.CreateICmpEQ(ch, c64(bb, 0));
        emit_for(bb, "kb", c64(bb, 0), nkb, c64(bb, 1), [&](llvm::Value* j) { kblock(j, lo, hi, first, false); },
                 LoopHints{.no_vectorize = true, .no_unroll = true});
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
      emit_for(bb, "kb", c64(bb, 0), nkb, c64(bb, 1), [&](llvm::Value* j) { kblock(j, nullptr, nullptr, nullptr, true); },
               LoopHints{.no_vectorize = true, .no_unroll = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
    if (park) ir.release(bb, park);
  });
  ir.release(b, dyt);
  if (xpad) ir.release(b, xpad);
}

}  // namespace

void emit_weight_grad(KernelBody& k, const WeightGrad& d, llvm::Value* dy, llvm::Value* x, llvm::Value* dw,
                      const std::string& tag) {
  if (d.in_per_group == 0 || d.out_per_group == 0 || d.groups == 0) return;
  emit_weight_grad_direct(k, d, dy, x, dw, tag);
}

}  // namespace resnetc::codegen::llvm_backend
