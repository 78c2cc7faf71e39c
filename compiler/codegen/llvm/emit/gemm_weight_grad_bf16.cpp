// The weight gradient with bf16 operands (gemm_weight_grad_bf16.h): AMX tiles, and the rounding
// the float32 kernel does elsewhere.
//
// On AMX the reduction (AMX's k) is over the output positions of all images, so the layout is
// chosen to make every tap a plain tile load of both operands, with no per-tap copy (but on
// small maps):
//  * x: per input channel one row of bf16 holding its stride_h x stride_w phases (the padded
//    rows and columns y = qh*stride + r, one plane per (r_h, r_w); stride 1: one phase, the
//    padded image), each phase the images' Hq x Wq planes one after another. An output
//    position g = n*S + qh*Wq + qw (S = Hq*Wq) reads tap t at g + toff[t] (the tap's phase
//    and its row and column shift in it), so a tile of 16 channels x 32 positions of a tap is
//    one tileloadd at any offset (bf16 rows are byte-addressed; the channel row is the
//    stride). Positions with qw >= OW or qh >= OH are padding and read whatever lies there.
//    Where those planes would be mostly padding (small maps), x is gathered per tap instead:
//    the positions of each image without gaps, tap t's copy at toff[t] (GradAmxShape::gathered).
//  * dy: the tile multiply's B operand, pairs of positions along k: 32-bit words dyv[g/2][o],
//    (position g, position g + 1) of channel o, zero at the padding positions (which is what
//    drops their products). Made once per call, shared by every tap.
// A work item is 32 input x 32 output channels (four float32 C tiles, C[kc][o]) over a split
// of the positions; it walks them in chunks of 128 and, per chunk, every tap (the chunk's x and
// dy stay in L1/L2 across the taps), keeping each tap's four tiles in its park between chunks.
// The parks of a channel block's splits are then summed and scattered into dw[o][kc][tap].
#include "compiler/codegen/llvm/emit/gemm_weight_grad_bf16.h"

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>

#include <algorithm>

