// The window GEMM under bf16 on AMX tiles (gemm_internal.h: amx_fits, emit_amx). A tile
// multiply (tdpbf16ps) does 16 x 16 x 32 multiply-adds where vdpbf16ps does 16 x 2, so on a
// CPU with AMX this is where bf16 outruns float32 FMAs.
//
// Roles: C[16 rows][16 positions] (float32) += A[16 rows][32 k] · B[16 k pairs][16 positions],
// A the weights (bf16, packed once per call as [row/16][tap][k/32][16][32]), B the image
// operand in bf16 pairs along kc with its window's padding made explicit: each (image, pair)
// plane is a zero-padded Hq x Wq copy (at stride s, one per phase of the stride:
// gemm_amx_strided.cpp), so an output position p = qh * Wq + qw reads tap t at p +
// tap_offset[t], and 16 consecutive positions are 16 consecutive words: one tileloadd with
// the pairs' distance as its row stride. The positions with qw >= out_cols (the padded
// columns) are computed and dropped. On maps too small for that (gemm_amx_gathered.cpp) the
// positions of all images are numbered without gaps, each tap reading a copy of its own. A
// work item is 32 rows x 32 positions (four C tiles); its tiles go through a 4 KiB scratch,
// from which each row's 16-position vectors are stored by contiguous runs (masked stores;
// spread out_sw apart first), with the bias and, for conv2d's epilogue, the row statistics
// (RowStats) of the valid positions.
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/Support/Host.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "compiler/codegen/llvm/emit/gemm_internal.h"

namespace resnetc::codegen::llvm_backend::gemm_internal {
namespace {

constexpr int64_t kTile = 16;          // rows of a tile, and positions (32-bit columns)
constexpr int64_t kTileBytes = 1024;   // 16 rows x 64 bytes
constexpr int64_t kKB = 32;            // k per A tile (bf16)
constexpr long kReqXcompPerm = 0x1023;  // arch_prctl ARCH_REQ_XCOMP_PERM
constexpr long kXfeatureTileData = 18;  // XFEATURE_XTILEDATA

struct AmxShape {
  int64_t T = 0, KB = 0, KP = 0;  // taps, 32-k blocks per tap, kc pairs (padded)
  AmxPlanes planes;               // the image operand
  int64_t Wp = 0;                 // positions per row of outputs (planes.Wq)
  int64_t S = 0;                  // words per kc pair (its phase planes)
  int64_t PB = 0, RBn = 0;        // 32-position blocks per image, 32-row blocks
  // Small maps (gemm_amx_gathered.cpp): the positions of all images without gaps, as one image
  // of PB blocks, each tap its own copy of B.
  bool gathered = false;
  int64_t images = 0;
  std::vector<int64_t> toff;  // per tap: the word it reads for position 0
};

// `may_gather`: not over a folded window's operand (gemm_amx_taps.cpp), which has its own layout.
AmxShape amx_shape(const WindowGemm& d, bool may_gather) {
  AmxShape s;
  s.T = static_cast<int64_t>(d.tap_a.size());
  s.KB = ceil_div(d.kouter, kKB);
  s.KP = s.KB * kKB / 2;
  s.planes = amx_planes(d);
  s.Wp = s.planes.Wq;
  s.S = static_cast<int64_t>(s.planes.phases.size()) * s.planes.plane;
  s.PB = s.planes.PB;
  s.RBn = d.rows / (2 * kTile);
  s.images = d.batch;
  s.toff = s.planes.tap_offset;
  // Blocks that do not span images, on small maps, would be mostly padding (a 3x3 map fills 9
  // of 32 positions).
  if (may_gather && 2 * d.out_rows * d.out_cols < s.PB * 2 * kTile && amx_gathers(d, s.KP)) {
    s.gathered = true;
    s.images = 1;
    s.S = round_up(d.batch * d.out_rows * d.out_cols, 2 * kTile);
    s.PB = s.S / (2 * kTile);
    for (int64_t t = 0; t < s.T; ++t) s.toff[static_cast<size_t>(t)] = t * s.KP * s.S;
  }
  return s;
}

}  // namespace

bool amx_ready() {
  static const bool ready = [] {
    llvm::StringMap<bool> features;
    if (!llvm::sys::getHostCPUFeatures(features) || !features.lookup("amx-tile") || !features.lookup("amx-bf16")) return false;
    // Linux lends a process the tiles' register state only when asked (once, for all threads).
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureTileData) == 0;
  }();
  return ready;
}

