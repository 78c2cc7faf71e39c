// The AMX path's image operand for any stride (gemm_internal.h: AmxPlanes), and the spread of
// its outputs for a strided output (a phase of a strided convolution's input gradient).
//
// A tile row of B is 16 consecutive words, so the 16 positions of a row of C must read
// consecutive words of one plane. At stride s a tap reads every s-th pixel; splitting the
// zero-padded image into its s_h x s_w phases (a space-to-depth copy) makes those reads
// consecutive again: tap (th, tw), at padded offset (oh, ow), reads phase (oh % sh, ow % sw) at
// (qh + oh / sh, qw + ow / sw). Only the phases some tap reads are copied (a 1x1/2 projection
// reads one of four). At stride 1 there is one phase: the padded image itself.
#include <algorithm>

#include "compiler/codegen/llvm/emit/gemm_internal.h"

namespace resnetc::codegen::llvm_backend::gemm_internal {
namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The rows (or columns) q of a phase plane in [0, extent) whose padded pixel q*stride + phase
// lies in the image: [lo, hi).
std::pair<int64_t, int64_t> image_range(int64_t stride, int64_t phase, int64_t pad, int64_t image, int64_t extent) {
  const int64_t lo = std::max<int64_t>(0, -floor_div(phase - pad, stride));
  const int64_t hi = std::min(extent, floor_div(image - 1 + pad - phase, stride) + 1);
  return {lo, std::max(lo, hi)};
}

// 16 lanes of a row of phase b: lanes l*stride + b of the 16*stride elements from `src`
// (masked: lanes at or past `limit` are not read), as one <16 x float>.
llvm::Value* load_phase_lanes(const Ir& ir, Builder& b, llvm::Value* src, llvm::Value* limit, llvm::Value* keep,
                              int64_t stride, bool bf16) {
  llvm::Value* result = llvm::PoisonValue::get(ir.vf);
  for (int64_t c = 0; c < stride; ++c) {
    std::vector<llvm::Constant*> lanes;
    for (int64_t l = 0; l < kLanes; ++l) lanes.push_back(b.getInt64(static_cast<uint64_t>(c * kLanes + l)));
    llvm::Value* mask = b.CreateAnd(b.CreateICmpSLT(llvm::ConstantVector::get(lanes), b.CreateVectorSplat(kLanes, limit)),
                                    b.CreateVectorSplat(kLanes, keep));
    llvm::Value* chunk = load_operand(ir, b, operand_at(ir, b, src, c * kLanes, bf16), mask, bf16);
    // Lane l takes chunk c's lane (l*stride) % 16 where (l*stride) / 16 == c.
    std::vector<int> pick;
    for (int64_t l = 0; l < kLanes; ++l)
      pick.push_back(static_cast<int>(l * stride / kLanes == c ? kLanes + l * stride % kLanes : l));
    result = b.CreateShuffleVector(result, chunk, pick);
  }
  return result;
}

// The rows of phase (a, pb) of one kc pair's plane: words bf16(even) | bf16(odd) << 16.
void pack_phase(const Ir& ir, Builder& b, const WindowGemm& d, const AmxPlanes& p, int64_t a, int64_t pb,
                llvm::Value* even, llvm::Value* odd, llvm::Value* has_odd, llvm::Value* dst) {
  const auto [y_lo, y_hi] = image_range(p.sh, a, p.pad_t, d.in_h, p.Hq);
  const auto [x_lo, x_hi] = image_range(p.sw, pb, p.pad_l, d.in_w, p.Wq);
  std::vector<llvm::Constant*> lanes;
  for (int64_t l = 0; l < kLanes; ++l) lanes.push_back(b.getInt64(static_cast<uint64_t>(l)));
  llvm::Constant* iota = llvm::ConstantVector::get(lanes);
  auto* vi32 = llvm::FixedVectorType::get(b.getInt32Ty(), kLanes);
  emit_for(b, "amxb.y", y_lo, y_hi, 1, [&](llvm::Value* y) {
    llvm::Value* src_row = b.CreateMul(b.CreateAdd(b.CreateMul(y, c64(b, p.sh)), c64(b, a - p.pad_t)), c64(b, d.in_w));
    llvm::Value* dst_row = ir.at(b, dst, b.CreateMul(y, c64(b, p.Wq)));
    emit_for(b, "amxb.x", x_lo, x_hi, kLanes, [&](llvm::Value* x) {
      llvm::Value* x0 = b.CreateAdd(b.CreateMul(x, c64(b, p.sw)), c64(b, pb - p.pad_l));  // the image column of lane 0
      llvm::Value* limit = b.CreateSub(c64(b, d.in_w), x0);
      llvm::Value* at = b.CreateAdd(src_row, x0);
      llvm::Value* lo = load_phase_lanes(ir, b, operand_at(ir, b, even, at, d.in_bf16), limit, b.getTrue(), p.sw, d.in_bf16);
      llvm::Value* hi = load_phase_lanes(ir, b, operand_at(ir, b, odd, at, d.in_bf16), limit, has_odd, p.sw, d.in_bf16);
      llvm::Value* word = b.CreateOr(operand_bits(b, lo, d.in_bf16),
                                     b.CreateShl(operand_bits(b, hi, d.in_bf16), b.CreateVectorSplat(kLanes, b.getInt32(16))));
      llvm::Value* mask = b.CreateICmpSLT(b.CreateAdd(b.CreateVectorSplat(kLanes, x), iota), b.CreateVectorSplat(kLanes, c64(b, x_hi)));
      b.CreateMaskedStore(word, b.CreateBitCast(ir.at(b, dst_row, x), vi32->getPointerTo()), llvm::Align(4), mask);
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  }, LoopHints{.no_vectorize = true, .no_unroll = true});
}

}  // namespace

AmxPlanes amx_planes(const WindowGemm& d) {
  AmxPlanes p;
  p.sh = d.in_sh;
  p.sw = d.in_sw;
  const auto [min_h, max_h] = std::minmax_element(d.tap_h.begin(), d.tap_h.end());
  const auto [min_w, max_w] = std::minmax_element(d.tap_w.begin(), d.tap_w.end());
  p.pad_t = std::max<int64_t>(0, -*min_h);
  p.pad_l = std::max<int64_t>(0, -*min_w);
  // A plane holds the image's pixels of its phase and what the last output reads.
  p.Hq = std::max(ceil_div(p.pad_t + d.in_h, p.sh), d.out_rows + (*max_h + p.pad_t) / p.sh);
  p.Wq = std::max(ceil_div(p.pad_l + d.in_w, p.sw), d.out_cols + (*max_w + p.pad_l) / p.sw);
  p.PB = ceil_div(d.out_rows * p.Wq, 2 * kLanes);
  const int64_t max_off = (*max_h + p.pad_t) / p.sh * p.Wq + (*max_w + p.pad_l) / p.sw;
  p.plane = round_up(std::max(p.Hq * p.Wq, p.PB * 2 * kLanes + max_off), kLanes);
  for (int64_t th : d.tap_h)
    for (int64_t tw : d.tap_w) {
      const std::array<int64_t, 2> phase{(th + p.pad_t) % p.sh, (tw + p.pad_l) % p.sw};
      if (std::find(p.phases.begin(), p.phases.end(), phase) == p.phases.end()) p.phases.push_back(phase);
    }
  std::sort(p.phases.begin(), p.phases.end());
  for (int64_t th : d.tap_h)
    for (int64_t tw : d.tap_w) {
      const std::array<int64_t, 2> phase{(th + p.pad_t) % p.sh, (tw + p.pad_l) % p.sw};
      const int64_t index = std::find(p.phases.begin(), p.phases.end(), phase) - p.phases.begin();
      p.tap_offset.push_back(index * p.plane + (th + p.pad_t) / p.sh * p.Wq + (tw + p.pad_l) / p.sw);
    }
  return p;
}

llvm::Value* pack_amx_phase_planes(const Ir& ir, Builder& b, llvm::Value* pool, const std::string& prefix,
                                   const WindowGemm& d, const AmxPlanes& p, int64_t KP, llvm::Value* in) {
  const auto P = static_cast<int64_t>(p.phases.size());
  llvm::Value* planes = ir.alloc(b, d.batch * KP * P * p.plane * 4);
  emit_parallel_for(b, pool, prefix + ".amxb", c64(b, d.batch * KP), {in, planes},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    emit_for(bb, "amxb.item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      llvm::Value* kp = bb.CreateURem(item, c64(bb, KP));
      llvm::Value* n = bb.CreateUDiv(item, c64(bb, KP));
      llvm::Value* dst = ir.at(bb, cap[1], bb.CreateMul(item, c64(bb, P * p.plane)));
      bb.CreateMemSet(dst, bb.getInt8(0), c64(bb, P * p.plane * 4), llvm::MaybeAlign(4));
      llvm::Value* kc = bb.CreateMul(kp, c64(bb, 2));
      llvm::Value* has_odd = bb.CreateICmpSLT(bb.CreateAdd(kc, c64(bb, 1)), c64(bb, d.kouter));
      emit_if(bb, bb.CreateICmpSLT(kc, c64(bb, d.kouter)), [&] {
        llvm::Value* even = operand_at(ir, bb, cap[0], bb.CreateAdd(bb.CreateMul(n, c64(bb, d.in_n)), bb.CreateMul(kc, c64(bb, d.in_c))), d.in_bf16);
        llvm::Value* odd = operand_at(ir, bb, even, d.in_c, d.in_bf16);
        for (int64_t i = 0; i < P; ++i) {
          const auto [a, pb] = p.phases[static_cast<size_t>(i)];
          pack_phase(ir, bb, d, p, a, pb, even, odd, has_odd, ir.at(bb, dst, i * p.plane));
        }
      });
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
  return planes;
}

std::vector<llvm::Value*> spread_lanes(Builder& b, llvm::Value* v, int64_t stride) {
  if (stride == 1) return {v};
  std::vector<llvm::Value*> out;
  for (int64_t e = 0; e < stride; ++e) {
    std::vector<int> pick;
    for (int64_t j = 0; j < kLanes; ++j) {
      const int64_t lane = e * kLanes + j;
      pick.push_back(lane % stride == 0 ? static_cast<int>(lane / stride) : -1);
    }
    out.push_back(b.CreateShuffleVector(v, pick));
  }
  return out;
}

}  // namespace resnetc::codegen::llvm_backend::gemm_internal