namespace resnetc::codegen::llvm_backend::gemm_internal {
namespace {

constexpr int64_t kTile = 16;          // tile rows; 32-bit columns of a row
constexpr int64_t kTileBytes = 1024;   // 16 rows x 64 bytes
constexpr int64_t kBlock = 2 * kTile;  // channels per side of a work item (two tiles)
constexpr int64_t kStep = 32;          // positions per tile multiply (bf16 k)
constexpr int64_t kChunkSteps = 4;    // steps per chunk: 128 positions (measured best of 2-16)
constexpr int64_t kMinItems = 16;      // work items wanted, at least (chunks permitting)

struct GradAmxShape {
  int64_t C = 0, O = 0, T = 0, Kconv = 0;
  int64_t CB = 0, OB = 0;           // 32-channel blocks of x and of dy
  int64_t Hq = 0, Wq = 0, S = 0;    // a phase plane (Wq even: a pair never spans two rows)
  // Small maps, where the planes would be mostly padding: per tap a gathered copy of x, the
  // positions of an image in a row of their own (rows = 1, cols = OH*OW, Wq that rounded to
  // pairs), tap t at t*SEG. Else rows, cols = OH, OW: dy's rows as the planes hold them.
  bool gathered = false;
  int64_t rows = 0, cols = 0;
  int64_t steps = 0, chunks = 0;    // 32-position steps over all images
  int64_t SEG = 0;                  // bf16 elements per phase of a channel row (room for the last step's taps)
  int64_t LR = 0;                   // bf16 elements per channel row: stride_h * stride_w phases
  std::vector<int64_t> toff;        // per tap (kh, kw): its offset from the position
  // The phases some tap reads (a 1x1 stride-2 conv reads one of four): rows y % stride_h as
  // bits, columns x % stride_w; the others are left zero, not copied.
  int64_t used_h_bits = 0;
  std::vector<bool> used_w;
  // Work items split the chunks when there are few channel blocks (a 64-channel layer has
  // four), so that threads have work; by the shape alone, so the sums do not depend on the
  // thread count. An item's tiles wait in a park (T x 4 tiles) between chunks.
  int64_t splits = 1, park_floats = 0;
};

GradAmxShape gathered_shape(const WeightGrad& d, GradAmxShape s) {
  s.gathered = true;
  s.rows = 1, s.cols = d.out_h * d.out_w;
  s.Hq = 1, s.Wq = round_up(s.cols, 2), s.S = s.Wq;
  s.steps = ceil_div(d.batch * s.S, kStep);
  s.chunks = ceil_div(s.steps, kChunkSteps);
  s.SEG = s.steps * kStep;
  s.LR = s.T * s.SEG;
  s.splits = std::clamp<int64_t>(ceil_div(kMinItems, s.CB * s.OB), 1, s.chunks);
  for (int64_t t = 0; t < s.T; ++t) s.toff.push_back(t * s.SEG);
  return s;
}

GradAmxShape grad_amx_shape(const WeightGrad& d) {
  GradAmxShape s;
  s.C = d.in_per_group, s.O = d.out_per_group, s.T = d.kernel_h * d.kernel_w, s.Kconv = s.C * s.T;
  s.CB = ceil_div(s.C, kBlock), s.OB = ceil_div(s.O, kBlock);
  s.park_floats = s.T * 4 * kTile * kTile;
  // Padded row qh*stride + kh*dilation is row qh + shift of phase plane (kh*dilation) % stride.
  const int64_t shift_h = (d.kernel_h - 1) * d.dilation_h / d.stride_h, shift_w = (d.kernel_w - 1) * d.dilation_w / d.stride_w;
  s.Hq = std::max(d.out_h + shift_h, ceil_div(d.pad_h + d.in_h, d.stride_h));
  s.Wq = round_up(std::max(d.out_w + shift_w, ceil_div(d.pad_w + d.in_w, d.stride_w)), 2);
  s.S = s.Hq * s.Wq;
  s.steps = ceil_div(d.batch * s.S, kStep);
  s.chunks = ceil_div(s.steps, kChunkSteps);
  s.SEG = round_up(s.steps * kStep + shift_h * s.Wq + shift_w, kStep);
  s.LR = d.stride_h * d.stride_w * s.SEG;
  s.splits = std::clamp<int64_t>(ceil_div(kMinItems, s.CB * s.OB), 1, s.chunks);
  s.rows = d.out_h, s.cols = d.out_w;
  if (2 * d.batch * d.out_h * d.out_w < s.steps * kStep) return gathered_shape(d, s);
  s.used_w.assign(static_cast<size_t>(d.stride_w), false);
  for (int64_t kh = 0; kh < d.kernel_h; ++kh)
    for (int64_t kw = 0; kw < d.kernel_w; ++kw) {
      const int64_t h = kh * d.dilation_h, w = kw * d.dilation_w;
      s.used_h_bits |= int64_t{1} << (h % d.stride_h);
      s.used_w[static_cast<size_t>(w % d.stride_w)] = true;
      const int64_t phase = h % d.stride_h * d.stride_w + w % d.stride_w;
      s.toff.push_back(phase * s.SEG + h / d.stride_h * s.Wq + w / d.stride_w);
    }
  return s;
}

llvm::Value* byte_at(Builder& b, llvm::Value* p, llvm::Value* bytes) {
  return b.CreateGEP(b.getInt8Ty(), b.CreateBitCast(p, b.getInt8PtrTy()), bytes);
}

llvm::Constant* iota64(Builder& b) {
  std::vector<llvm::Constant*> lanes;
  for (int64_t l = 0; l < kLanes; ++l) lanes.push_back(b.getInt64(static_cast<uint64_t>(l)));
  return llvm::ConstantVector::get(lanes);
}

// Lanes x0 + l < limit.
llvm::Value* lanes_below(Builder& b, llvm::Value* x0, int64_t limit) {
  return b.CreateICmpSLT(b.CreateAdd(b.CreateVectorSplat(kLanes, x0), iota64(b)), b.CreateVectorSplat(kLanes, c64(b, limit)));
}

const LoopHints kPlain{.no_vectorize = true, .no_unroll = true};

// dst[j] = bf16(src[j * stride]), j < count (dst: i16*; src: bf16 bits where `bf16`).
void store_row_bf16(const Ir& ir, Builder& bb, llvm::Value* src, int64_t stride, int64_t count, llvm::Value* dst, bool bf16) {
  auto* v16 = llvm::FixedVectorType::get(bb.getInt16Ty(), kLanes);
  emit_for(bb, "xbf.x", 0, ceil_div(count, kLanes), 1, [&](llvm::Value* v) {
    llvm::Value* j0 = bb.CreateMul(v, c64(bb, kLanes));
    llvm::Value* mask = lanes_below(bb, j0, count);
    llvm::Value* val;
    if (stride == 1) {
      val = load_operand(ir, bb, operand_at(ir, bb, src, j0, bf16), mask, bf16);
    } else {
      llvm::Value* index = bb.CreateMul(bb.CreateAdd(bb.CreateVectorSplat(kLanes, j0), iota64(bb)), bb.CreateVectorSplat(kLanes, c64(bb, stride)));
      val = gather_operand(ir, bb, src, index, mask, bf16);
    }
    bb.CreateMaskedStore(bb.CreateTrunc(operand_bits(bb, val, bf16), v16),
                         bb.CreateBitCast(bb.CreateGEP(bb.getInt16Ty(), dst, j0), v16->getPointerTo()), llvm::Align(2), mask);
  }, kPlain);
}

// x's rows (CB*32 of them, zero past C): per channel its stride_h*stride_w phases, each the
// images' phase planes one after another.
llvm::Value* pack_x(const Ir& ir, KernelBody& k, const WeightGrad& d, const GradAmxShape& s, llvm::Value* x,
                    const std::string& prefix) {
  Builder& b = k.b;
  llvm::Value* xb = ir.alloc(b, s.CB * kBlock * s.LR * 2);
  emit_parallel_for(b, k.pool, prefix + ".xbf", c64(b, s.CB * kBlock), {x, xb},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    auto* i16 = bb.getInt16Ty();
    emit_for(bb, "xbf.c", begin, end, c64(bb, 1), [&](llvm::Value* c) {
      llvm::Value* row = bb.CreateGEP(i16, bb.CreateBitCast(cap[1], i16->getPointerTo()), bb.CreateMul(c, c64(bb, s.LR)));
      bb.CreateMemSet(row, bb.getInt8(0), c64(bb, s.LR * 2), llvm::MaybeAlign(64));
      emit_if(bb, bb.CreateICmpSLT(c, c64(bb, s.C)), [&] {
        emit_for(bb, "xbf.ny", 0, d.batch * d.in_h, 1, [&](llvm::Value* ny) {
          llvm::Value* n = bb.CreateUDiv(ny, c64(bb, d.in_h));
          llvm::Value* y = bb.CreateURem(ny, c64(bb, d.in_h));
          llvm::Value* src = operand_at(ir, bb, cap[0], bb.CreateAdd(bb.CreateMul(bb.CreateAdd(bb.CreateMul(n, c64(bb, s.C)), c), c64(bb, d.in_h * d.in_w)),
                                                                    bb.CreateMul(y, c64(bb, d.in_w))), d.x_bf16);
          llvm::Value* padded_y = bb.CreateAdd(y, c64(bb, d.pad_h));
          llvm::Value* plane_row = bb.CreateAdd(bb.CreateMul(n, c64(bb, s.S)), bb.CreateMul(bb.CreateUDiv(padded_y, c64(bb, d.stride_h)), c64(bb, s.Wq)));
          llvm::Value* phase_h = bb.CreateURem(padded_y, c64(bb, d.stride_h));
          llvm::Value* row_used = bb.CreateTrunc(bb.CreateLShr(c64(bb, s.used_h_bits), phase_h), bb.getInt1Ty());
          emit_if(bb, row_used, [&] {
            for (int64_t pw = 0; pw < d.stride_w; ++pw) {
              // The columns x whose padded column lies in phase pw: x0, x0 + stride_w, ...
              const int64_t x0 = ((pw - d.pad_w) % d.stride_w + d.stride_w) % d.stride_w;
              if (x0 >= d.in_w || !s.used_w[static_cast<size_t>(pw)]) continue;
              llvm::Value* phase = bb.CreateAdd(bb.CreateMul(phase_h, c64(bb, d.stride_w)), c64(bb, pw));
              llvm::Value* dst = bb.CreateGEP(i16, row, bb.CreateAdd(bb.CreateMul(phase, c64(bb, s.SEG)),
                                                                     bb.CreateAdd(plane_row, c64(bb, (x0 + d.pad_w) / d.stride_w))));
              store_row_bf16(ir, bb, operand_at(ir, bb, src, x0, d.x_bf16), d.stride_w, ceil_div(d.in_w - x0, d.stride_w), dst, d.x_bf16);
            }
          });
        }, kPlain);
      });
    }, kPlain);
  });
  return xb;
}

// x gathered per tap (GradAmxShape::gathered): row c holds, for each tap, x at that tap of
// every output position (zero where it reads padding), image after image.
llvm::Value* pack_x_gathered(const Ir& ir, KernelBody& k, const WeightGrad& d, const GradAmxShape& s, llvm::Value* x,
                             const std::string& prefix) {
  Builder& b = k.b;
  const int64_t P = d.out_h * d.out_w;
  llvm::Value* xb = ir.alloc(b, s.CB * kBlock * s.LR * 2);
  emit_parallel_for(b, k.pool, prefix + ".xgather", c64(b, s.CB * kBlock), {x, xb},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    auto* i16 = bb.getInt16Ty();
    auto* v16 = llvm::FixedVectorType::get(i16, kLanes);
    auto splat = [&](int64_t v) { return bb.CreateVectorSplat(kLanes, c64(bb, v)); };
    emit_for(bb, "xg.c", begin, end, c64(bb, 1), [&](llvm::Value* c) {
      llvm::Value* row = bb.CreateGEP(i16, bb.CreateBitCast(cap[1], i16->getPointerTo()), bb.CreateMul(c, c64(bb, s.LR)));
      bb.CreateMemSet(row, bb.getInt8(0), c64(bb, s.LR * 2), llvm::MaybeAlign(64));
      emit_if(bb, bb.CreateICmpSLT(c, c64(bb, s.C)), [&] {
        emit_for(bb, "xg.tn", 0, s.T * d.batch, 1, [&](llvm::Value* tn) {
          llvm::Value* t = bb.CreateUDiv(tn, c64(bb, d.batch));
          llvm::Value* n = bb.CreateURem(tn, c64(bb, d.batch));
          // The tap's input row and column of output (0, 0), and the image's plane of channel c.
          llvm::Value* y0 = bb.CreateSub(bb.CreateMul(bb.CreateUDiv(t, c64(bb, d.kernel_w)), c64(bb, d.dilation_h)), c64(bb, d.pad_h));
          llvm::Value* x0 = bb.CreateSub(bb.CreateMul(bb.CreateURem(t, c64(bb, d.kernel_w)), c64(bb, d.dilation_w)), c64(bb, d.pad_w));
          llvm::Value* src = operand_at(ir, bb, cap[0], bb.CreateMul(bb.CreateAdd(bb.CreateMul(n, c64(bb, s.C)), c), c64(bb, d.in_h * d.in_w)), d.x_bf16);
          llvm::Value* dst = bb.CreateGEP(i16, row, bb.CreateAdd(bb.CreateMul(t, c64(bb, s.SEG)), bb.CreateMul(n, c64(bb, s.Wq))));
          emit_for(bb, "xg.p", 0, ceil_div(P, kLanes), 1, [&](llvm::Value* v) {
            llvm::Value* p0 = bb.CreateMul(v, c64(bb, kLanes));
            llvm::Value* p = bb.CreateAdd(bb.CreateVectorSplat(kLanes, p0), iota64(bb));
            llvm::Value* iy = bb.CreateAdd(bb.CreateMul(bb.CreateUDiv(p, splat(d.out_w)), splat(d.stride_h)), bb.CreateVectorSplat(kLanes, y0));
            llvm::Value* ix = bb.CreateAdd(bb.CreateMul(bb.CreateURem(p, splat(d.out_w)), splat(d.stride_w)), bb.CreateVectorSplat(kLanes, x0));
            llvm::Value* in_p = bb.CreateICmpSLT(p, splat(P));
            llvm::Value* ok = bb.CreateAnd(in_p, bb.CreateAnd(bb.CreateICmpULT(iy, splat(d.in_h)), bb.CreateICmpULT(ix, splat(d.in_w))));
            llvm::Value* index = bb.CreateSelect(ok, bb.CreateAdd(bb.CreateMul(iy, splat(d.in_w)), ix), splat(0));
            llvm::Value* val = gather_operand(ir, bb, src, index, ok, d.x_bf16);
            bb.CreateMaskedStore(bb.CreateTrunc(operand_bits(bb, val, d.x_bf16), v16),
                                 bb.CreateBitCast(bb.CreateGEP(i16, dst, p0), v16->getPointerTo()), llvm::Align(2), in_p);
          }, kPlain);
        }, kPlain);
      });
    }, kPlain);
  });
  return xb;
}

