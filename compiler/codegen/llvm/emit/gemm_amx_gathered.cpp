// Small maps on AMX tiles (gemm_internal.h: amx_gathers). emit_amx's blocks of 32 positions
// do not span images, so on a 3x3 map (stage 4 at 96x96) a block would hold 9 outputs. Here
// the positions of all images are numbered without gaps, g = n * OH*OW + qh * OW + qw, and
// each tap gets a copy of what it reads at every g (zero over the padding): B is
// [tap][kc pair][S] words, S = G rounded up to whole blocks, so a tap's tile is a plain
// tileloadd at a fixed offset, as on the phase planes. The copy costs taps times the image
// operand, which on such maps is small beside the weights.
#include <algorithm>

#include "compiler/codegen/llvm/emit/gemm_internal.h"

namespace resnetc::codegen::llvm_backend::gemm_internal {
namespace {

constexpr int64_t kBlock = 2 * kLanes;  // positions per AMX work item
constexpr int64_t kMaxCopyBytes = int64_t{1} << 30;

int64_t positions(const WindowGemm& d) { return d.batch * d.out_rows * d.out_cols; }

}  // namespace

bool amx_gathers(const WindowGemm& d, int64_t KP) {
  const int64_t G = positions(d), S = round_up(G, kBlock), T = static_cast<int64_t>(d.tap_a.size());
  if (d.groups != 1 || T == 0 || 2 * G < S || T * KP * S * 4 > kMaxCopyBytes) return false;
  // Every tap is computed at every position: at least half of those reads must meet the image
  // (a 3x3 map under a 3x3 window: 49 of 81; a 1x1 map keeps only the taps it meets).
  int64_t inside = 0;
  for (int64_t th : d.tap_h)
    for (int64_t tw : d.tap_w)
      for (int64_t qh = 0; qh < d.out_rows; ++qh)
        for (int64_t qw = 0; qw < d.out_cols; ++qw) {
          const int64_t y = qh * d.in_sh + th, x = qw * d.in_sw + tw;
          inside += y >= 0 && y < d.in_h && x >= 0 && x < d.in_w;
        }
  return 2 * inside >= T * d.out_rows * d.out_cols;
}

llvm::Value* pack_amx_gathered(const Ir& ir, Builder& b, llvm::Value* pool, const std::string& prefix,
                               const WindowGemm& d, int64_t KP, llvm::Value* in) {
  const int64_t G = positions(d), S = round_up(G, kBlock), P = d.out_rows * d.out_cols;
  const auto TW = static_cast<int64_t>(d.tap_w.size()), T = static_cast<int64_t>(d.tap_a.size());
  // Per position: its image's and window's first pixel (tap offsets added later), its row and
  // column in the image (for the padding test); past G, a row no tap meets.
  std::vector<int64_t> base, row, col;
  for (int64_t g = 0; g < S; ++g) {
    const int64_t n = g / P, qh = g % P / d.out_cols, qw = g % d.out_cols;
    base.push_back(g < G ? n * d.in_n + qh * d.in_sh * d.in_w + qw * d.in_sw : 0);
    row.push_back(g < G ? qh * d.in_sh : -(int64_t{1} << 40));
    col.push_back(qw * d.in_sw);
  }
  auto* i64 = b.getInt64Ty();
  llvm::GlobalVariable* t_base = ir.table(prefix + ".amxg.base", i64, base);
  llvm::GlobalVariable* t_row = ir.table(prefix + ".amxg.row", i64, row);
  llvm::GlobalVariable* t_col = ir.table(prefix + ".amxg.col", i64, col);
  llvm::Value* copy = ir.alloc(b, T * KP * S * 4);
  auto* vi32 = llvm::FixedVectorType::get(b.getInt32Ty(), kLanes);
  auto* vi64 = llvm::FixedVectorType::get(i64, kLanes);
  llvm::GlobalVariable* t_th = ir.table(prefix + ".amxg.th", i64, d.tap_h);
  llvm::GlobalVariable* t_tw = ir.table(prefix + ".amxg.tw", i64, d.tap_w);
  emit_parallel_for(b, pool, prefix + ".amxb", c64(b, T * KP), {in, copy},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    auto vload64 = [&](llvm::GlobalVariable* t, llvm::Value* g0) {
      return bb.CreateAlignedLoad(vi64, bb.CreateBitCast(ir.element(bb, t, g0), vi64->getPointerTo()), llvm::Align(8));
    };
    auto splat = [&](llvm::Value* v) { return bb.CreateVectorSplat(kLanes, v); };
    emit_for(bb, "amxg.item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      llvm::Value* t = bb.CreateUDiv(item, c64(bb, KP));
      llvm::Value* kp = bb.CreateURem(item, c64(bb, KP));
      llvm::Value* th = ir.load_scalar(bb, t_th, bb.CreateUDiv(t, c64(bb, TW)));
      llvm::Value* tw = ir.load_scalar(bb, t_tw, bb.CreateURem(t, c64(bb, TW)));
      llvm::Value* kc = bb.CreateMul(kp, c64(bb, 2));
      llvm::Value* has_even = splat(bb.CreateICmpSLT(kc, c64(bb, d.kouter)));
      llvm::Value* has_odd = splat(bb.CreateICmpSLT(bb.CreateAdd(kc, c64(bb, 1)), c64(bb, d.kouter)));
      llvm::Value* even = operand_at(ir, bb, cap[0], bb.CreateAdd(bb.CreateMul(kc, c64(bb, d.in_c)), bb.CreateAdd(bb.CreateMul(th, c64(bb, d.in_w)), tw)),
                                     d.in_bf16);
      llvm::Value* odd = operand_at(ir, bb, even, d.in_c, d.in_bf16);
      llvm::Value* dst = bb.CreateBitCast(ir.at(bb, cap[1], bb.CreateMul(item, c64(bb, S))), bb.getInt32Ty()->getPointerTo());
      emit_for(bb, "amxg.g", 0, S, kLanes, [&](llvm::Value* g0) {
        llvm::Value* y = bb.CreateAdd(vload64(t_row, g0), splat(th));
        llvm::Value* x = bb.CreateAdd(vload64(t_col, g0), splat(tw));
        llvm::Value* ok = bb.CreateAnd(bb.CreateAnd(bb.CreateICmpSGE(y, splat(c64(bb, 0))), bb.CreateICmpSLT(y, splat(c64(bb, d.in_h)))),
                                       bb.CreateAnd(bb.CreateICmpSGE(x, splat(c64(bb, 0))), bb.CreateICmpSLT(x, splat(c64(bb, d.in_w)))));
        llvm::Value* index = bb.CreateSelect(ok, vload64(t_base, g0), splat(c64(bb, 0)));
        llvm::Value* lo = gather_operand(ir, bb, even, index, bb.CreateAnd(ok, has_even), d.in_bf16);
        llvm::Value* hi = gather_operand(ir, bb, odd, index, bb.CreateAnd(ok, has_odd), d.in_bf16);
        llvm::Value* word = bb.CreateOr(operand_bits(bb, lo, d.in_bf16), bb.CreateShl(operand_bits(bb, hi, d.in_bf16), splat(bb.getInt32(16))));
        bb.CreateAlignedStore(word, bb.CreateBitCast(bb.CreateGEP(bb.getInt32Ty(), dst, g0), vi32->getPointerTo()), llvm::Align(64));
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
  return copy;
}

}  // namespace resnetc::codegen::llvm_backend::gemm_internal
