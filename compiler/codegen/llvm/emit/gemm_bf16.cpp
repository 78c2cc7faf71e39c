// The window GEMM's bf16 pieces (gemm_internal.h): operands rounded to bfloat16 as PyTorch
// rounds them, multiplied in pairs along k by vdpbf16ps into float32 accumulators.
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>

#include <algorithm>
#include <cstdlib>

#include "compiler/codegen/llvm/emit/gemm_internal.h"

namespace resnetc::codegen::llvm_backend::gemm_internal {
namespace {

llvm::Value* at_i32(Builder& b, llvm::Value* p, llvm::Value* i) { return b.CreateGEP(b.getInt32Ty(), p, i); }
llvm::Value* as_i32(Builder& b, llvm::Value* p) { return b.CreateBitCast(p, b.getInt32Ty()->getPointerTo()); }

}  // namespace

llvm::Value* operand_at(const Ir& ir, Builder& b, llvm::Value* p, llvm::Value* i, bool bf16) {
  if (!bf16) return ir.at(b, p, i);
  return b.CreateGEP(b.getInt16Ty(), b.CreateBitCast(p, b.getInt16Ty()->getPointerTo()), i);
}

llvm::Value* operand_at(const Ir& ir, Builder& b, llvm::Value* p, int64_t i, bool bf16) {
  return operand_at(ir, b, p, b.getInt64(static_cast<uint64_t>(i)), bf16);
}

llvm::Value* load_operand(const Ir& ir, Builder& b, llvm::Value* p, bool bf16) {
  if (!bf16) return b.CreateAlignedLoad(ir.f32, p, llvm::Align(4));
  llvm::Value* bits = b.CreateAlignedLoad(b.getInt16Ty(), b.CreateBitCast(p, b.getInt16Ty()->getPointerTo()), llvm::Align(2));
  return widen_bf16(b, b.CreateZExt(bits, b.getInt32Ty()));
}

llvm::Value* load_operand(const Ir& ir, Builder& b, llvm::Value* p, llvm::Value* mask, bool bf16) {
  if (!bf16) return b.CreateMaskedLoad(ir.vf, ir.vptr(b, p), llvm::Align(4), mask, ir.fzero());
  auto* v16 = llvm::FixedVectorType::get(b.getInt16Ty(), kLanes);
  llvm::Value* bits = b.CreateMaskedLoad(v16, b.CreateBitCast(p, v16->getPointerTo()), llvm::Align(2), mask,
                                         llvm::Constant::getNullValue(v16));
  return widen_bf16(b, b.CreateZExt(bits, llvm::FixedVectorType::get(b.getInt32Ty(), kLanes)));
}

llvm::Value* gather_operand(const Ir& ir, Builder& b, llvm::Value* p, llvm::Value* index, llvm::Value* mask, bool bf16) {
  if (!bf16) return b.CreateMaskedGather(ir.vf, b.CreateGEP(ir.f32, p, index), llvm::Align(4), mask, ir.fzero());
  // p may be at an odd element: count from the aligned word below it (16-bit gathers do not exist).
  auto* index_type = llvm::cast<llvm::IntegerType>(index->getType()->getScalarType());
  llvm::Value* odd_base = b.CreateAnd(b.CreateLShr(b.CreatePtrToInt(p, b.getInt64Ty()), b.getInt64(1)), b.getInt64(1));
  llvm::Value* words = b.CreateBitCast(b.CreateGEP(b.getInt16Ty(), b.CreateBitCast(p, b.getInt16Ty()->getPointerTo()), b.CreateNeg(odd_base)),
                                       b.getInt32Ty()->getPointerTo());
  llvm::Value* element = b.CreateAdd(index, b.CreateVectorSplat(kLanes, b.CreateIntCast(odd_base, index_type, false)));
  llvm::Value* one = b.CreateVectorSplat(kLanes, llvm::ConstantInt::get(index_type, 1));
  auto* vi32 = llvm::FixedVectorType::get(b.getInt32Ty(), kLanes);
  llvm::Value* word = b.CreateMaskedGather(vi32, b.CreateGEP(b.getInt32Ty(), words, b.CreateAShr(element, one)), llvm::Align(4), mask,
                                           llvm::Constant::getNullValue(vi32));
  llvm::Value* high = b.CreateICmpNE(b.CreateAnd(element, one), llvm::Constant::getNullValue(element->getType()));
  llvm::Value* bits = b.CreateSelect(high, b.CreateAnd(word, int_like(b, word, 0xffff0000u)), b.CreateShl(word, int_like(b, word, 16)));
  return b.CreateBitCast(bits, ir.vf);
}

llvm::Value* operand_bits(Builder& b, llvm::Value* x, bool bf16) {
  if (!bf16) return round_to_bf16(b, x);
  llvm::Type* int_type = llvm::isa<llvm::FixedVectorType>(x->getType())
                             ? static_cast<llvm::Type*>(llvm::FixedVectorType::get(b.getInt32Ty(), kLanes))
                             : b.getInt32Ty();
  llvm::Value* bits = b.CreateBitCast(x, int_type);
  return b.CreateLShr(bits, int_like(b, bits, 16));
}

llvm::Value* pack_a_bf16(const Ir& ir, Builder& b, llvm::Value* pool, const std::string& prefix, const WindowGemm& d,
                         int64_t K, llvm::Value* a) {
  const int64_t T = static_cast<int64_t>(d.tap_a.size()), pairs = ceil_div(K, 2);
  llvm::Value* apack = ir.alloc(b, std::max<int64_t>(1, d.groups * d.rows * pairs) * 4);
  // A row's element j = kc * T + tap reads (j / T) * a_kc + tap_a[j % T]: 16 kc span 16 * T
  // elements, T vectors, whose offsets repeat 16 * a_kc further on. Those T vectors' offsets
  // are constants: each vector one gather (a load where the offsets are 16 in a row).
  std::vector<std::vector<int64_t>> offsets(static_cast<size_t>(T));
  for (int64_t m = 0; m < kLanes * T; ++m)
    offsets[static_cast<size_t>(m / kLanes)].push_back(m / T * d.a_kc + d.tap_a[static_cast<size_t>(m % T)]);
  const int64_t groups16 = ceil_div(d.kouter, kLanes);
  int64_t reach = groups16 * kLanes * std::abs(d.a_kc);  // a window may have no taps (a phase no tap reads)
  for (int64_t t : d.tap_a) reach = std::max(reach, groups16 * kLanes * std::abs(d.a_kc) + std::abs(t));
  const bool wide_index = reach >= (int64_t{1} << 31);
  // Rows over the thread pool: the copy is made on every call (the weights change every step).
  emit_parallel_for(b, pool, prefix + ".abf", c64(b, d.groups * d.rows), {a, apack},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    auto* i16 = bb.getInt16Ty();
    auto* v16 = llvm::FixedVectorType::get(i16, kLanes);
    llvm::IntegerType* xt = wide_index ? bb.getInt64Ty() : bb.getInt32Ty();
    auto vec = [&](const std::vector<int64_t>& values) {
      std::vector<llvm::Constant*> lanes;
      for (int64_t v : values) lanes.push_back(llvm::ConstantInt::get(xt, static_cast<uint64_t>(v), true));
      return llvm::ConstantVector::get(lanes);
    };
    std::vector<int64_t> iota(kLanes);
    for (int64_t l = 0; l < kLanes; ++l) iota[static_cast<size_t>(l)] = l;
    llvm::Constant* lane = vec(iota);
    llvm::Value* words = bb.CreateBitCast(cap[1], i16->getPointerTo());
    emit_for(bb, "abf.row", begin, end, c64(bb, 1), [&](llvm::Value* gr) {
      llvm::Value* g = bb.CreateUDiv(gr, c64(bb, d.rows));
      llvm::Value* row = bb.CreateURem(gr, c64(bb, d.rows));
      llvm::Value* src = ir.at(bb, cap[0], bb.CreateAdd(bb.CreateMul(g, c64(bb, d.a_g)), bb.CreateMul(row, c64(bb, d.a_row))));
      llvm::Value* dst = bb.CreateGEP(i16, words, bb.CreateMul(gr, c64(bb, 2 * pairs)));
      emit_for(bb, "abf.kc", 0, groups16, 1, [&](llvm::Value* q) {
        llvm::Value* from = ir.at(bb, src, bb.CreateMul(q, c64(bb, kLanes * d.a_kc)));
        llvm::Value* j0 = bb.CreateMul(q, c64(bb, kLanes * T));
        for (int64_t r = 0; r < T; ++r) {
          const std::vector<int64_t>& off = offsets[static_cast<size_t>(r)];
          llvm::Value* j = bb.CreateAdd(bb.CreateVectorSplat(kLanes, bb.CreateIntCast(bb.CreateAdd(j0, c64(bb, r * kLanes)), xt, true)), lane);
          llvm::Value* mask = bb.CreateICmpSLT(j, bb.CreateVectorSplat(kLanes, llvm::ConstantInt::get(xt, static_cast<uint64_t>(K))));
          bool contiguous = true;
          for (int64_t l = 1; l < kLanes; ++l) contiguous = contiguous && off[static_cast<size_t>(l)] == off[0] + l;
          llvm::Value* x = contiguous ? bb.CreateMaskedLoad(ir.vf, ir.vptr(bb, ir.at(bb, from, off[0])), llvm::Align(4), mask, ir.fzero())
                                      : bb.CreateMaskedGather(ir.vf, bb.CreateGEP(ir.f32, from, vec(off)), llvm::Align(4), mask, ir.fzero());
          llvm::Value* to = bb.CreateGEP(i16, dst, bb.CreateAdd(j0, c64(bb, r * kLanes)));
          bb.CreateMaskedStore(bb.CreateTrunc(round_to_bf16(bb, x), v16), bb.CreateBitCast(to, v16->getPointerTo()), llvm::Align(2), mask);
        }
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
      if (K % 2) bb.CreateAlignedStore(bb.getInt16(0), bb.CreateGEP(i16, dst, c64(bb, K)), llvm::Align(2));
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
  return apack;
}

WindowGemm paired_window(const WindowGemm& d) {
  WindowGemm p = d;
  const int64_t plane = d.in_h * d.in_w;
  p.kouter = ceil_div(d.kouter, 2);
  p.a_kc = 2 * d.a_kc;
  p.in_c = plane;
  p.in_g = p.kouter * plane;
  p.in_n = d.groups * p.in_g;
  p.in_bf16 = false;  // its image operand is pack_input_pairs' copy
  return p;
}

llvm::Value* pack_input_pairs(const Ir& ir, Builder& b, llvm::Value* pool, const std::string& prefix, const WindowGemm& d,
                              llvm::Value* in) {
  const int64_t pairs = ceil_div(d.kouter, 2), plane = d.in_h * d.in_w;
  llvm::Value* packed = ir.alloc(b, std::max<int64_t>(1, d.batch * d.groups * pairs * plane) * 4);
  emit_parallel_for(b, pool, prefix + ".inbf", c64(b, d.batch * d.groups * pairs), {in, packed},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> cap) {
    auto* vi32 = llvm::FixedVectorType::get(bb.getInt32Ty(), kLanes);
    std::vector<llvm::Constant*> lanes;
    for (int64_t l = 0; l < kLanes; ++l) lanes.push_back(bb.getInt64(static_cast<uint64_t>(l)));
    llvm::Constant* iota = llvm::ConstantVector::get(lanes);
    emit_for(bb, "inbf.plane", begin, end, c64(bb, 1), [&](llvm::Value* item) {
      llvm::Value* kp = bb.CreateURem(item, c64(bb, pairs));
      llvm::Value* ng = bb.CreateUDiv(item, c64(bb, pairs));
      llvm::Value* g = bb.CreateURem(ng, c64(bb, d.groups));
      llvm::Value* n = bb.CreateUDiv(ng, c64(bb, d.groups));
      llvm::Value* even = operand_at(ir, bb, cap[0], bb.CreateAdd(bb.CreateAdd(bb.CreateMul(g, c64(bb, d.in_g)), bb.CreateMul(n, c64(bb, d.in_n))),
                                                                 bb.CreateMul(kp, c64(bb, 2 * d.in_c))), d.in_bf16);
      llvm::Value* odd = operand_at(ir, bb, even, d.in_c, d.in_bf16);
      llvm::Value* has_odd = bb.CreateICmpSLT(bb.CreateAdd(bb.CreateMul(kp, c64(bb, 2)), c64(bb, 1)), c64(bb, d.kouter));
      llvm::Value* dst = ir.at(bb, cap[1], bb.CreateMul(item, c64(bb, plane)));
      emit_for(bb, "inbf.i", 0, ceil_div(plane, kLanes), 1, [&](llvm::Value* v) {
        llvm::Value* i = bb.CreateMul(v, c64(bb, kLanes));
        llvm::Value* mask = bb.CreateICmpSLT(bb.CreateAdd(bb.CreateVectorSplat(kLanes, i), iota), bb.CreateVectorSplat(kLanes, c64(bb, plane)));
        llvm::Value* lo = load_operand(ir, bb, operand_at(ir, bb, even, i, d.in_bf16), mask, d.in_bf16);
        llvm::Value* hi = load_operand(ir, bb, operand_at(ir, bb, odd, i, d.in_bf16),
                                       bb.CreateAnd(mask, bb.CreateVectorSplat(kLanes, has_odd)), d.in_bf16);
        llvm::Value* high = operand_bits(bb, hi, d.in_bf16);
        llvm::Value* word = bb.CreateOr(operand_bits(bb, lo, d.in_bf16), bb.CreateShl(high, int_like(bb, high, 16)));
        bb.CreateMaskedStore(word, bb.CreateBitCast(ir.at(bb, dst, i), vi32->getPointerTo()), llvm::Align(4), mask);
      }, LoopHints{.no_vectorize = true, .no_unroll = true});
    }, LoopHints{.no_vectorize = true, .no_unroll = true});
  });
  return packed;
}

void panel_to_bf16(const Ir& ir, Builder& b, llvm::Value* panel, int64_t K) {
  if (K % 2)
    for (int64_t v = 0; v < kNV; ++v) ir.vstore(b, ir.fzero(), ir.at(b, panel, K * kNR + v * kLanes), 64);
  llvm::Value* words = as_i32(b, panel);
  auto* vi32 = llvm::FixedVectorType::get(b.getInt32Ty(), kLanes);
  emit_for(b, "bbf.pair", 0, ceil_div(K, 2), 1, [&](llvm::Value* kp) {
    llvm::Value* even = ir.at(b, panel, b.CreateMul(kp, c64(b, 2 * kNR)));
    llvm::Value* rounded[kNV][2];
    for (int64_t v = 0; v < kNV; ++v)  // every load before a store: pair 0 is rewritten in place
      for (int64_t h = 0; h < 2; ++h) rounded[v][h] = round_to_bf16(b, ir.vload(b, ir.at(b, even, h * kNR + v * kLanes), 64));
    llvm::Value* dst = at_i32(b, words, b.CreateMul(kp, c64(b, kNR)));
    for (int64_t v = 0; v < kNV; ++v) {
      llvm::Value* pair = b.CreateOr(rounded[v][0], b.CreateShl(rounded[v][1], int_like(b, rounded[v][1], 16)));
      b.CreateAlignedStore(pair, b.CreateBitCast(at_i32(b, dst, c64(b, v * kLanes)), vi32->getPointerTo()), llvm::Align(64));
    }
  }, LoopHints{.no_vectorize = true, .no_unroll = true});
}

void bf16_kloop(const Ir& ir, Builder& b, int64_t K, int64_t mr, llvm::Value* a_rows, llvm::Value* bpanel,
                const std::vector<llvm::Value*>& acc) {
  for (auto* slot : acc) b.CreateStore(ir.fzero(), slot);
  const int64_t pairs = ceil_div(K, 2);
  if (pairs == 0) return;
  auto* vi32 = llvm::FixedVectorType::get(b.getInt32Ty(), kLanes);
  llvm::Value* a_words = as_i32(b, a_rows);
  llvm::Value* b_words = as_i32(b, bpanel);
  llvm::Function* dot = llvm::Intrinsic::getDeclaration(&ir.module, llvm::Intrinsic::x86_avx512bf16_dpbf16ps_512);
  emit_for(b, "kp", 0, pairs, 1, [&](llvm::Value* kp) {
    std::vector<llvm::Value*> s(acc.size());
    for (size_t i = 0; i < acc.size(); ++i) s[i] = b.CreateLoad(ir.vf, acc[i]);
    llvm::Value* bv[kNV];
    llvm::Value* bp = at_i32(b, b_words, b.CreateMul(kp, c64(b, kNR)));
    for (int64_t v = 0; v < kNV; ++v)
      bv[v] = b.CreateAlignedLoad(vi32, b.CreateBitCast(at_i32(b, bp, c64(b, v * kLanes)), vi32->getPointerTo()), llvm::Align(64));
    for (int64_t r = 0; r < mr; ++r) {
      llvm::Value* x = b.CreateAlignedLoad(b.getInt32Ty(), at_i32(b, a_words, b.CreateAdd(kp, c64(b, r * pairs))), llvm::Align(4));
      llvm::Value* splat = b.CreateVectorSplat(kLanes, x);
      for (int64_t v = 0; v < kNV; ++v) {
        auto i = static_cast<size_t>(r * kNV + v);
        s[i] = b.CreateCall(dot, {s[i], splat, bv[v]});
      }
    }
    for (size_t i = 0; i < acc.size(); ++i) b.CreateStore(s[i], acc[i]);
  }, LoopHints{.no_vectorize = true, .unroll = 2});
}

}  // namespace resnetc::codegen::llvm_backend::gemm_internal