// 16 words from 32 consecutive positions (two vectors, load_operand's): (even, odd) pairs in
// bf16, the even position in the low half, as tdpbf16ps pairs k.
llvm::Value* position_pairs(Builder& b, llvm::Value* lo, llvm::Value* hi, bool bf16) {
  llvm::Value* rl = operand_bits(b, lo, bf16);
  llvm::Value* rh = operand_bits(b, hi, bf16);
  std::vector<int> even, odd;
  for (int j = 0; j < kLanes; ++j) even.push_back(2 * j), odd.push_back(2 * j + 1);
  llvm::Value* e = b.CreateShuffleVector(rl, rh, even);
  llvm::Value* o = b.CreateShuffleVector(rl, rh, odd);
  return b.CreateOr(e, b.CreateShl(o, b.CreateVectorSplat(kLanes, b.getInt32(16))));
}

// dyv[g/2][OB*32] words, zero at the padding positions and past O: per image, per 8 output
// channels and 32 positions of a row, eight channels' 16 pairs transposed in registers.
llvm::Value* pack_dy(const Ir& ir, KernelBody& k, const WeightGrad& d, const GradAmxShape& s, llvm::Value* dy,
                     const std::string& prefix) {
  Builder& b = k.b;
  const int64_t Opad = s.OB * kBlock, pair_rows = s.steps * kStep / 2, image_pairs = s.S / 2;
  llvm::Value* dyv = ir.alloc(b, pair_rows * Opad * 4);
  const int64_t tail = pair_rows - d.batch * image_pairs;  // the last step's pairs past the last image
  if (tail > 0) b.CreateMemSet(byte_at(b, dyv, c64(b, d.batch * image_pairs * Opad * 4)), b.getInt8(0), c64(b, tail * Opad * 4), llvm::MaybeAlign(4));
  emit_parallel_for(b, k.pool, prefix + ".dybf", c64(b, d.batch), {dy, dyv},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    auto* v8 = llvm::FixedVectorType::get(bb.getInt32Ty(), 8);
    emit_for(bb, "dybf.n", begin, end, c64(bb, 1), [&](llvm::Value* n) {
      llvm::Value* image = ir.at(bb, cap[1], bb.CreateMul(n, c64(bb, image_pairs * Opad)));
      bb.CreateMemSet(image, bb.getInt8(0), c64(bb, image_pairs * Opad * 4), llvm::MaybeAlign(4));
      emit_for(bb, "dybf.o", 0, ceil_div(s.O, 8), 1, [&](llvm::Value* o8) {
        llvm::Value* o0 = bb.CreateMul(o8, c64(bb, 8));
        emit_for(bb, "dybf.qh", 0, s.rows, 1, [&](llvm::Value* qh) {
          llvm::Value* src = operand_at(ir, bb, cap[0], bb.CreateAdd(bb.CreateMul(bb.CreateAdd(bb.CreateMul(n, c64(bb, s.O)), o0), c64(bb, d.out_h * d.out_w)),
                                                                    bb.CreateMul(qh, c64(bb, s.cols))), d.dy_bf16);
          llvm::Value* dst = ir.at(bb, image, bb.CreateAdd(bb.CreateMul(qh, c64(bb, s.Wq / 2 * Opad)), o0));
          emit_for(bb, "dybf.q", 0, ceil_div(s.cols, kStep), 1, [&](llvm::Value* qb) {
            llvm::Value* q0 = bb.CreateMul(qb, c64(bb, kStep));
            llvm::Value* words[8];
            for (int64_t r = 0; r < 8; ++r) {
              llvm::Value* channel = bb.CreateVectorSplat(kLanes, bb.CreateICmpSLT(bb.CreateAdd(o0, c64(bb, r)), c64(bb, s.O)));
              llvm::Value* half[2];
              for (int64_t h = 0; h < 2; ++h) {
                llvm::Value* q = bb.CreateAdd(q0, c64(bb, h * kLanes));
                llvm::Value* mask = bb.CreateAnd(lanes_below(bb, q, s.cols), channel);
                half[h] = load_operand(ir, bb, operand_at(ir, bb, src, bb.CreateAdd(c64(bb, r * d.out_h * d.out_w), q), d.dy_bf16), mask,
                                       d.dy_bf16);
              }
              words[r] = position_pairs(bb, half[0], half[1], d.dy_bf16);
            }
            std::vector<llvm::Value*> pairs = transpose8x16(bb, words);  // pairs[j]: channels o0..o0+7 of pair j
            for (int64_t j = 0; j < kLanes; ++j) {
              llvm::Value* q = bb.CreateAdd(q0, c64(bb, 2 * j));
              llvm::Value* in_row = bb.CreateVectorSplat(8, bb.CreateICmpSLT(q, c64(bb, s.Wq)));
              llvm::Value* at = ir.at(bb, dst, bb.CreateMul(bb.CreateAdd(bb.CreateUDiv(q0, c64(bb, 2)), c64(bb, j)), c64(bb, Opad)));
              bb.CreateMaskedStore(pairs[static_cast<size_t>(j)], bb.CreateBitCast(at, v8->getPointerTo()), llvm::Align(4), in_row);
            }
          }, kPlain);
        }, kPlain);
      }, kPlain);
    }, kPlain);
  });
  return dyv;
}