bool amx_fits(const WindowGemm& given) {
  const bool fold = amx_folds_taps(given);
  const WindowGemm d = fold ? fold_taps(given) : given;
  if (!(d.groups == 1 && d.rows % (2 * kTile) == 0 && d.kouter >= kTile && !d.tap_a.empty()))
    return false;
  // Blocks at least half full (where the direct path wastes nothing): of one image's positions,
  // or of all images' (gathered).
  const AmxShape s = amx_shape(d, !fold);
  return s.gathered || 2 * d.out_rows * d.out_cols >= s.PB * 2 * kTile;
}

namespace {

// What the steps of one emit_amx share: the problem (its taps folded into k or not), its shape,
// the IR helpers and the kernel's name prefix.
struct Amx {
  KernelBody& k;
  const WindowGemm& d;
  const AmxShape& s;
  const Ir& ir;
  const std::string& prefix;
};

// A: bf16 [row/16][tap][kb][16][32], zero past kouter. Made on every call (the weights change
// every step), 16 kc of a tap at a time: one (gathered, unless kc is A's contiguous axis)
// load, rounded in integers (round_to_bf16: vcvtne2ps2bf16 would flush denormals and keep
// NaN payloads, which the reference's rounding does not), one 32-byte store.
llvm::Value* pack_weights(const Amx& amx, llvm::Value* a) {
  const WindowGemm& d = amx.d;
  const AmxShape& s = amx.s;
  const Ir& ir = amx.ir;
  Builder& b = amx.k.b;
  auto* i16 = b.getInt16Ty();
  llvm::Value* weights = ir.alloc(b, d.rows * s.T * s.KB * kKB * 2);
  const bool wide_index = d.kouter * std::abs(d.a_kc) + *std::max_element(d.tap_a.begin(), d.tap_a.end()) >= (int64_t{1} << 31);
  emit_parallel_for(b, amx.k.pool, amx.prefix + ".amxa", c64(b, d.rows), {a, weights},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    auto* v16 = llvm::FixedVectorType::get(i16, kLanes);
    llvm::IntegerType* xt = wide_index ? bb.getInt64Ty() : bb.getInt32Ty();
    std::vector<llvm::Constant*> lanes;
    for (int64_t l = 0; l < kLanes; ++l) lanes.push_back(llvm::ConstantInt::get(xt, static_cast<uint64_t>(l)));
    llvm::Constant* iota = llvm::ConstantVector::get(lanes);
    auto splat = [&](llvm::Value* v) { return bb.CreateVectorSplat(kLanes, bb.CreateIntCast(v, xt, true)); };
    llvm::Value* words = bb.CreateBitCast(cap[1], i16->getPointerTo());
    emit_for(bb, "amxa.row", begin, end, c64(bb, 1), [&](llvm::Value* row) {
      llvm::Value* src = ir.at(bb, cap[0], bb.CreateMul(row, c64(bb, d.a_row)));
      llvm::Value* tile_row = bb.CreateAdd(bb.CreateMul(bb.CreateUDiv(row, c64(bb, kTile)), c64(bb, s.T * s.KB * kTile * kKB)),
                                           bb.CreateMul(bb.CreateURem(row, c64(bb, kTile)), c64(bb, kKB)));
      emit_for(bb, "amxa.kc", 0, s.KB * kKB / kLanes, 1, [&](llvm::Value* v) {
        llvm::Value* kc0 = bb.CreateMul(v, c64(bb, kLanes));
        llvm::Value* kc = bb.CreateAdd(splat(kc0), iota);
        llvm::Value* inside = bb.CreateICmpSLT(kc, splat(c64(bb, d.kouter)));
        llvm::Value* index = bb.CreateMul(kc, splat(c64(bb, d.a_kc)));
        llvm::Value* dst = bb.CreateAdd(tile_row, bb.CreateAdd(bb.CreateMul(bb.CreateUDiv(kc0, c64(bb, kKB)), c64(bb, kTile * kKB)),
                                                               bb.CreateURem(kc0, c64(bb, kKB))));
        for (int64_t t = 0; t < s.T; ++t) {
          llvm::Value* tap = ir.at(bb, src, d.tap_a[static_cast<size_t>(t)]);
          llvm::Value* x = d.a_kc == 1
                               ? bb.CreateMaskedLoad(ir.vf, ir.vptr(bb, ir.at(bb, tap, kc0)), llvm::Align(4), inside, ir.fzero())
                               : bb.CreateMaskedGather(ir.vf, bb.CreateGEP(ir.f32, tap, index), llvm::Align(4), inside, ir.fzero());
          llvm::Value* at = bb.CreateGEP(i16, words, bb.CreateAdd(dst, c64(bb, t * s.KB * kTile * kKB)));
          bb.CreateAlignedStore(bb.CreateTrunc(round_to_bf16(bb, x), v16), bb.CreateBitCast(at, v16->getPointerTo()), llvm::Align(32));
        }
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
  return weights;
}

// The stores' tables: per 16-position vector its valid lanes (i16 masks); per store vector
// (out_sw of them per position vector, spread_lanes' order) R output runs, lanes whose output
// minus lane agree (base, i16 mask); per tap the word of B it reads for position 0.
struct AmxTables {
  int64_t R = 1;
  llvm::GlobalVariable *base = nullptr, *mask = nullptr, *valid = nullptr, *toff = nullptr;
};

AmxTables store_tables(const Amx& amx) {
  const WindowGemm& d = amx.d;
  const AmxShape& s = amx.s;
  std::vector<int64_t> valid(static_cast<size_t>(s.PB * 2), 0);
  std::vector<std::vector<std::pair<int64_t, int64_t>>> vector_runs(valid.size() * static_cast<size_t>(d.out_sw));
  for (size_t v = 0; v < valid.size(); ++v) {
    for (int64_t l = 0; l < kLanes; ++l) {
      const int64_t p = static_cast<int64_t>(v) * kLanes + l, P = d.out_rows * d.out_cols;
      int64_t n = 0, qh = p / s.Wp, qw = p % s.Wp;
      if (s.gathered) n = p / P, qh = p % P / d.out_cols, qw = p % d.out_cols;
      if (n >= d.batch || qh >= d.out_rows || qw >= d.out_cols) continue;
      valid[v] |= int64_t{1} << l;
      const int64_t o = n * d.out_n + (qh * d.out_sh + d.out_oh) * d.out_w + qw * d.out_sw + d.out_ow;
      const int64_t spread = l * d.out_sw, lane = spread % kLanes;
      auto& list = vector_runs[v * static_cast<size_t>(d.out_sw) + static_cast<size_t>(spread / kLanes)];
      if (list.empty() || list.back().first != o - lane) list.push_back({o - lane, 0});
      list.back().second |= int64_t{1} << lane;
    }
  }
  AmxTables t;
  for (const auto& list : vector_runs) t.R = std::max(t.R, static_cast<int64_t>(list.size()));
  const auto R = static_cast<size_t>(t.R);
  std::vector<int64_t> run_base(vector_runs.size() * R, 0), run_mask(run_base.size(), 0);
  for (size_t v = 0; v < vector_runs.size(); ++v)
    for (size_t r = 0; r < vector_runs[v].size(); ++r) {
      run_base[v * R + r] = vector_runs[v][r].first;
      run_mask[v * R + r] = static_cast<int16_t>(static_cast<uint16_t>(vector_runs[v][r].second));
    }
  for (int64_t& m : valid) m = static_cast<int16_t>(static_cast<uint16_t>(m));
  Builder& b = amx.k.b;
  t.base = amx.ir.table(amx.prefix + ".amx.run_base", amx.ir.it, run_base);
  t.mask = amx.ir.table(amx.prefix + ".amx.run_mask", b.getInt16Ty(), run_mask);
  t.valid = amx.ir.table(amx.prefix + ".amx.valid", b.getInt16Ty(), valid);
  t.toff = amx.ir.table(amx.prefix + ".amx.toff", b.getInt64Ty(), s.toff);
  return t;
}

struct AmxIntrinsics {
  llvm::Function *load, *dot, *store, *zero;
};

AmxIntrinsics amx_intrinsics(llvm::Module& m) {
  return {llvm::Intrinsic::getDeclaration(&m, llvm::Intrinsic::x86_tileloadd64_internal),
          llvm::Intrinsic::getDeclaration(&m, llvm::Intrinsic::x86_tdpbf16ps_internal),
          llvm::Intrinsic::getDeclaration(&m, llvm::Intrinsic::x86_tilestored64_internal),
          llvm::Intrinsic::getDeclaration(&m, llvm::Intrinsic::x86_tilezero_internal)};
}

llvm::Value* i8_at(Builder& b, llvm::Value* p, llvm::Value* bytes) {
  return b.CreateGEP(b.getInt8Ty(), b.CreateBitCast(p, b.getInt8PtrTy()), bytes);
}

// Inside the work items' parallel loop: its builder, the captured operands (bias and partials
// null when absent) and a 32 x 32 float scratch the tiles are stored to.
struct AmxLoop {
  const Amx& amx;
  const AmxTables& t;
  const AmxIntrinsics& f;
  Builder& bb;
  llvm::Value *weights, *planes, *out, *bias, *partials;
  llvm::Value* scratch;
};

// One work item: rows [32 rb, 32 rb + 32) by positions [32 pb, 32 pb + 32) of image n.
struct AmxItem {
  llvm::Value *item, *rb, *n, *pb;
};

// The four C tiles of the item (rows 16r.., positions 16c.. at [2r + c]) over all taps and k
// blocks, then stored to scratch[row][position].
void multiply(const AmxLoop& l, const AmxItem& it) {
  const AmxShape& s = l.amx.s;
  const Ir& ir = l.amx.ir;
  Builder& bb = l.bb;
  llvm::Value* rows16 = bb.getInt16(kTile);
  llvm::Value* bytes64 = bb.getInt16(64);
  llvm::Value* a0 = i8_at(bb, l.weights, bb.CreateMul(it.rb, c64(bb, 2 * s.T * s.KB * kTileBytes)));
  llvm::Value* a1 = bb.CreateGEP(bb.getInt8Ty(), a0, c64(bb, s.T * s.KB * kTileBytes));
  llvm::Value* b0 = i8_at(bb, l.planes, bb.CreateMul(bb.CreateAdd(bb.CreateMul(it.n, c64(bb, s.KP * s.S)), bb.CreateMul(it.pb, c64(bb, 2 * kTile))), c64(bb, 4)));
  llvm::Value* b_stride = c64(bb, s.S * 4);
  // The k loop by hand: the four accumulator tiles are phis (x86_amx values live in tile registers).
  llvm::Function* fn = bb.GetInsertBlock()->getParent();
  llvm::BasicBlock* entry = bb.GetInsertBlock();
  llvm::Value* init[4];
  for (auto& z : init) z = bb.CreateCall(l.f.zero, {rows16, bytes64});
  auto* loop = llvm::BasicBlock::Create(ir.ctx, "amx.k", fn);
  auto* done = llvm::BasicBlock::Create(ir.ctx, "amx.k.done", fn);
  bb.CreateBr(loop);
  bb.SetInsertPoint(loop);
  llvm::PHINode* i = bb.CreatePHI(bb.getInt64Ty(), 2);
  i->addIncoming(c64(bb, 0), entry);
  llvm::PHINode* acc[4];
  for (int c = 0; c < 4; ++c) {
    acc[c] = bb.CreatePHI(llvm::Type::getX86_AMXTy(ir.ctx), 2);
    acc[c]->addIncoming(init[c], entry);
  }
  llvm::Value* t = bb.CreateUDiv(i, c64(bb, s.KB));
  llvm::Value* kb = bb.CreateURem(i, c64(bb, s.KB));
  llvm::Value* a_off = bb.CreateMul(i, c64(bb, kTileBytes));
  llvm::Value* ta[2] = {bb.CreateCall(l.f.load, {rows16, bytes64, bb.CreateGEP(bb.getInt8Ty(), a0, a_off), c64(bb, 64)}),
                        bb.CreateCall(l.f.load, {rows16, bytes64, bb.CreateGEP(bb.getInt8Ty(), a1, a_off), c64(bb, 64)})};
  llvm::Value* b_word = bb.CreateAdd(bb.CreateMul(kb, c64(bb, kTile * s.S)), ir.load_scalar(bb, l.t.toff, t));
  llvm::Value* b_at = bb.CreateGEP(bb.getInt8Ty(), b0, bb.CreateMul(b_word, c64(bb, 4)));
  llvm::Value* tb[2] = {bb.CreateCall(l.f.load, {rows16, bytes64, b_at, b_stride}),
                        bb.CreateCall(l.f.load, {rows16, bytes64, bb.CreateGEP(bb.getInt8Ty(), b_at, c64(bb, 64)), b_stride})};
  llvm::Value* next[4];
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c)
      next[2 * r + c] = bb.CreateCall(l.f.dot, {rows16, bytes64, bytes64, acc[2 * r + c], ta[r], tb[c]});
  llvm::Value* i_next = bb.CreateAdd(i, c64(bb, 1));
  i->addIncoming(i_next, bb.GetInsertBlock());
  for (int c = 0; c < 4; ++c) acc[c]->addIncoming(next[c], bb.GetInsertBlock());
  bb.CreateCondBr(bb.CreateICmpULT(i_next, c64(bb, s.T * s.KB)), loop, done);
  bb.SetInsertPoint(done);
  // scratch[row][position], 32 x 32 floats.
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c)
      bb.CreateCall(l.f.store, {rows16, bytes64, i8_at(bb, l.scratch, c64(bb, (r * kTile * 2 * kTile + c * kTile) * 4)), c64(bb, 2 * kTile * 4), next[2 * r + c]});
}

// Position vector pv's 16 values of one output row, stored by the runs of its out_sw store vectors.
void store_vector(const AmxLoop& l, llvm::Value* out_row, llvm::Value* pv, llvm::Value* val) {
  const WindowGemm& d = l.amx.d;
  const Ir& ir = l.amx.ir;
  Builder& bb = l.bb;
  const std::vector<llvm::Value*> spread = spread_lanes(bb, val, d.out_sw);
  for (int64_t e = 0; e < d.out_sw; ++e) {
    llvm::Value* sv = bb.CreateAdd(bb.CreateMul(pv, c64(bb, d.out_sw)), c64(bb, e));
    for (int64_t q = 0; q < l.t.R; ++q) {
      llvm::Value* at = bb.CreateAdd(bb.CreateMul(sv, c64(bb, l.t.R)), c64(bb, q));
      llvm::Value* base = bb.CreateSExt(ir.load_scalar(bb, l.t.base, at), bb.getInt64Ty());
      bb.CreateMaskedStore(spread[static_cast<size_t>(e)], ir.vptr(bb, ir.at(bb, out_row, base)), llvm::Align(4),
                           bb.CreateBitCast(ir.load_scalar(bb, l.t.mask, at), ir.vm));
    }
  }
}

// The item's 32 rows from scratch: the valid positions' sums and squares into the item's
// statistics slot, the bias, the stores.
void store_rows(const AmxLoop& l, const AmxItem& it) {
  const WindowGemm& d = l.amx.d;
  const Ir& ir = l.amx.ir;
  Builder& bb = l.bb;
  llvm::Value* slot = l.partials ? at_f64(bb, l.partials, bb.CreateMul(it.item, c64(bb, 2 * 2 * kTile))) : nullptr;
  llvm::Value* out_n = ir.at(bb, l.out, bb.CreateMul(it.n, c64(bb, d.out_n)));
  emit_for(bb, "amx.row", 0, 2 * kTile, 1, [&](llvm::Value* r) {
    llvm::Value* row = bb.CreateAdd(bb.CreateMul(it.rb, c64(bb, 2 * kTile)), r);
    llvm::Value* out_row = ir.at(bb, out_n, bb.CreateMul(row, c64(bb, d.out_row)));
    llvm::Value* bias_v = l.bias ? bb.CreateVectorSplat(kLanes, bb.CreateAlignedLoad(ir.f32, ir.at(bb, l.bias, row), llvm::Align(4))) : nullptr;
    llvm::Value* sums[2] = {ir.fzero(), ir.fzero()};
    for (int64_t v = 0; v < 2; ++v) {
      llvm::Value* val = ir.vload(bb, ir.at(bb, l.scratch, bb.CreateAdd(bb.CreateMul(r, c64(bb, 2 * kTile)), c64(bb, v * kTile))), 64);
      llvm::Value* pv = bb.CreateAdd(bb.CreateMul(it.pb, c64(bb, 2)), c64(bb, v));
      if (slot) {
        llvm::Value* live = bb.CreateSelect(bb.CreateBitCast(ir.load_scalar(bb, l.t.valid, pv), ir.vm), val, ir.fzero());
        sums[0] = bb.CreateFAdd(sums[0], live);
        sums[1] = bb.CreateFAdd(sums[1], bb.CreateFMul(live, live));
      }
      if (bias_v) val = bb.CreateFAdd(val, bias_v);
      store_vector(l, out_row, pv, val);
    }
    if (slot) {
      llvm::FastMathFlags reassoc;
      reassoc.setAllowReassoc();
      for (int64_t q = 0; q < 2; ++q) {
        auto* sum = llvm::cast<llvm::Instruction>(bb.CreateFAddReduce(llvm::ConstantFP::getNegativeZero(ir.f32), sums[q]));
        sum->setFastMathFlags(reassoc);
        bb.CreateStore(bb.CreateFPExt(sum, bb.getDoubleTy()), at_f64(bb, slot, bb.CreateAdd(r, c64(bb, q * 2 * kTile))));
      }
    }
  }, LoopHints{.no_vectorize = true, .no_unroll = true});
}

// The work items (32-row blocks by 32-position blocks of each image) in parallel.
void run_items(const Amx& amx, const AmxTables& t, llvm::Value* weights, llvm::Value* planes, llvm::Value* out,
               llvm::Value* bias, const RowStats& st) {
  const AmxShape& s = amx.s;
  const Ir& ir = amx.ir;
  const int64_t J = s.images * s.PB, items = s.RBn * J;
  std::vector<llvm::Value*> captured{weights, planes, out};
  if (bias) captured.push_back(bias);
  if (st.partials) captured.push_back(st.partials);
  const AmxIntrinsics f = amx_intrinsics(amx.k.module);
  emit_parallel_for(amx.k.b, amx.k.pool, amx.prefix, c64(amx.k.b, items), captured,
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    auto* scratch_type = llvm::ArrayType::get(ir.f32, 4 * kTile * kTile);
    auto* scratch_alloca = llvm::cast<llvm::AllocaInst>(ir.slot(bb, scratch_type));
    scratch_alloca->setAlignment(llvm::Align(64));
    llvm::Value* scratch = bb.CreateBitCast(scratch_alloca, ir.f32->getPointerTo());
    const AmxLoop l{amx, t, f, bb, cap[0], cap[1], cap[2], bias ? cap[3] : nullptr, st.partials ? cap.back() : nullptr, scratch};
    emit_for(bb, "item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      llvm::Value* rb = bb.CreateUDiv(item, c64(bb, J));
      llvm::Value* j = bb.CreateURem(item, c64(bb, J));
      const AmxItem it{item, rb, bb.CreateUDiv(j, c64(bb, s.PB)), bb.CreateURem(j, c64(bb, s.PB))};
      multiply(l, it);
      store_rows(l, it);
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
}

}  // namespace

void emit_amx(KernelBody& k, const WindowGemm& given, llvm::Value* a, llvm::Value* in, llvm::Value* bias, llvm::Value* out,
              llvm::Value* stats, const std::string& prefix) {
  Builder& b = k.b;
  const bool fold = amx_folds_taps(given);  // few kc (a stem): the taps join k
  const WindowGemm d = fold ? fold_taps(given) : given;
  const AmxShape s = amx_shape(d, !fold);
  const int64_t out_extent = d.batch * std::abs(d.out_n) + d.rows * std::abs(d.out_row) +
                             (d.out_rows * d.out_sh + d.out_oh + 1) * d.out_w + (s.Wp + kTile) * d.out_sw;
  Ir ir(k.module, out_extent >= (int64_t{1} << 31));
  const Amx amx{k, d, s, ir, prefix};

  // B: [n][kp][S] words, zero but the image's pixels (gathered: [tap][kp][S]).
  llvm::Value* planes = fold         ? pack_amx_folded_planes(ir, b, k.pool, prefix, given, s.KP, in)
                        : s.gathered ? pack_amx_gathered(ir, b, k.pool, prefix, d, s.KP, in)
                                     : pack_amx_phase_planes(ir, b, k.pool, prefix, d, s.planes, s.KP, in);
  llvm::Value* weights = pack_weights(amx, a);
  const AmxTables t = store_tables(amx);
  const int64_t J = s.images * s.PB, items = s.RBn * J;
  RowStats st;
  if (stats) st = row_stats(ir, b, items, 2 * kTile, items, J, 1, J);
  run_items(amx, t, weights, planes, out, bias, st);
  ir.release(b, weights);
  ir.release(b, planes);
  if (st.partials) finalize_row_stats(ir, b, d, st, bias, stats);
}

}  // namespace resnetc::codegen::llvm_backend::gemm_internal
