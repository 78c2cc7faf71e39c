#pragma once
// What the CPU backend's GEMM generators (gemm.h) share: the vector shape, the IR helpers,
// the row statistics of the epilogue and the position classes of a window. gemm.cpp defines
// them; gemm_im2col.cpp, gemm_direct.cpp and gemm_weight_grad.cpp are the three paths.
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/GlobalVariable.h>

#include <array>
#include <string>
#include <vector>

#include "compiler/codegen/llvm/emit/bf16.h"
#include "compiler/codegen/llvm/emit/gemm.h"

namespace resnetc::codegen::llvm_backend::gemm_internal {

constexpr int64_t kLanes = 16;         // floats per <16 x float>
constexpr int64_t kMR = 8;             // microkernel rows (broadcast operand)
constexpr int64_t kNV = 2;             // microkernel vectors (packed operand)
constexpr int64_t kNR = kLanes * kNV;  // microkernel columns
constexpr int64_t kMaxRuns = 4;        // more contiguous runs per vector than this: scatter

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

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

void emit_if(Builder& b, llvm::Value* cond, llvm::function_ref<void()> then);

// 8 vectors a[c] of 16 floats -> 16 vectors of 8: out[l][c] = a[c][l] (unpack, 64-bit shuffles,
// then one lane-pair shuffle per output: vunpck*ps / vshuff64x2 on AVX-512).
std::vector<llvm::Value*> transpose8x16(Builder& b, llvm::ArrayRef<llvm::Value*> a);

inline llvm::Value* c64(Builder& b, int64_t v) { return b.getInt64(static_cast<uint64_t>(v)); }
inline llvm::Value* min64(Builder& b, llvm::Value* x, llvm::Value* y) { return b.CreateSelect(b.CreateICmpSLT(x, y), x, y); }

std::string unique_prefix(Builder& b, const std::string& tag);

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

inline llvm::Value* at_f64(Builder& b, llvm::Value* p, llvm::Value* i) { return b.CreateGEP(b.getDoubleTy(), p, i); }

// The slots, allocated at the builder's position (one per item).
RowStats row_stats(const Ir& ir, Builder& b, int64_t items, int64_t RB, int64_t ig, int64_t irb, int64_t ij, int64_t J);

// stats[c] = mean, stats[groups*rows + c] = biased variance of row c = g*rows + row (bias: the
// kernel's, or null); frees the slots.
void finalize_row_stats(const Ir& ir, Builder& b, const WindowGemm& d, const RowStats& s, llvm::Value* bias,
                        llvm::Value* stats);

// v[0] + v[1] + ... as a tree (short dependency chains).
llvm::Value* tree_sum(Builder& b, std::vector<llvm::Value*> v);

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

// The position classes of d: columns grouped by the taps they see, laid out in panels and
// column blocks (merge_small: small classes and past-budget ones join the all-taps class;
// one_class: every column does, so all share one k order: the bf16 path's packed weights).
void window_classes(const WindowGemm& d, WindowPlan& p, bool merge_small = true, bool one_class = false);

// Accumulators of one mr x 32 block: allocas in the entry block, which SROA promotes to registers.
std::vector<llvm::Value*> make_acc(const Ir& ir, Builder& b, int64_t mr);

// The direct path's shape (gemm_direct.cpp); its panels of 32 rows are also the weight
// gradient's tiles of 32 output channels.
constexpr int64_t kDC = 8;                 // columns per microkernel
constexpr int64_t kDGroup = 8;             // microkernels per work item
constexpr int64_t kDRows = kLanes * kNV;   // rows per panel
constexpr int64_t kDirectUnrollBudget = 160;  // unrolled taps, summed over classes, before rolling

// WindowGemm with rows in vector lanes (gemm_direct.cpp), over the classes `classes`.
void emit_direct(KernelBody& k, const WindowGemm& d, const WindowPlan& classes, llvm::Value* a, llvm::Value* in,
                 llvm::Value* bias, llvm::Value* out, llvm::Value* stats, const std::string& prefix, bool wide);

// ---------------------------------------------------------------------------------------
// bf16 operands (gemm_bf16.cpp; plan::Precision::Bf16 on the im2col path, one class of all
// taps, K = taps x kouter in the packed panels' order). Pairs of k are multiplied by
// vdpbf16ps: the even k in the low half of a 32-bit word, the odd k in the high half.

// An activation operand as its plan buffer stores it: float32, or (`bf16`, ir::DType::BF16) the
// bits of bfloat16 values, which the kernels take as they are: a bf16 value rounds to itself,
// so a kernel on the bf16 buffer computes what it computes on the float32 buffer of the same
// values. These read either as float32 (bf16 widened exactly: the bits in a float's top half).
// &p[i]:
llvm::Value* operand_at(const Ir& ir, Builder& b, llvm::Value* p, llvm::Value* i, bool bf16);
llvm::Value* operand_at(const Ir& ir, Builder& b, llvm::Value* p, int64_t i, bool bf16);
// p[0]:
llvm::Value* load_operand(const Ir& ir, Builder& b, llvm::Value* p, bool bf16);
// p[0..16) where `mask` (lanes off: zero):
llvm::Value* load_operand(const Ir& ir, Builder& b, llvm::Value* p, llvm::Value* mask, bool bf16);
// p[index[l]] where `mask` (lanes off: zero). bf16: each lane gathers the aligned 32-bit word
// holding its element (plan buffers start 4-byte aligned and span whole words: the arena's
// alignment) and keeps its half.
llvm::Value* gather_operand(const Ir& ir, Builder& b, llvm::Value* p, llvm::Value* index, llvm::Value* mask, bool bf16);
// The bf16 bits (the low half of an i32 or <16 x i32>) of x, a value load_operand read:
// round_to_bf16, or where the operand is stored in bf16, its bits as they are.
llvm::Value* operand_bits(Builder& b, llvm::Value* x, bool bf16);

// The weights A in bf16, [groups * rows][ceil(K/2) words], k = kc * taps + tap, the odd K's
// last word padded with zero; allocated with Ir::alloc (the caller releases it), filled by a
// parallel loop on `pool` (functions named after `prefix`).
llvm::Value* pack_a_bf16(const Ir& ir, Builder& b, llvm::Value* pool, const std::string& prefix, const WindowGemm& d,
                         int64_t K, llvm::Value* a);

// d with its kc in pairs, as the direct path runs it under bf16: kouter = ceil(kouter/2),
// a_kc doubled (a pair's even kc), and the image operand's strides those of
// pack_input_pairs' copy.
WindowGemm paired_window(const WindowGemm& d);

// The image operand of d in bf16 pairs along kc, made once per call: 32-bit words
// [batch][groups][ceil(kouter/2)][in_h * in_w], the even kc in the low half, an odd kouter's
// last high half zero (paired_window's strides); Ir::alloc'd (the caller releases it),
// filled over `pool`.
llvm::Value* pack_input_pairs(const Ir& ir, Builder& b, llvm::Value* pool, const std::string& prefix, const WindowGemm& d,
                              llvm::Value* in);

// A packed panel of K rows of 32 floats (room for K + 1 when K is odd) rewritten in place as
// ceil(K/2) rows of 32 bf16 pairs.
void panel_to_bf16(const Ir& ir, Builder& b, llvm::Value* panel, int64_t K);

// acc[r][v] = Σ_k A[row + r][k] · B[k][16v..], A at a_rows (pack_a_bf16's row), B a panel_to_bf16 panel.
void bf16_kloop(const Ir& ir, Builder& b, int64_t K, int64_t mr, llvm::Value* a_rows, llvm::Value* bpanel,
                const std::vector<llvm::Value*>& acc);

// ---------------------------------------------------------------------------------------
// bf16 on AMX tiles (gemm_amx.cpp, strided windows: gemm_amx_strided.cpp, few input channels:
// gemm_amx_taps.cpp, small maps: gemm_amx_gathered.cpp): one group, rows a multiple of 32.

// Whether this process may use AMX's bf16 tiles: the host has amx-tile and amx-bf16 and Linux
// granted the tile state (asked once, here).
bool amx_ready();
// Whether d has the shape emit_amx runs.
bool amx_fits(const WindowGemm& d);
void emit_amx(KernelBody& k, const WindowGemm& d, llvm::Value* a, llvm::Value* in, llvm::Value* bias, llvm::Value* out,
              llvm::Value* stats, const std::string& prefix);

// The image operand of emit_amx: per (image, kc pair) one zero-padded plane per phase of the
// window's stride that some tap reads, phase (a, b) holding padded pixel (sh*y + a, sw*x + b)
// at (y, x). So a tap reads one phase plane at a fixed offset, and 16 consecutive output
// positions p = qh * Wq + qw read 16 consecutive words, as at stride 1 (one phase).
struct AmxPlanes {
  int64_t sh = 1, sw = 1;        // the window's strides
  int64_t pad_t = 0, pad_l = 0;  // zero rows above and columns left of the image
  int64_t Hq = 0, Wq = 0;        // a phase plane
  std::vector<std::array<int64_t, 2>> phases;  // (a, b) some tap reads, in plane order
  int64_t plane = 0;             // words per phase plane (with room for the reads past it)
  int64_t PB = 0;                // 32-position blocks per image
  std::vector<int64_t> tap_offset;  // per tap: the word it reads for position 0 (plane included)
};
AmxPlanes amx_planes(const WindowGemm& d);

// The phase planes of d's image operand in bf16 pairs along kc, [batch][kc pair][phase][plane]
// words (KP pairs, those past kouter zero); Ir::alloc'd (the caller releases it), filled over `pool`.
llvm::Value* pack_amx_phase_planes(const Ir& ir, Builder& b, llvm::Value* pool, const std::string& prefix,
                                   const WindowGemm& d, const AmxPlanes& p, int64_t KP, llvm::Value* in);

// Few input channels (gemm_amx_taps.cpp): whether d's taps join k on AMX (fewer than 16 kc, every
// tap kept, in A's order); d with k' = kc * taps + tap and one tap over fold_taps' image operand;
// that operand, KP pairs of k' over amx_planes(fold_taps(d)), made from d's phase planes.
bool amx_folds_taps(const WindowGemm& d);
WindowGemm fold_taps(const WindowGemm& d);
llvm::Value* pack_amx_folded_planes(const Ir& ir, Builder& b, llvm::Value* pool, const std::string& prefix,
                                    const WindowGemm& d, int64_t KP, llvm::Value* in);

// Small maps (gemm_amx_gathered.cpp): whether emit_amx numbers the positions of all images
// without gaps (its per-image blocks would be less than half full), and that operand: per tap
// and kc pair (KP of them) what the tap reads at each position, [tap][pair][G rounded up to 32].
bool amx_gathers(const WindowGemm& d, int64_t KP);
llvm::Value* pack_amx_gathered(const Ir& ir, Builder& b, llvm::Value* pool, const std::string& prefix,
                               const WindowGemm& d, int64_t KP, llvm::Value* in);

// v's 16 lanes spread `stride` apart over `stride` vectors: lane l to lane (l*stride) % 16 of
// vector (l*stride) / 16, the lanes between undefined (the outputs of a phase of a strided
// input gradient, every stride-th pixel of dx).
std::vector<llvm::Value*> spread_lanes(Builder& b, llvm::Value* v, int64_t stride);

}  // namespace resnetc::codegen::llvm_backend::gemm_internal