// The AMX intrinsics a work item calls.
struct AmxOps {
  llvm::Function *load, *dot, *store;
  explicit AmxOps(llvm::Module& m)
      : load(llvm::Intrinsic::getDeclaration(&m, llvm::Intrinsic::x86_tileloadd64_internal)),
        dot(llvm::Intrinsic::getDeclaration(&m, llvm::Intrinsic::x86_tdpbf16ps_internal)),
        store(llvm::Intrinsic::getDeclaration(&m, llvm::Intrinsic::x86_tilestored64_internal)) {}
};

// The four C tiles of tap t at `tpark` += the steps [s0, s1) of x block `xrow` (its first
// channel's row) and dy block `ycol` (byte offset of its first channel in a pair row). The step
// loop is built by hand: its accumulators are phis (x86_amx values live in tile registers).
void accumulate(const Ir& ir, Builder& bb, const AmxOps& amx, const GradAmxShape& s, llvm::Value* tpark,
                llvm::Value* xrow, llvm::Value* ycol, llvm::Value* toff, llvm::Value* s0, llvm::Value* s1) {
  llvm::Value* rows16 = bb.getInt16(kTile);
  llvm::Value* bytes64 = bb.getInt16(64);
  auto* amx_type = llvm::Type::getX86_AMXTy(ir.ctx);
  llvm::Value* init[4];
  for (int64_t i = 0; i < 4; ++i) init[i] = bb.CreateCall(amx.load, {rows16, bytes64, byte_at(bb, tpark, c64(bb, i * kTileBytes)), c64(bb, 64)});
  llvm::Function* fn = bb.GetInsertBlock()->getParent();
  llvm::BasicBlock* entry = bb.GetInsertBlock();
  auto* loop = llvm::BasicBlock::Create(ir.ctx, "amxdw.step", fn);
  auto* done = llvm::BasicBlock::Create(ir.ctx, "amxdw.step.done", fn);
  bb.CreateBr(loop);
  bb.SetInsertPoint(loop);
  llvm::PHINode* step = bb.CreatePHI(bb.getInt64Ty(), 2);
  step->addIncoming(s0, entry);
  llvm::PHINode* acc[4];
  for (int64_t i = 0; i < 4; ++i) {
    acc[i] = bb.CreatePHI(amx_type, 2);
    acc[i]->addIncoming(init[i], entry);
  }
  llvm::Value* g = bb.CreateMul(step, c64(bb, kStep));
  llvm::Value* x_at = byte_at(bb, xrow, bb.CreateMul(bb.CreateAdd(g, toff), c64(bb, 2)));
  llvm::Value* y_at = byte_at(bb, ycol, bb.CreateMul(g, c64(bb, s.OB * kBlock * 4 / 2)));
  llvm::Value* x_stride = c64(bb, s.LR * 2);
  llvm::Value* y_stride = c64(bb, s.OB * kBlock * 4);
  llvm::Value* ta[2] = {bb.CreateCall(amx.load, {rows16, bytes64, x_at, x_stride}),
                        bb.CreateCall(amx.load, {rows16, bytes64, byte_at(bb, x_at, c64(bb, kTile * s.LR * 2)), x_stride})};
  llvm::Value* tb[2] = {bb.CreateCall(amx.load, {rows16, bytes64, y_at, y_stride}),
                        bb.CreateCall(amx.load, {rows16, bytes64, byte_at(bb, y_at, c64(bb, 64)), y_stride})};
  llvm::Value* next[4];
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 2; ++c) next[2 * r + c] = bb.CreateCall(amx.dot, {rows16, bytes64, bytes64, acc[2 * r + c], ta[r], tb[c]});
  llvm::Value* step_next = bb.CreateAdd(step, c64(bb, 1));
  step->addIncoming(step_next, bb.GetInsertBlock());
  for (int64_t i = 0; i < 4; ++i) acc[i]->addIncoming(next[i], bb.GetInsertBlock());
  bb.CreateCondBr(bb.CreateICmpULT(step_next, s1), loop, done);
  bb.SetInsertPoint(done);
  for (int64_t i = 0; i < 4; ++i)
    bb.CreateCall(amx.store, {rows16, bytes64, byte_at(bb, tpark, c64(bb, i * kTileBytes)), c64(bb, 64), next[i]});
}

