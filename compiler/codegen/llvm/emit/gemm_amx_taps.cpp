// Few input channels on AMX tiles (gemm_internal.h: amx_folds_taps). A tile multiplies 32 k at
// a time; a stem's 1 input channel (kc) would fill 1 of them, so there the taps join k
// instead: k' = kc * taps + tap, the window becomes one tap (1x1, stride 1), and its image
// operand holds, per pair of k', what those two taps read for each output position. That copy
// is made from the window's own phase planes (gemm_amx_strided.cpp), where each tap reads a
// fixed offset: a shifted contiguous copy per k', no gathers.
#include "compiler/codegen/llvm/emit/gemm_internal.h"

namespace resnetc::codegen::llvm_backend::gemm_internal {
namespace {

constexpr int64_t kFoldBelow = 16;  // fewer kc than this: taps join k (amx_fits wants 16 k at least)

}  // namespace

bool amx_folds_taps(const WindowGemm& d) {
  const auto T = static_cast<int64_t>(d.tap_a.size());
  // kc * taps + tap must be A's own order: every tap kept (none dropped for meeting only
  // padding), in order, the taps of one kc contiguous.
  if (d.kouter >= kFoldBelow || T < 2 || d.a_kc != T) return false;
  for (int64_t t = 0; t < T; ++t)
    if (d.tap_a[static_cast<size_t>(t)] != t) return false;
  return true;
}

WindowGemm fold_taps(const WindowGemm& d) {
  const AmxPlanes p = amx_planes(d);
  WindowGemm f = d;
  f.kouter = d.kouter * static_cast<int64_t>(d.tap_a.size());
  f.tap_h = {0};
  f.tap_w = {0};
  f.tap_a = {0};
  f.a_kc = 1;
  // Positions laid out as in d's phase planes (qh * Wq + qw), so each k' is one shifted copy.
  f.in_h = d.out_rows;
  f.in_w = p.Wq;
  f.in_sh = f.in_sw = 1;
  f.in_bf16 = false;  // its image operand is pack_amx_folded_planes' copy
  return f;
}

llvm::Value* pack_amx_folded_planes(const Ir& ir, Builder& b, llvm::Value* pool, const std::string& prefix,
                                    const WindowGemm& d, int64_t KP, llvm::Value* in) {
  const AmxPlanes p = amx_planes(d), pf = amx_planes(fold_taps(d));
  const int64_t KPd = ceil_div(d.kouter, 2), Sd = static_cast<int64_t>(p.phases.size()) * p.plane;
  llvm::Value* phase = pack_amx_phase_planes(ir, b, pool, prefix, d, p, KPd, in);
  // Per k': the word it reads for position 0 (within an image's phase planes) and the half of
  // that word (kc's parity); k' past kouter * taps reads word 0 and is zeroed.
  const auto T = static_cast<int64_t>(d.tap_a.size());
  std::vector<int64_t> src, shift, live;
  for (int64_t k = 0; k < 2 * KP; ++k) {
    const bool inside = k < d.kouter * T;
    const int64_t kc = inside ? k / T : 0, t = inside ? k % T : 0;
    src.push_back(inside ? kc / 2 * Sd + p.tap_offset[static_cast<size_t>(t)] : 0);
    shift.push_back(16 * (kc % 2));
    live.push_back(inside ? -1 : 0);
  }
  llvm::GlobalVariable* t_src = ir.table(prefix + ".amxf.src", b.getInt64Ty(), src);
  llvm::GlobalVariable* t_shift = ir.table(prefix + ".amxf.shift", b.getInt32Ty(), shift);
  llvm::GlobalVariable* t_live = ir.table(prefix + ".amxf.live", b.getInt32Ty(), live);
  llvm::Value* folded = ir.alloc(b, d.batch * KP * pf.plane * 4);
  auto* vi32 = llvm::FixedVectorType::get(b.getInt32Ty(), kLanes);
  emit_parallel_for(b, pool, prefix + ".amxf", c64(b, d.batch * KP), {phase, folded},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    emit_for(bb, "amxf.item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      llvm::Value* kp = bb.CreateURem(item, c64(bb, KP));
      llvm::Value* image = ir.at(bb, cap[0], bb.CreateMul(bb.CreateUDiv(item, c64(bb, KP)), c64(bb, KPd * Sd)));
      llvm::Value* dst = bb.CreateBitCast(ir.at(bb, cap[1], bb.CreateMul(item, c64(bb, pf.plane))), bb.getInt32Ty()->getPointerTo());
      // The two k' of this pair: where they read, which half, whether they exist.
      llvm::Value* from[2];
      llvm::Value* half[2];
      llvm::Value* keep[2];
      for (int h = 0; h < 2; ++h) {
        llvm::Value* k = bb.CreateAdd(bb.CreateMul(kp, c64(bb, 2)), c64(bb, h));
        from[h] = bb.CreateBitCast(ir.at(bb, image, ir.load_scalar(bb, t_src, k)), bb.getInt32Ty()->getPointerTo());
        half[h] = bb.CreateVectorSplat(kLanes, ir.load_scalar(bb, t_shift, k));
        keep[h] = bb.CreateVectorSplat(kLanes, ir.load_scalar(bb, t_live, k));
      }
      llvm::Value* low16 = bb.CreateVectorSplat(kLanes, bb.getInt32(0xffff));
      emit_for(bb, "amxf.p", 0, pf.PB * 2 * kLanes, kLanes, [&](llvm::Value* q) {
        llvm::Value* word[2];
        for (int h = 0; h < 2; ++h) {
          llvm::Value* v = bb.CreateAlignedLoad(vi32, bb.CreateBitCast(bb.CreateGEP(bb.getInt32Ty(), from[h], q), vi32->getPointerTo()), llvm::Align(4));
          word[h] = bb.CreateAnd(bb.CreateAnd(bb.CreateLShr(v, half[h]), low16), keep[h]);
        }
        llvm::Value* pair = bb.CreateOr(word[0], bb.CreateShl(word[1], bb.CreateVectorSplat(kLanes, bb.getInt32(16))));
        bb.CreateAlignedStore(pair, bb.CreateBitCast(bb.CreateGEP(bb.getInt32Ty(), dst, q), vi32->getPointerTo()), llvm::Align(4));
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
  ir.release(b, phase);
  return folded;
}

}  // namespace resnetc::codegen::llvm_backend::gemm_internal
