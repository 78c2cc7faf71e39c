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
constexpr int64_t kGradLanesBlock = 256;  // weight-gradient lanes per task block
constexpr int64_t kGradChunk = 256;       // weight-gradient positions per packed chunk

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

llvm::Value* c64(Builder& b, int64_t v) { return b.getInt64(static_cast<uint64_t>(v)); }
llvm::Value* min64(Builder& b, llvm::Value* x, llvm::Value* y) { return b.CreateSelect(b.CreateICmpSLT(x, y), x, y); }

std::string unique_prefix(Builder& b, const std::string& tag) {
  return b.GetInsertBlock()->getParent()->getName().str() + "." + tag;
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

// Epilogue of an mr x 32 block: bias, then stores by contiguous runs or a scatter.
void window_store(const Ir& ir, Builder& b, const WindowGemm& d, const WindowPlan& p, const WindowClass& c, int64_t mr,
                  llvm::Value* bias, llvm::Value* out, llvm::Value* g, llvm::Value* row, llvm::Value* panel,
                  const std::vector<llvm::Value*>& acc) {
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
}


// ---------------------------------------------------------------------------------------
// WindowGemm, rows in vector lanes ("direct"): out[g][rows r..r+32][col] for 8 columns at a
// time, broadcasting the image operand straight from the input (no im2col: every tap of a
// class is inside the image for all of its columns) against A packed once per call as
// [g][32-row panel][kc][tap][32]. Stores are scatters (rows are out_row apart).

constexpr int64_t kDC = 8;                 // columns per microkernel
constexpr int64_t kDGroup = 8;             // microkernels per work item
constexpr int64_t kDRows = kLanes * kNV;   // rows per panel

struct DirectPlan {
  int64_t RPn = 0, T = 0, groups_total = 0, items = 0;
  struct Class {
    int64_t h0, h1, w0, w1;
    int64_t first_col, blocks, first_group, groups;
  };
  std::vector<Class> classes;
  llvm::GlobalVariable* col_base = nullptr;  // per column: n*in_n + qh*in_sh*in_w + qw*in_sw
  llvm::GlobalVariable* col_off = nullptr;   // per column: output offset (group and row excluded)
};

void direct_micro(const Ir& ir, Builder& b, const WindowGemm& d, const DirectPlan& p, const DirectPlan::Class& c,
                  llvm::Value* apanel, llvm::Value* in_g, llvm::Value* bias, llvm::Value* out_g, llvm::Value* rp,
                  llvm::Value* g, llvm::Value* col0) {
  const auto TW = static_cast<int64_t>(d.tap_w.size());
  std::vector<llvm::Value*> base(kDC);
  for (int64_t r = 0; r < kDC; ++r)
    base[static_cast<size_t>(r)] = ir.at(b, in_g, b.CreateSExt(ir.load_scalar(b, p.col_base, b.CreateAdd(col0, c64(b, r))), b.getInt64Ty()));
  auto acc = make_acc(ir, b, kDC);
  for (auto* slot : acc) b.CreateStore(ir.fzero(), slot);
  const int64_t T = (c.h1 - c.h0) * (c.w1 - c.w0);
  if (T > 0 && d.kouter > 0) {
    LoopHints hints{.no_vectorize = true};
    if (T == 1) hints.unroll = 4; else hints.no_unroll = true;
    emit_for(b, "dkc", 0, d.kouter, 1, [&](llvm::Value* kc) {
      llvm::Value* ap = ir.at(b, apanel, b.CreateMul(kc, c64(b, p.T * kDRows)));
      llvm::Value* koff = b.CreateMul(kc, c64(b, d.in_c));
      std::vector<llvm::Value*> s(acc.size());
      for (size_t i = 0; i < acc.size(); ++i) s[i] = b.CreateLoad(ir.vf, acc[i]);
      for (int64_t th = c.h0; th < c.h1; ++th) {
        for (int64_t tw = c.w0; tw < c.w1; ++tw) {
          const int64_t t = th * TW + tw;
          const int64_t toff = d.tap_h[static_cast<size_t>(th)] * d.in_w + d.tap_w[static_cast<size_t>(tw)];
          llvm::Value* av[kNV];
          for (int64_t v = 0; v < kNV; ++v) av[v] = ir.vload(b, ir.at(b, ap, t * kDRows + v * kLanes), 64);
          for (int64_t r = 0; r < kDC; ++r) {
            llvm::Value* x = b.CreateAlignedLoad(ir.f32, ir.at(b, ir.at(b, base[static_cast<size_t>(r)], koff), toff), llvm::Align(4));
            llvm::Value* splat = b.CreateVectorSplat(kLanes, x);
            for (int64_t v = 0; v < kNV; ++v) {
              auto i = static_cast<size_t>(r * kNV + v);
              s[i] = ir.fma(b, splat, av[v], s[i]);
            }
          }
        }
      }
      for (size_t i = 0; i < acc.size(); ++i) b.CreateStore(s[i], acc[i]);
    }, hints);
  }
  // Epilogue: rows rp*32 + [0, 32) of each column, out_row apart: masked scatters.
  for (int64_t v = 0; v < kNV; ++v) {
    llvm::Value* rows = b.CreateAdd(ir.vsplat(b, b.CreateAdd(b.CreateMul(rp, c64(b, kDRows)), c64(b, v * kLanes))), ir.iota());
    llvm::Value* mask = b.CreateICmpSLT(rows, ir.vsplat(b, d.rows));
    llvm::Value* row_off = b.CreateMul(rows, ir.vsplat(b, d.out_row));
    llvm::Value* bias_v = nullptr;
    if (bias) {
      llvm::Value* first = b.CreateAdd(b.CreateMul(g, c64(b, d.rows)), b.CreateAdd(b.CreateMul(rp, c64(b, kDRows)), c64(b, v * kLanes)));
      bias_v = b.CreateMaskedLoad(ir.vf, ir.vptr(b, ir.at(b, bias, first)), llvm::Align(4), mask, ir.fzero());
    }
    for (int64_t r = 0; r < kDC; ++r) {
      llvm::Value* val = b.CreateLoad(ir.vf, acc[static_cast<size_t>(r * kNV + v)]);
      if (bias_v) val = b.CreateFAdd(val, bias_v);
      llvm::Value* off = ir.load_scalar(b, p.col_off, b.CreateAdd(col0, c64(b, r)));
      llvm::Value* index = b.CreateAdd(row_off, ir.vsplat(b, off));
      b.CreateMaskedScatter(val, b.CreateGEP(ir.f32, out_g, index), llvm::Align(4), mask);
    }
  }
}

void emit_direct(KernelBody& k, const WindowGemm& d, const WindowPlan& classes, llvm::Value* a, llvm::Value* in,
                 llvm::Value* bias, llvm::Value* out, const std::string& prefix, bool wide) {
  Builder& b = k.b;
  Ir ir(k.module, wide);
  DirectPlan p;
  p.RPn = ceil_div(d.rows, kDRows);
  p.T = static_cast<int64_t>(d.tap_h.size() * d.tap_w.size());
  std::vector<int64_t> col_base, col_off;
  int64_t group = 0;
  for (const WindowClass& wc : classes.classes) {
    DirectPlan::Class c{wc.h0, wc.h1, wc.w0, wc.w1, static_cast<int64_t>(col_base.size()), 0, group, 0};
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

  std::vector<llvm::Value*> captured{apack, in, out};
  if (bias) captured.push_back(bias);
  p.items = d.groups * p.groups_total * p.RPn;
  emit_parallel_for(b, k.pool, prefix, c64(b, p.items), captured,
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    llvm::Value* bias_ = cap.size() > 3 ? cap[3] : nullptr;
    emit_for(bb, "item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      llvm::Value* rp = bb.CreateURem(item, c64(bb, p.RPn));
      llvm::Value* rest = bb.CreateUDiv(item, c64(bb, p.RPn));
      llvm::Value* grp = bb.CreateURem(rest, c64(bb, p.groups_total));
      llvm::Value* g = bb.CreateUDiv(rest, c64(bb, p.groups_total));
      llvm::Value* apanel = ir.at(bb, cap[0], bb.CreateMul(bb.CreateAdd(bb.CreateMul(g, c64(bb, p.RPn)), rp), c64(bb, panel_floats)));
      llvm::Value* in_g = ir.at(bb, cap[1], bb.CreateMul(g, c64(bb, d.in_g)));
      llvm::Value* out_g = ir.at(bb, cap[2], bb.CreateMul(g, c64(bb, d.out_g)));
      for (const DirectPlan::Class& c : p.classes) {
        auto run_class = [&] {
          llvm::Value* local = bb.CreateSub(grp, c64(bb, c.first_group));
          llvm::Value* blk0 = bb.CreateMul(local, c64(bb, kDGroup));
          llvm::Value* nblk = min64(bb, c64(bb, kDGroup), bb.CreateSub(c64(bb, c.blocks), blk0));
          emit_for(bb, "blk", c64(bb, 0), nblk, c64(bb, 1), [&](llvm::Value* j) {
            llvm::Value* col0 = bb.CreateAdd(c64(bb, c.first_col), bb.CreateMul(bb.CreateAdd(blk0, j), c64(bb, kDC)));
            direct_micro(ir, bb, d, p, c, apanel, in_g, bias_, out_g, rp, g, col0);
          }, LoopHints{.no_vectorize = true, .no_unroll = true});
        };
        if (p.classes.size() == 1) run_class();
        else emit_if(bb, bb.CreateICmpULT(bb.CreateSub(grp, c64(bb, c.first_group)), c64(bb, c.groups)), run_class);
      }
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
  ir.release(b, apack);
}

}  // namespace

void emit_window_gemm(KernelBody& k, const WindowGemm& d, llvm::Value* a, llvm::Value* in, llvm::Value* bias,
                      llvm::Value* out, const std::string& tag) {
  Builder& b = k.b;
  if (static_cast<int64_t>(d.tap_a.size()) != static_cast<int64_t>(d.tap_h.size() * d.tap_w.size()))
    throw std::logic_error("WindowGemm: tap_a does not match the taps");
  if (d.batch * d.out_rows * d.out_cols == 0 || d.rows == 0 || d.groups == 0) return;
  const int threads = pool_threads();
  {
    // Rows in lanes ("direct") packs A once (rows x k) and scatters the outputs (rows x
    // columns); columns in lanes (im2col) gathers the image operand (columns x k). Take the
    // one that moves fewer elements.
    WindowPlan exact;
    window_classes(d, exact, /*merge_small=*/false);
    const int64_t cols = d.batch * d.out_rows * d.out_cols;
    int64_t im2col = 0;
    for (const WindowClass& c : exact.classes) im2col += static_cast<int64_t>(c.cols.size()) * c.T * d.kouter;
    const int64_t direct = round_up(d.rows, kDRows) * static_cast<int64_t>(d.tap_a.size()) * d.kouter + 2 * cols * d.rows;
    const char* force = std::getenv("RESNETC_CONV_PATH");  // "direct" or "im2col": for tests and benchmarks
    bool use_direct = force ? std::string_view(force) == "direct" : direct < im2col;
    if (use_direct) {
      int64_t extent = d.batch * std::abs(d.in_n) + (d.out_rows * d.in_sh + d.in_h) * d.in_w + d.out_cols * d.in_sw;
      int64_t out_extent = d.batch * std::abs(d.out_n) + d.rows * std::abs(d.out_row) + (d.out_rows * d.out_sh + 2) * d.out_w + d.out_cols * d.out_sw;
      const bool wide = std::max(extent, out_extent) + kDRows * std::abs(d.out_row) >= (int64_t{1} << 31);
      return emit_direct(k, d, exact, a, in, bias, out, unique_prefix(b, tag), wide);
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

  std::vector<llvm::Value*> captured{a, in, out};
  if (bias) captured.push_back(bias);
  emit_parallel_for(b, k.pool, prefix, c64(b, p.items), captured,
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    llvm::Value* a_ = cap[0];
    llvm::Value* in_ = cap[1];
    llvm::Value* out_ = cap[2];
    llvm::Value* bias_ = cap.size() > 3 ? cap[3] : nullptr;
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
              window_store(ir, bb, d, p, c, mr, bias_, out_, g, row, bb.CreateAdd(p0, j), acc);
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
}

// ---------------------------------------------------------------------------------------
// WeightGrad

namespace {

struct GradPlan {
  int64_t Kconv = 0, NB = 0, NBn = 0, P = 0;
  bool by_pixels = false;  // chunks are pixel blocks of one image (else whole images)
  int64_t PBn = 1, PB = 0, IB = 1, NCH = 0, rows_max = 0, CS = 1, items = 0;
  int64_t Ofull = 0, Otail = 0;
  llvm::GlobalVariable *lane_off = nullptr, *lane_y = nullptr, *lane_x = nullptr;
};

struct Chunk {
  llvm::Value *n0, *n1, *p0, *p1, *npix;
};

Chunk decode_chunk(Builder& b, const WeightGrad& d, const GradPlan& p, llvm::Value* ch) {
  Chunk c{};
  if (p.by_pixels) {
    c.n0 = b.CreateUDiv(ch, c64(b, p.PBn));
    c.n1 = b.CreateAdd(c.n0, c64(b, 1));
    c.p0 = b.CreateMul(b.CreateURem(ch, c64(b, p.PBn)), c64(b, p.PB));
    c.p1 = min64(b, b.CreateAdd(c.p0, c64(b, p.PB)), c64(b, p.P));
  } else {
    c.n0 = b.CreateMul(ch, c64(b, p.IB));
    c.n1 = min64(b, b.CreateAdd(c.n0, c64(b, p.IB)), c64(b, d.batch));
    c.p0 = c64(b, 0);
    c.p1 = c64(b, p.P);
  }
  c.npix = b.CreateSub(c.p1, c.p0);
  return c;
}

void grad_pack(const Ir& ir, Builder& b, const WeightGrad& d, const GradPlan& p, llvm::Value* x, llvm::Value* g,
               llvm::Value* lane0, const Chunk& c, llvm::Value* bt) {
  const int64_t C = d.groups * d.in_per_group, HW = d.in_h * d.in_w;
  llvm::Value* xg = ir.at(b, x, b.CreateMul(g, c64(b, d.in_per_group * HW)));
  emit_for(b, "pack.n", c.n0, c.n1, c64(b, 1), [&](llvm::Value* n) {
    llvm::Value* xn = ir.at(b, xg, b.CreateMul(n, c64(b, C * HW)));
    llvm::Value* row_n = b.CreateMul(b.CreateSub(n, c.n0), c.npix);
    emit_for(b, "pack.p", c.p0, c.p1, c64(b, 1), [&](llvm::Value* pix) {
      llvm::Value* oh = b.CreateUDiv(pix, c64(b, d.out_w));
      llvm::Value* ow = b.CreateSub(pix, b.CreateMul(oh, c64(b, d.out_w)));
      llvm::Value* y0 = b.CreateMul(oh, c64(b, d.stride_h));
      llvm::Value* x0 = b.CreateMul(ow, c64(b, d.stride_w));
      llvm::Value* src = ir.at(b, xn, b.CreateAdd(b.CreateMul(y0, c64(b, d.in_w)), x0));
      llvm::Value* y0v = ir.vsplat(b, y0);
      llvm::Value* x0v = ir.vsplat(b, x0);
      llvm::Value* row = b.CreateAdd(row_n, b.CreateSub(pix, c.p0));
      emit_for(b, "pack.j", 0, p.NB / kNR, 1, [&](llvm::Value* j) {
        llvm::Value* dst = ir.at(b, bt, b.CreateMul(b.CreateAdd(b.CreateMul(j, c64(b, p.rows_max)), row), c64(b, kNR)));
        for (int64_t v = 0; v < kNV; ++v) {
          llvm::Value* kk = b.CreateAdd(lane0, b.CreateAdd(b.CreateMul(j, c64(b, kNR)), c64(b, v * kLanes)));
          llvm::Value* yy = b.CreateAdd(y0v, ir.load_vector(b, p.lane_y, kk));
          llvm::Value* xx = b.CreateAdd(x0v, ir.load_vector(b, p.lane_x, kk));
          llvm::Value* mask = b.CreateAnd(b.CreateICmpULT(yy, ir.vsplat(b, d.in_h)), b.CreateICmpULT(xx, ir.vsplat(b, d.in_w)));
          ir.vstore(b, ir.gather(b, src, ir.load_vector(b, p.lane_off, kk), mask), ir.at(b, dst, v * kLanes), 64);
        }
      }, LoopHints{.no_vectorize = true});
    }, LoopHints{.no_vectorize = true});
  }, LoopHints{.no_vectorize = true, .no_unroll = true});
}

// dw rows [o0, o0 + mr) x lanes [col0, col0 + 32) += Σ over the chunk.
void grad_micro(const Ir& ir, Builder& b, const WeightGrad& d, const GradPlan& p, int64_t mr, llvm::Value* dy,
                llvm::Value* cbase, llvm::Value* g, llvm::Value* o0, llvm::Value* col0, llvm::Value* pj, const Chunk& c,
                llvm::Value* bt) {
  const int64_t O = d.groups * d.out_per_group;
  llvm::Value* crow = ir.at(b, cbase, b.CreateAdd(b.CreateMul(o0, c64(b, p.Kconv)), col0));
  llvm::Value* lanes = ir.vsplat(b, col0);
  llvm::Value* mask[kNV];
  for (int64_t v = 0; v < kNV; ++v)
    mask[v] = b.CreateICmpULT(b.CreateAdd(b.CreateAdd(lanes, ir.vsplat(b, v * kLanes)), ir.iota()), ir.vsplat(b, p.Kconv));
  std::vector<llvm::Value*> acc(static_cast<size_t>(mr * kNV));
  for (int64_t r = 0; r < mr; ++r)
    for (int64_t v = 0; v < kNV; ++v) {
      auto* s = ir.slot(b, ir.vf);
      b.CreateStore(b.CreateMaskedLoad(ir.vf, ir.vptr(b, ir.at(b, crow, r * p.Kconv + v * kLanes)), llvm::Align(4),
                                       mask[v], ir.fzero()),
                    s);
      acc[static_cast<size_t>(r * kNV + v)] = s;
    }
  llvm::Value* dy_rows = ir.at(b, dy, b.CreateMul(b.CreateAdd(b.CreateMul(g, c64(b, d.out_per_group)), o0), c64(b, p.P)));
  llvm::Value* bt_panel = ir.at(b, bt, b.CreateMul(pj, c64(b, p.rows_max * kNR)));
  emit_for(b, "gw.n", c.n0, c.n1, c64(b, 1), [&](llvm::Value* n) {
    llvm::Value* dyn = ir.at(b, dy_rows, b.CreateMul(n, c64(b, O * p.P)));
    llvm::Value* bn = ir.at(b, bt_panel, b.CreateMul(b.CreateMul(b.CreateSub(n, c.n0), c.npix), c64(b, kNR)));
    emit_for(b, "gw.p", c.p0, c.p1, c64(b, 1), [&](llvm::Value* pix) {
      llvm::Value* bp = ir.at(b, bn, b.CreateMul(b.CreateSub(pix, c.p0), c64(b, kNR)));
      llvm::Value* ap = ir.at(b, dyn, pix);
      std::vector<llvm::Value*> s(acc.size());
      for (size_t i = 0; i < acc.size(); ++i) s[i] = b.CreateLoad(ir.vf, acc[i]);
      llvm::Value* bv[kNV];
      for (int64_t v = 0; v < kNV; ++v) bv[v] = ir.vload(b, ir.at(b, bp, v * kLanes), 64);
      for (int64_t r = 0; r < mr; ++r) {
        llvm::Value* splat = b.CreateVectorSplat(kLanes, b.CreateAlignedLoad(ir.f32, ir.at(b, ap, r * p.P), llvm::Align(4)));
        for (int64_t v = 0; v < kNV; ++v) {
          auto i = static_cast<size_t>(r * kNV + v);
          s[i] = ir.fma(b, splat, bv[v], s[i]);
        }
      }
      for (size_t i = 0; i < acc.size(); ++i) b.CreateStore(s[i], acc[i]);
    }, LoopHints{.no_vectorize = true, .unroll = 2});
  }, LoopHints{.no_vectorize = true, .no_unroll = true});
  for (int64_t r = 0; r < mr; ++r)
    for (int64_t v = 0; v < kNV; ++v)
      b.CreateMaskedStore(b.CreateLoad(ir.vf, acc[static_cast<size_t>(r * kNV + v)]),
                          ir.vptr(b, ir.at(b, crow, r * p.Kconv + v * kLanes)), llvm::Align(4), mask[v]);
}

}  // namespace

namespace {

void emit_weight_grad_im2col(KernelBody& k, const WeightGrad& d, llvm::Value* dy, llvm::Value* x, llvm::Value* dw,
                             const std::string& tag) {
  Builder& b = k.b;
  GradPlan p;
  const int64_t KK = d.kernel_h * d.kernel_w;
  p.Kconv = d.in_per_group * KK;
  p.P = d.out_h * d.out_w;
  const int64_t G = d.groups, Og = d.out_per_group;
  if (p.Kconv == 0 || Og == 0 || G == 0) return;
  const int64_t Kpad = round_up(p.Kconv, kNR);
  p.NBn = ceil_div(Kpad, kGradLanesBlock);
  p.NB = round_up(ceil_div(Kpad, p.NBn), kNR);
  p.NBn = ceil_div(Kpad, p.NB);
  if (p.P > kGradChunk) {
    p.by_pixels = true;
    p.PBn = ceil_div(p.P, kGradChunk);
    p.PB = ceil_div(p.P, p.PBn);
    p.NCH = d.batch * p.PBn;
    p.rows_max = p.PB;
  } else {
    p.IB = std::max<int64_t>(1, kGradChunk / p.P);
    p.NCH = ceil_div(d.batch, p.IB);
    p.rows_max = std::min(p.IB, d.batch) * p.P;
  }
  const int threads = pool_threads();
  const int64_t blocks = G * p.NBn;
  p.CS = blocks >= 4 * threads ? 1 : std::min(p.NCH, ceil_div(4 * threads, blocks));
  p.items = p.CS * blocks;
  p.Ofull = Og / kMR * kMR;
  p.Otail = Og - p.Ofull;
  const int64_t weights = G * Og * p.Kconv;

  const int64_t C = G * d.in_per_group, HW = d.in_h * d.in_w;
  const bool wide = std::max(d.batch * C * HW, d.batch * G * Og * p.P) >= (int64_t{1} << 31) - 1024;
  Ir ir(k.module, wide);
  const std::string prefix = unique_prefix(b, tag);
  // Lane tables: lane kk = (kc, kh, kw) reads x[kc*HW + (y0 + kh - pad_h)*W + x0 + kw - pad_w].
  {
    const auto lanes = static_cast<size_t>(p.NB * p.NBn);
    std::vector<int64_t> off(lanes, 0), ly(lanes, std::numeric_limits<int32_t>::min() / 2), lx(lanes, 0);
    for (int64_t kk = 0; kk < p.Kconv; ++kk) {
      int64_t kc = kk / KK, kh = kk % KK / d.kernel_w, kw = kk % d.kernel_w;
      off[static_cast<size_t>(kk)] = kc * HW + (kh - d.pad_h) * d.in_w + (kw - d.pad_w);
      ly[static_cast<size_t>(kk)] = kh - d.pad_h;
      lx[static_cast<size_t>(kk)] = kw - d.pad_w;
    }
    p.lane_off = ir.table(prefix + ".lane_off", ir.it, off);
    p.lane_y = ir.table(prefix + ".lane_y", ir.it, ly);
    p.lane_x = ir.table(prefix + ".lane_x", ir.it, lx);
  }

  // Partial sums of position slices 1..CS-1 (slice 0 accumulates into dw itself).
  llvm::Value* partial = p.CS > 1 ? ir.alloc(b, (p.CS - 1) * weights * 4) : llvm::ConstantPointerNull::get(ir.f32->getPointerTo());
  emit_parallel_for(b, k.pool, prefix, c64(b, p.items), {dy, x, dw, partial},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    llvm::Value* dy_ = cap[0];
    llvm::Value* x_ = cap[1];
    llvm::Value* dw_ = cap[2];
    llvm::Value* partial_ = cap[3];
    llvm::Value* bt = ir.alloc(bb, p.rows_max * p.NB * 4);
    emit_for(bb, "item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      llvm::Value* nb = bb.CreateURem(item, c64(bb, p.NBn));
      llvm::Value* rest = bb.CreateUDiv(item, c64(bb, p.NBn));
      llvm::Value* g = bb.CreateURem(rest, c64(bb, G));
      llvm::Value* cs = bb.CreateUDiv(rest, c64(bb, G));
      llvm::Value* slice = ir.at(bb, partial_, bb.CreateMul(bb.CreateSub(cs, c64(bb, 1)), c64(bb, weights)));
      llvm::Value* cbase = bb.CreateSelect(bb.CreateICmpEQ(cs, c64(bb, 0)), dw_, slice);
      cbase = ir.at(bb, cbase, bb.CreateMul(g, c64(bb, Og * p.Kconv)));
      llvm::Value* lane0 = bb.CreateMul(nb, c64(bb, p.NB));
      // Zero this block of the accumulator.
      emit_for(bb, "zero.o", 0, Og, 1, [&](llvm::Value* o) {
        llvm::Value* row = ir.at(bb, cbase, bb.CreateAdd(bb.CreateMul(o, c64(bb, p.Kconv)), lane0));
        llvm::Value* lanes = ir.vsplat(bb, lane0);
        for (int64_t j = 0; j < p.NB / kLanes; ++j) {
          llvm::Value* m = bb.CreateICmpULT(bb.CreateAdd(bb.CreateAdd(lanes, ir.vsplat(bb, j * kLanes)), ir.iota()), ir.vsplat(bb, p.Kconv));
          bb.CreateMaskedStore(ir.fzero(), ir.vptr(bb, ir.at(bb, row, j * kLanes)), llvm::Align(4), m);
        }
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
      llvm::Value* panels = min64(bb, c64(bb, p.NB / kNR), bb.CreateUDiv(bb.CreateSub(c64(bb, Kpad), lane0), c64(bb, kNR)));
      llvm::Value* ch_begin = bb.CreateUDiv(bb.CreateMul(cs, c64(bb, p.NCH)), c64(bb, p.CS));
      llvm::Value* ch_end = bb.CreateUDiv(bb.CreateMul(bb.CreateAdd(cs, c64(bb, 1)), c64(bb, p.NCH)), c64(bb, p.CS));
      emit_for(bb, "chunk", ch_begin, ch_end, c64(bb, 1), [&](llvm::Value* ch) {
        Chunk c = decode_chunk(bb, d, p, ch);
        grad_pack(ir, bb, d, p, x_, g, lane0, c, bt);
        auto block = [&](int64_t mr, llvm::Value* o0) {
          emit_for(bb, "gw.panel", c64(bb, 0), panels, c64(bb, 1), [&](llvm::Value* pj) {
            llvm::Value* col0 = bb.CreateAdd(lane0, bb.CreateMul(pj, c64(bb, kNR)));
            grad_micro(ir, bb, d, p, mr, dy_, cbase, g, o0, col0, pj, c, bt);
          }, LoopHints{.no_vectorize = true, .no_unroll = true});
        };
        if (p.Ofull > 0)
          emit_for(bb, "gw.o", 0, p.Ofull, kMR, [&](llvm::Value* o0) { block(kMR, o0); },
                   LoopHints{.no_vectorize = true, .no_unroll = true});
        if (p.Otail > 0) block(p.Otail, c64(bb, p.Ofull));
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
    ir.release(bb, bt);
  });
  if (p.CS > 1) {
    // dw += the partial sums, row by row.
    const int64_t vecs = ceil_div(p.Kconv, kLanes);
    emit_parallel_for(b, k.pool, prefix + ".reduce", c64(b, G * Og), {dw, partial},
                      [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
      emit_for(bb, "row", begin, end, c64(bb, 1), [&](llvm::Value* row) {
        llvm::Value* dst = ir.at(bb, cap[0], bb.CreateMul(row, c64(bb, p.Kconv)));
        emit_for(bb, "j", 0, vecs, 1, [&](llvm::Value* j) {
          llvm::Value* lane = bb.CreateMul(j, c64(bb, kLanes));
          llvm::Value* m = bb.CreateICmpULT(bb.CreateAdd(ir.vsplat(bb, lane), ir.iota()), ir.vsplat(bb, p.Kconv));
          llvm::Value* ptr = ir.vptr(bb, ir.at(bb, dst, lane));
          llvm::Value* sum = bb.CreateMaskedLoad(ir.vf, ptr, llvm::Align(4), m, ir.fzero());
          for (int64_t s = 1; s < p.CS; ++s) {
            llvm::Value* src = ir.at(bb, cap[1], bb.CreateAdd(c64(bb, (s - 1) * weights), bb.CreateAdd(bb.CreateMul(row, c64(bb, p.Kconv)), lane)));
            sum = bb.CreateFAdd(sum, bb.CreateMaskedLoad(ir.vf, ir.vptr(bb, src), llvm::Align(4), m, ir.fzero()));
          }
          bb.CreateMaskedStore(sum, ptr, llvm::Align(4), m);
        }, LoopHints{.no_vectorize = true});
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    });
    ir.release(b, partial);
  }
}

// ---------------------------------------------------------------------------------------
// WeightGrad, output channels in vector lanes ("direct"): a tile is 32 output channels x 8
// k's (k = (kc, kh, kw)); it sums over every output position in registers, broadcasting x
// straight from the input and reading dy from a transposed copy dyT[g][o/32][position][32]
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
  llvm::GlobalVariable* col_dy = nullptr;  // per column: n*O*P + oh*OW + ow
};

// acc[r][v] += Σ_{columns [c0, c1)} x[col_x[col] + koff[r]] · dyT[col][16v..]
void grad_direct_loop(const Ir& ir, Builder& b, const GradDirect& p, llvm::Value* xg, llvm::Value* dyt_panel,
                      llvm::Value* c0, llvm::Value* c1, const std::vector<int64_t>& koff,
                      const std::vector<llvm::Value*>& acc) {
  const auto mr = static_cast<int64_t>(koff.size());
  emit_for(b, "gwcol", c0, c1, c64(b, 1), [&](llvm::Value* col) {
    llvm::Value* xb = ir.at(b, xg, b.CreateSExt(ir.load_scalar(b, p.col_x, col), b.getInt64Ty()));
    llvm::Value* dp = ir.at(b, dyt_panel, b.CreateMul(col, c64(b, kDRows)));
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
    p.Hp = std::max(p.Hp, (d.out_h - 1) * d.stride_h + d.kernel_h);
    p.Wp = std::max(p.Wp, (d.out_w - 1) * d.stride_w + d.kernel_w);
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
    for (int64_t kh = 0; kh < d.kernel_h; ++kh) fd.tap_h.push_back(kh - d.pad_h);
    for (int64_t kw = 0; kw < d.kernel_w; ++kw) fd.tap_w.push_back(kw - d.pad_w);
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
      col_dy.push_back(n * O * p.P + qh * d.out_w + qw);
    }
  }
  p.cols = static_cast<int64_t>(col_x.size());
  p.col_x = ir.table(prefix + ".col_x", ir.it, col_x);
  p.col_dy = ir.table(prefix + ".col_dy", ir.it, col_dy);

  // dyT[g][op][col][32], zero past the last channel.
  const int64_t dyt_floats = p.G * p.OPn * p.cols * kDRows;
  llvm::Value* dyt = ir.alloc(b, dyt_floats * 4);
  emit_parallel_for(b, k.pool, prefix + ".dyT", c64(b, p.G * p.OPn * p.cols), {dy, dyt},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    emit_for(bb, "i", begin, end, c64(bb, 1), [&](llvm::Value* i) {
      llvm::Value* col = bb.CreateURem(i, c64(bb, p.cols));
      llvm::Value* gop = bb.CreateUDiv(i, c64(bb, p.cols));
      llvm::Value* op = bb.CreateURem(gop, c64(bb, p.OPn));
      llvm::Value* g = bb.CreateUDiv(gop, c64(bb, p.OPn));
      llvm::Value* o0 = bb.CreateMul(op, c64(bb, kDRows));
      llvm::Value* src = ir.at(bb, cap[0], bb.CreateAdd(bb.CreateSExt(ir.load_scalar(bb, p.col_dy, col), bb.getInt64Ty()),
                                                       bb.CreateMul(bb.CreateAdd(bb.CreateMul(g, c64(bb, p.Og)), o0), c64(bb, p.P))));
      llvm::Value* dst = ir.at(bb, cap[1], bb.CreateMul(i, c64(bb, kDRows)));
      for (int64_t v = 0; v < kNV; ++v) {
        llvm::Value* o = bb.CreateAdd(ir.vsplat(bb, bb.CreateAdd(o0, c64(bb, v * kLanes))), ir.iota());
        llvm::Value* mask = bb.CreateICmpSLT(o, ir.vsplat(bb, p.Og));
        llvm::Value* index = bb.CreateMul(bb.CreateAdd(ir.iota(), ir.vsplat(bb, v * kLanes)), ir.vsplat(bb, p.P));
        ir.vstore(bb, ir.gather(bb, src, index, mask), ir.at(bb, dst, v * kLanes), 64);
      }
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
  // accumulators parked in a small scratch between chunks. The k block is a constant in each
  // branch of the tile code.
  const int64_t per_tap = ceil_div(p.Cg, kGRows);
  const int64_t KB = p.padded ? ceil_div(p.Kconv, kGRows) : p.KK * per_tap;
  const int64_t CH = p.cols <= 2 * kGChunk ? p.cols : kGChunk;
  const int64_t NCH = ceil_div(p.cols, CH);
  const int64_t KBG = NCH == 1 ? 1 : std::min<int64_t>(KB, kGBlocks);
  const int64_t KGn = ceil_div(KB, KBG);
  const int64_t items = p.G * p.OPn * KGn;
  const int64_t XHW = p.padded ? p.Hp * p.Wp : HW;
  struct KBlock {
    std::vector<int64_t> kidx, koff;                  // dw column, x offset of each k
    std::vector<std::pair<int64_t, int64_t>> ranges;  // columns that see its tap
  };
  std::vector<KBlock> kblocks(static_cast<size_t>(KB));
  std::vector<bool> dead(static_cast<size_t>(p.Kconv), false);
  for (int64_t blk = 0; blk < KB; ++blk) {
    KBlock& kbk = kblocks[static_cast<size_t>(blk)];
    if (p.padded) {
      for (int64_t kk = blk * kGRows; kk < std::min(p.Kconv, (blk + 1) * kGRows); ++kk) {
        int64_t kc = kk / p.KK, kh = kk % p.KK / d.kernel_w, kw = kk % d.kernel_w;
        kbk.kidx.push_back(kk);
        kbk.koff.push_back(kc * XHW + kh * p.Wp + kw);
      }
      kbk.ranges.push_back({0, p.cols});
    } else {
      const int64_t tap = blk / per_tap, kc0 = blk % per_tap * kGRows;
      const int64_t kh = tap / d.kernel_w, kw = tap % d.kernel_w;
      for (int64_t kc = kc0; kc < std::min(p.Cg, kc0 + kGRows); ++kc) {
        kbk.kidx.push_back(kc * p.KK + tap);
        kbk.koff.push_back(kc * XHW + kh * d.in_w + kw);
      }
      for (const WindowClass& c : p.classes) {
        if (kh < c.h0 || kh >= c.h1 || kw < c.w0 || kw >= c.w1) continue;
        std::pair<int64_t, int64_t> r{c.first_panel, c.first_panel + static_cast<int64_t>(c.cols.size())};
        if (!kbk.ranges.empty() && kbk.ranges.back().second == r.first) kbk.ranges.back().second = r.second;
        else kbk.ranges.push_back(r);
      }
      if (kbk.ranges.empty())
        for (int64_t kk : kbk.kidx) dead[static_cast<size_t>(kk)] = true;
    }
  }

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
    // Emits `body(block)` for the k block `kb` (a runtime value), one switch case per block.
    auto for_kblock = [&](llvm::Value* kb, llvm::function_ref<void(int64_t, const KBlock&)> body) {
      auto* done = llvm::BasicBlock::Create(bb.getContext(), "kblock.done", f);
      auto* sw = bb.CreateSwitch(kb, done, static_cast<unsigned>(KB));
      for (int64_t blk = 0; blk < KB; ++blk) {
        const KBlock& kbk = kblocks[static_cast<size_t>(blk)];
        if (kbk.ranges.empty()) continue;  // dead: zeroed above
        auto* case_block = llvm::BasicBlock::Create(bb.getContext(), "kblock", f, done);
        sw->addCase(llvm::cast<llvm::ConstantInt>(c64(bb, blk)), case_block);
        bb.SetInsertPoint(case_block);
        body(blk, kbk);
        bb.CreateBr(done);
      }
      bb.SetInsertPoint(done);
    };
    emit_for(bb, "item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      llvm::Value* op = bb.CreateURem(item, c64(bb, p.OPn));
      llvm::Value* gk = bb.CreateUDiv(item, c64(bb, p.OPn));
      llvm::Value* kg = bb.CreateURem(gk, c64(bb, KGn));
      llvm::Value* g = bb.CreateUDiv(gk, c64(bb, KGn));
      llvm::Value* xg = ir.at(bb, cap[0], bb.CreateMul(g, c64(bb, p.Cg * XHW)));
      llvm::Value* dyt_panel = ir.at(bb, cap[1], bb.CreateMul(bb.CreateAdd(bb.CreateMul(g, c64(bb, p.OPn)), op), c64(bb, p.cols * kDRows)));
      llvm::Value* o0 = bb.CreateMul(op, c64(bb, kDRows));
      llvm::Value* dw_g = ir.at(bb, cap[2], bb.CreateMul(bb.CreateAdd(bb.CreateMul(g, c64(bb, p.Og)), o0), c64(bb, p.Kconv)));
      llvm::Value* kb0 = bb.CreateMul(kg, c64(bb, KBG));
      llvm::Value* nkb = min64(bb, c64(bb, KBG), bb.CreateSub(c64(bb, KB), kb0));
      auto store = [&](const KBlock& kbk, const std::vector<llvm::Value*>& acc) {
        for (int64_t v = 0; v < kNV; ++v) {
          llvm::Value* o = bb.CreateAdd(ir.vsplat(bb, bb.CreateAdd(o0, c64(bb, v * kLanes))), ir.iota());
          llvm::Value* mask = bb.CreateICmpSLT(o, ir.vsplat(bb, p.Og));
          llvm::Value* index = bb.CreateMul(bb.CreateAdd(ir.iota(), ir.vsplat(bb, v * kLanes)), ir.vsplat(bb, p.Kconv));
          for (size_t r = 0; r < kbk.kidx.size(); ++r)
            bb.CreateMaskedScatter(bb.CreateLoad(ir.vf, acc[r * kNV + static_cast<size_t>(v)]),
                                   bb.CreateGEP(ir.f32, ir.at(bb, dw_g, kbk.kidx[r]), index), llvm::Align(4), mask);
        }
      };
      if (NCH == 1) {
        emit_for(bb, "kb", c64(bb, 0), nkb, c64(bb, 1), [&](llvm::Value* j) {
          for_kblock(bb.CreateAdd(kb0, j), [&](int64_t, const KBlock& kbk) {
            auto acc = make_acc(ir, bb, static_cast<int64_t>(kbk.kidx.size()));
            for (auto* slot : acc) bb.CreateStore(ir.fzero(), slot);
            for (auto [c0, c1] : kbk.ranges) grad_direct_loop(ir, bb, p, xg, dyt_panel, c64(bb, c0), c64(bb, c1), kbk.koff, acc);
            store(kbk, acc);
          });
        }, LoopHints{.no_vectorize = true, .no_unroll = true});
        return;
      }
      // Park slot j of kb0 + j: [kGRows][kNV] vectors.
      auto parked = [&](llvm::Value* j, size_t i) {
        return ir.at(bb, park, bb.CreateAdd(bb.CreateMul(j, c64(bb, kGRows * kNV * kLanes)), c64(bb, static_cast<int64_t>(i) * kLanes)));
      };
      emit_for(bb, "chunk", 0, NCH, 1, [&](llvm::Value* ch) {
        llvm::Value* lo = bb.CreateMul(ch, c64(bb, CH));
        llvm::Value* hi = min64(bb, bb.CreateAdd(lo, c64(bb, CH)), c64(bb, p.cols));
        llvm::Value* first = bb.CreateICmpEQ(ch, c64(bb, 0));
        emit_for(bb, "kb", c64(bb, 0), nkb, c64(bb, 1), [&](llvm::Value* j) {
          for_kblock(bb.CreateAdd(kb0, j), [&](int64_t, const KBlock& kbk) {
            auto acc = make_acc(ir, bb, static_cast<int64_t>(kbk.kidx.size()));
            for (size_t i = 0; i < acc.size(); ++i)
              bb.CreateStore(bb.CreateSelect(first, ir.fzero(), ir.vload(bb, parked(j, i), 64)), acc[i]);
            for (auto [c0, c1] : kbk.ranges) {
              llvm::Value* from = bb.CreateSelect(bb.CreateICmpSGT(lo, c64(bb, c0)), lo, c64(bb, c0));
              llvm::Value* to = min64(bb, hi, c64(bb, c1));
              grad_direct_loop(ir, bb, p, xg, dyt_panel, from, to, kbk.koff, acc);
            }
            for (size_t i = 0; i < acc.size(); ++i) ir.vstore(bb, bb.CreateLoad(ir.vf, acc[i]), parked(j, i), 64);
          });
        }, LoopHints{.no_vectorize = true, .no_unroll = true});
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
      emit_for(bb, "kb", c64(bb, 0), nkb, c64(bb, 1), [&](llvm::Value* j) {
        for_kblock(bb.CreateAdd(kb0, j), [&](int64_t, const KBlock& kbk) {
          auto acc = make_acc(ir, bb, static_cast<int64_t>(kbk.kidx.size()));
          for (size_t i = 0; i < acc.size(); ++i) bb.CreateStore(ir.vload(bb, parked(j, i), 64), acc[i]);
          store(kbk, acc);
        });
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
    if (park) ir.release(bb, park);
  });
  ir.release(b, dyt);
  if (xpad) ir.release(b, xpad);
}

}  // namespace

void emit_weight_grad(KernelBody& k, const WeightGrad& d, llvm::Value* dy, llvm::Value* x, llvm::Value* dw,
                      const std::string& tag) {
  const char* force = std::getenv("RESNETC_CONV_PATH");
  if (force && std::string_view(force) == "im2col") return emit_weight_grad_im2col(k, d, dy, x, dw, tag);
  if (d.in_per_group == 0 || d.out_per_group == 0 || d.groups == 0) return;
  emit_weight_grad_direct(k, d, dy, x, dw, tag);
}

}  // namespace resnetc::codegen::llvm_backend