// The `splits` consecutive parks of one channel block, summed in split order (the same sums
// whatever the thread count), C[kc][o] into dw[o][kc][tap], past C and O left out.
void scatter_parks(const Ir& ir, Builder& bb, const GradAmxShape& s, llvm::Value* parks, int64_t splits, llvm::Value* dw,
                   llvm::Value* kc0, llvm::Value* o0) {
  emit_for(bb, "amxdw.t", 0, s.T, 1, [&](llvm::Value* t) {
    for (int64_t c = 0; c < 2; ++c) {
      llvm::Value* o = bb.CreateAdd(bb.CreateVectorSplat(kLanes, bb.CreateAdd(o0, c64(bb, c * kTile))), iota64(bb));
      llvm::Value* o_ok = bb.CreateICmpSLT(o, bb.CreateVectorSplat(kLanes, c64(bb, s.O)));
      llvm::Value* o_at = bb.CreateAdd(bb.CreateMul(o, bb.CreateVectorSplat(kLanes, c64(bb, s.Kconv))), bb.CreateVectorSplat(kLanes, t));
      for (int64_t r = 0; r < 2; ++r) {
        llvm::Value* tile = ir.at(bb, parks, bb.CreateAdd(bb.CreateMul(t, c64(bb, 4 * kTile * kTile)), c64(bb, (2 * r + c) * kTile * kTile)));
        emit_for(bb, "amxdw.kc", 0, kTile, 1, [&](llvm::Value* kl) {
          llvm::Value* kc = bb.CreateAdd(kc0, bb.CreateAdd(kl, c64(bb, r * kTile)));
          llvm::Value* mask = bb.CreateAnd(o_ok, bb.CreateVectorSplat(kLanes, bb.CreateICmpSLT(kc, c64(bb, s.C))));
          llvm::Value* at = bb.CreateAdd(o_at, bb.CreateVectorSplat(kLanes, bb.CreateMul(kc, c64(bb, s.T))));
          llvm::Value* row = ir.at(bb, tile, bb.CreateMul(kl, c64(bb, kTile)));
          llvm::Value* sum = ir.vload(bb, row, 64);
          for (int64_t split = 1; split < splits; ++split) sum = bb.CreateFAdd(sum, ir.vload(bb, ir.at(bb, row, split * s.park_floats), 64));
          bb.CreateMaskedScatter(sum, bb.CreateGEP(ir.f32, dw, at), llvm::Align(4), mask);
        }, kPlain);
      }
    }
  }, kPlain);
}

// The work items (32 input x 32 output channels x a split of the chunks) over the thread pool,
// each summing into its thread's park; with one split straight into dw, else into
// partials[cb][ob][split] and from there, in a second loop, into dw.
void emit_items(const Ir& ir, KernelBody& k, const GradAmxShape& s, llvm::Value* xb, llvm::Value* dyv, llvm::Value* dw,
                const std::string& prefix) {
  const AmxOps amx(k.module);
  llvm::GlobalVariable* t_toff = ir.table(prefix + ".toff", k.b.getInt64Ty(), s.toff);
  const int64_t blocks = s.CB * s.OB, per_split = ceil_div(s.chunks, s.splits);
  llvm::Value* partials = s.splits > 1 ? ir.alloc(k.b, blocks * s.splits * s.park_floats * 4) : nullptr;
  emit_parallel_for(k.b, k.pool, prefix, c64(k.b, blocks * s.splits), {xb, dyv, partials ? partials : dw},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    llvm::Value* park = ir.alloc(bb, s.park_floats * 4);
    emit_for(bb, "amxdw.item", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      // Splits, then output blocks innermost: a thread's consecutive items share their x block.
      llvm::Value* block = bb.CreateUDiv(item, c64(bb, s.splits));
      llvm::Value* split = bb.CreateURem(item, c64(bb, s.splits));
      llvm::Value* kc0 = bb.CreateMul(bb.CreateUDiv(block, c64(bb, s.OB)), c64(bb, kBlock));
      llvm::Value* o0 = bb.CreateMul(bb.CreateURem(block, c64(bb, s.OB)), c64(bb, kBlock));
      llvm::Value* xrow = byte_at(bb, cap[0], bb.CreateMul(kc0, c64(bb, s.LR * 2)));
      llvm::Value* ycol = byte_at(bb, cap[1], bb.CreateMul(o0, c64(bb, 4)));
      bb.CreateMemSet(park, bb.getInt8(0), c64(bb, s.park_floats * 4), llvm::MaybeAlign(64));
      llvm::Value* first = bb.CreateMul(split, c64(bb, per_split));
      llvm::Value* last = min64(bb, bb.CreateAdd(first, c64(bb, per_split)), c64(bb, s.chunks));
      emit_for(bb, "amxdw.chunk", first, last, c64(bb, 1), [&](llvm::Value* chunk) {
        llvm::Value* s0 = bb.CreateMul(chunk, c64(bb, kChunkSteps));
        llvm::Value* s1 = min64(bb, bb.CreateAdd(s0, c64(bb, kChunkSteps)), c64(bb, s.steps));
        emit_for(bb, "amxdw.tap", 0, s.T, 1, [&](llvm::Value* t) {
          llvm::Value* tpark = byte_at(bb, park, bb.CreateMul(t, c64(bb, 4 * kTileBytes)));
          accumulate(ir, bb, amx, s, tpark, xrow, ycol, ir.load_scalar(bb, t_toff, t), s0, s1);
        }, kPlain);
      }, kPlain);
      if (s.splits == 1) {
        scatter_parks(ir, bb, s, park, 1, cap[2], kc0, o0);
      } else {
        bb.CreateMemCpy(ir.at(bb, cap[2], bb.CreateMul(item, c64(bb, s.park_floats))), llvm::MaybeAlign(64), park,
                        llvm::MaybeAlign(64), c64(bb, s.park_floats * 4));
      }
    }, kPlain);
    ir.release(bb, park);
  });
  if (!partials) return;
  emit_parallel_for(k.b, k.pool, prefix + ".dw", c64(k.b, blocks), {partials, dw},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    emit_for(bb, "amxdw.block", begin, end, c64(bb, 1), [&](llvm::Value* block) {
      llvm::Value* kc0 = bb.CreateMul(bb.CreateUDiv(block, c64(bb, s.OB)), c64(bb, kBlock));
      llvm::Value* o0 = bb.CreateMul(bb.CreateURem(block, c64(bb, s.OB)), c64(bb, kBlock));
      llvm::Value* first = ir.at(bb, cap[0], bb.CreateMul(block, c64(bb, s.splits * s.park_floats)));
      scatter_parks(ir, bb, s, first, s.splits, cap[1], kc0, o0);
    }, kPlain);
  });
  ir.release(k.b, partials);
}

}  // namespace

bool amx_weight_grad_fits(const WeightGrad& d) {
  if (!(d.groups == 1 && d.in_per_group >= kTile && d.out_per_group >= kTile && d.stride_h <= 8 && d.stride_w <= 8)) return false;
  // The padding positions cost as much as real ones: where they would be most of the work (a
  // single small image), the float32 kernel, which skips them; and the gathered copy of x
  // (T times its positions) within bounds.
  const GradAmxShape s = grad_amx_shape(d);
  return 2 * d.batch * d.out_h * d.out_w >= s.steps * kStep && s.CB * kBlock * s.LR * 2 <= (int64_t{1} << 30);
}

void emit_amx_weight_grad(KernelBody& k, const WeightGrad& d, llvm::Value* dy, llvm::Value* x, llvm::Value* dw,
                          const std::string& prefix) {
  const GradAmxShape s = grad_amx_shape(d);
  Ir ir(k.module, /*wide=*/true);
  llvm::Value* xb = s.gathered ? pack_x_gathered(ir, k, d, s, x, prefix) : pack_x(ir, k, d, s, x, prefix);
  llvm::Value* dyv = pack_dy(ir, k, d, s, dy, prefix);
  emit_items(ir, k, s, xb, dyv, dw, prefix);
  ir.release(k.b, xb);
  ir.release(k.b, dyv);
}

llvm::Value* round_as_float(Builder& b, llvm::Value* x) {
  llvm::Value* bits = round_to_bf16(b, x);
  return b.CreateBitCast(b.CreateShl(bits, llvm::ConstantInt::get(bits->getType(), 16)), x->getType());
}

llvm::Value* emit_rounded_copy(const Ir& ir, KernelBody& k, llvm::Value* src, bool src_bf16, int64_t count,
                               const std::string& prefix) {
  constexpr int64_t kPiece = 4096;  // floats per parallel piece
  Builder& b = k.b;
  llvm::Value* copy = ir.alloc(b, count * 4);
  emit_parallel_for(b, k.pool, prefix, c64(b, ceil_div(count, kPiece)), {src, copy},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    llvm::Value* from = bb.CreateMul(begin, c64(bb, kPiece / kLanes));
    llvm::Value* to = min64(bb, bb.CreateMul(end, c64(bb, kPiece / kLanes)), c64(bb, ceil_div(count, kLanes)));
    emit_for(bb, "round.v", from, to, c64(bb, 1), [&](llvm::Value* v) {
      llvm::Value* i = bb.CreateMul(v, c64(bb, kLanes));
      llvm::Value* mask = lanes_below(bb, i, count);
      llvm::Value* val = load_operand(ir, bb, operand_at(ir, bb, cap[0], i, src_bf16), mask, src_bf16);
      bb.CreateMaskedStore(src_bf16 ? val : round_as_float(bb, val), ir.vptr(bb, ir.at(bb, cap[1], i)), llvm::Align(64), mask);
    }, kPlain);
  });
  return copy;
}

}  // namespace resnetc::codegen::llvm_backend::gemm_internal
