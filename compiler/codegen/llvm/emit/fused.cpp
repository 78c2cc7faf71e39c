// fused: the straight-line programs of the elementwise-fusion pass (ir::FusedProgram) over an
// iteration space [N, C, ...] whose axis 1 is the channel; and the Map kinds (flatten, reshape,
// global_avgpool_grad), whose programs ir::map_program gives over their output's shape.
//
// Registers that depend on the channel only (LoadChannel, Const and arithmetic on those: a
// BatchNorm's 1/sqrt(var + eps) * weight) are computed in double once per plane or channel and
// truncated, as the BatchNorm kernels compute their scale; the others are computed in float in
// the contiguous plane loop, which is vectorized.
//
// - map:    out[i] = r[result]; the N*C planes split over the thread pool.
// - reduce: out[row, c] = the sum of r[results[row]] over channel c; channels split over the
//           thread pool, each plane summed in float (vectorized), the planes added in double,
//           as bias_grad.
// - A space with one element per plane ([N, C], [N, C, 1, 1]) has no plane loop worth
//   vectorizing: maps run along rows of channels instead, vectorized over the channels, the
//   channel registers computed per element; reductions run per channel down the rows.
// - A map that gathers (a Map kind's: the option-A shortcut) runs along lines of the space's
//   last axis, the element's other coordinates split from the line's index once per line, so
//   the vectorized line loop computes only its own axis's source coordinate.
#include <llvm/IR/Intrinsics.h>

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "compiler/codegen/llvm/emit/bf16.h"
#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/emit/scalar_op.h"
#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/ir/fused_extent.h"
#include "compiler/ir/gather_map.h"
#include "compiler/ir/map_program.h"
#include "compiler/ir/random_mask.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::FusedOpcode;

llvm::Constant* fp(llvm::Type* type, double v) { return llvm::ConstantFP::get(type, v); }

// The dropout masks (ir/random_mask.h) as the same 32-bit integer operations, so the CPU draws
// the reference's and the GPU's masks.
namespace rm = ir::random_mask;

llvm::Value* mix(Builder& b, llvm::Value* x) {
  x = b.CreateXor(x, b.CreateLShr(x, 16));
  x = b.CreateMul(x, b.getInt32(rm::kMul1));
  x = b.CreateXor(x, b.CreateLShr(x, 15));
  x = b.CreateMul(x, b.getInt32(rm::kMul2));
  return b.CreateXor(x, b.CreateLShr(x, 16));
}

// The key from the int32 (seed, step) at `rng` and the layer's salt.
llvm::Value* mask_key(Builder& b, llvm::Value* rng, double salt) {
  llvm::Value* words = b.CreateBitCast(rng, b.getInt32Ty()->getPointerTo(), "rng");
  auto word = [&](int i) {
    return b.CreateAlignedLoad(b.getInt32Ty(), b.CreateConstInBoundsGEP1_64(b.getInt32Ty(), words, i), llvm::Align(4));
  };
  return mix(b, b.CreateXor(word(0), mix(b, b.CreateXor(word(1), mix(b, b.getInt32(static_cast<uint32_t>(salt)))))));
}

// x * scale if the draw of `key` at counter `index` (an i64) keeps it, else 0.
llvm::Value* keep(Builder& b, llvm::Value* x, llvm::Value* key, llvm::Value* index, double rate) {
  llvm::Value* lo = b.CreateTrunc(index, b.getInt32Ty());
  llvm::Value* hi = b.CreateTrunc(b.CreateLShr(index, 32), b.getInt32Ty());
  llvm::Value* bits = mix(b, b.CreateXor(mix(b, b.CreateXor(key, lo)), hi));
  llvm::Value* kept = b.CreateICmpUGE(b.CreateLShr(bits, 8), b.getInt32(rm::threshold(rate)));
  return b.CreateSelect(kept, b.CreateFMul(x, f32(b, rm::scale(rate))), f32(b, 0));
}

// The program's registers as LLVM values, emitted in two steps: the channel's registers
// (emit_channel), then the element's (emit_element), which may sit in an inner loop.
//
// A varying register times channel-uniform factors, ((v * u1) * u2) ..., is emitted as v times
// the factors' product, which emit_channel computes in double: a BatchNorm's
// (x - mean) * rsqrt(var + eps) * weight then costs one multiply per element, as bn_apply's
// precomputed scale does.
class Registers {
 public:
  // `dtypes`: the inputs' (a bf16 input's loads widen its bits); `reads`: each Gather's
  // (ir::gather_reads), by instruction, empty where the program has none.
  Registers(const ir::FusedProgram& program, int64_t channels, std::vector<ir::DType> dtypes,
            std::vector<std::vector<ir::GatherRead>> reads = {})
      : program_(program), channels_(channels), dtypes_(std::move(dtypes)), reads_(std::move(reads)),
        uniform_(program.instrs.size()), scaled_(program.instrs.size()), wide_(program.instrs.size()),
        factor_(program.instrs.size()), scale_(program.instrs.size()), value_(program.instrs.size()) {
    for (size_t i = 0; i < program.instrs.size(); ++i) {
      const ir::FusedInstr& in = program.instrs[i];
      const auto a = static_cast<size_t>(in.a), b = static_cast<size_t>(in.b);
      switch (in.code) {
        case FusedOpcode::Load:
        case FusedOpcode::LoadPlane:
        case FusedOpcode::Gather: uniform_[i] = false; break;
        case FusedOpcode::LoadChannel:
        case FusedOpcode::Const:
        case FusedOpcode::MaskKey: uniform_[i] = true; break;
        case FusedOpcode::Keep:
        case FusedOpcode::KeepSample: uniform_[i] = false; break;
        default: uniform_[i] = ir::reads_only(in, uniform_);
      }
      if (in.code == FusedOpcode::Mul && uniform_[a] != uniform_[b]) {
        const size_t v = uniform_[a] ? b : a;
        scaled_[i] = {scaled_[v].base >= 0 ? scaled_[v].base : static_cast<int32_t>(v), static_cast<int32_t>(v),
                      static_cast<int32_t>(uniform_[a] ? a : b)};
      }
    }
  }

  // The channel-uniform registers of channel c (an i64), in double with float copies, and the
  // factors of the scaled registers.
  void emit_channel(Builder& b, llvm::ArrayRef<llvm::Value*> in, llvm::Value* c) {
    for (size_t i = 0; i < program_.instrs.size(); ++i) {
      const ir::FusedInstr& ins = program_.instrs[i];
      if (const Scaled& s = scaled_[i]; s.base >= 0) {
        llvm::Value* u = wide_[static_cast<size_t>(s.uniform)];
        const auto v = static_cast<size_t>(s.operand);
        factor_[i] = scaled_[v].base >= 0 ? b.CreateFMul(factor_[v], u) : u;
        scale_[i] = to_f32(b, factor_[i]);
      }
      if (!uniform_[i]) continue;
      if (ins.code == FusedOpcode::LoadChannel) {
        llvm::Value* index = b.CreateAdd(i64(b, ins.b * channels_), c);
        wide_[i] = to_f64(b, load(b, in, ins.a, index));
      } else if (ins.code == FusedOpcode::Const) {
        wide_[i] = f64(b, ins.value);
      } else if (ins.code == FusedOpcode::MaskKey) {
        value_[i] = wide_[i] = mask_key(b, in[static_cast<size_t>(ins.a)], ins.value);  // an i32, not a real
        continue;
      } else {
        wide_[i] = scalar_op(b, ins, wide_);
      }
      value_[i] = to_f32(b, wide_[i]);
    }
  }

  // The other registers at flat element i of the space, in float; `plane` is i's (n, c) plane,
  // n * C + c, where LoadPlane reads; `coords` its coordinate on each axis, where Gather reads.
  void emit_element(Builder& b, llvm::ArrayRef<llvm::Value*> in, llvm::Value* i, llvm::Value* plane,
                    llvm::ArrayRef<llvm::Value*> coords = {}) {
    for (size_t r = 0; r < program_.instrs.size(); ++r) {
      if (uniform_[r]) continue;
      const ir::FusedInstr& ins = program_.instrs[r];
      if (scaled_[r].base >= 0) {
        value_[r] = b.CreateFMul(value_[static_cast<size_t>(scaled_[r].base)], scale_[r]);
      } else if (ins.code == FusedOpcode::Load) {
        value_[r] = load(b, in, ins.a, i);
      } else if (ins.code == FusedOpcode::LoadPlane) {
        value_[r] = load(b, in, ins.a, plane);
      } else if (ins.code == FusedOpcode::Gather) {
        value_[r] = gather(b, in, ins.a, reads_.at(r), coords);
      } else if (ins.code == FusedOpcode::Keep || ins.code == FusedOpcode::KeepSample) {
        llvm::Value* index = ins.code == FusedOpcode::Keep ? i : b.CreateUDiv(plane, i64(b, channels_), "sample");
        value_[r] = keep(b, value_[static_cast<size_t>(ins.a)], value_[static_cast<size_t>(ins.b)], index, ins.value);
      } else {
        value_[r] = scalar_op(b, ins, value_);
      }
    }
  }

  // Result `row` in float (after emit_element).
  llvm::Value* result(size_t row) const { return value_[static_cast<size_t>(program_.results.at(row))]; }

 private:
  llvm::Value* load(Builder& b, llvm::ArrayRef<llvm::Value*> in, int32_t input, llvm::Value* index) const {
    const auto i = static_cast<size_t>(input);
    return load_element(b, in[i], index, dtypes_.at(i));
  }

  // Input `input` at the source of the element at `coords`, or 0 where an axis has none. Only
  // the checks that can fail are emitted; an axis checked for its range reads a clamped
  // coordinate, so the load stays inside the input and the line loop can load unconditionally.
  llvm::Value* gather(Builder& b, llvm::ArrayRef<llvm::Value*> in, int32_t input,
                      const std::vector<ir::GatherRead>& reads, llvm::ArrayRef<llvm::Value*> coords) const {
    if (coords.size() != reads.size()) throw std::logic_error("fused: a gather outside the gathering map loop");
    llvm::Value* index = nullptr;
    llvm::Value* valid = nullptr;
    auto require = [&](llvm::Value* ok) { valid = valid ? b.CreateAnd(valid, ok) : ok; };
    for (size_t axis = 0; axis < reads.size(); ++axis) {
      const ir::GatherRead& g = reads[axis];
      llvm::Value* scaled = g.num == 1 ? coords[axis] : b.CreateNUWMul(coords[axis], i64(b, g.num));
      llvm::Value* at = g.den == 1 ? scaled : b.CreateUDiv(scaled, i64(b, g.den));
      if (g.off_grid) require(b.CreateICmpEQ(b.CreateURem(scaled, i64(b, g.den)), i64(b, 0)));
      if (g.past_end) {
        llvm::Value* inside = b.CreateICmpULT(at, i64(b, g.extent));
        require(inside);
        at = b.CreateSelect(inside, at, i64(b, g.extent - 1));
      }
      if (g.stride != 1) at = b.CreateNUWMul(at, i64(b, g.stride));
      index = index ? b.CreateNUWAdd(index, at) : at;
    }
    llvm::Value* v = load(b, in, input, index);
    return valid ? b.CreateSelect(valid, v, f32(b, 0)) : v;
  }

  // A varying register times a uniform one: base * (the factors' product), base the first
  // register of the chain that is not such a product; operand the varying factor.
  struct Scaled {
    int32_t base = -1, operand = -1, uniform = -1;  // base -1: not a scaled register
  };

  const ir::FusedProgram& program_;
  int64_t channels_;
  std::vector<ir::DType> dtypes_;
  std::vector<std::vector<ir::GatherRead>> reads_;
  std::vector<bool> uniform_;
  std::vector<Scaled> scaled_;
  std::vector<llvm::Value*> wide_;    // uniform registers, double
  std::vector<llvm::Value*> factor_;  // scaled registers: the factors' product, double
  std::vector<llvm::Value*> scale_;   // ... and in float
  std::vector<llvm::Value*> value_;   // every register, float
};

struct Space {
  int64_t batch, channels, inner;  // inner: the elements of one (n, c) plane
  int64_t total() const { return batch * channels * inner; }
};

Space space_of(const ir::Dims& dims) {
  const ir::FusedExtent e = ir::fused_extent(dims);
  return {e.batch, e.channels, e.plane};
}

// The kernel's arrays for a for_range body: the inputs, then the output.
std::vector<llvm::Value*> arrays_of(const KernelBody& k) {
  std::vector<llvm::Value*> arrays(k.in.begin(), k.in.end());
  arrays.push_back(k.out);
  return arrays;
}

// Elements touched: the space once per elementwise load, plus the output.
int64_t work_of(const ir::FusedProgram& program, const Space& s) {
  int64_t loads = 1;
  for (const ir::FusedInstr& in : program.instrs)
    loads += in.code == FusedOpcode::Load || in.code == FusedOpcode::Gather ? 1 : 0;
  return loads * s.total();
}

void emit_map_planes(KernelBody& k, const ir::FusedProgram& program, const Space& s) {
  for_range(k, "planes", s.batch * s.channels, work_of(program, s), arrays_of(k),
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              Registers r(program, s.channels, input_dtypes(k));
              emit_for(b, "plane", begin, end, i64(b, 1), [&](llvm::Value* plane) {
                r.emit_channel(b, a, b.CreateURem(plane, i64(b, s.channels), "c"));
                llvm::Value* first = b.CreateNUWMul(plane, i64(b, s.inner), "first");
                emit_for(
                    b, "p", 0, s.inner, 1,
                    [&](llvm::Value* p) {
                      llvm::Value* i = b.CreateNUWAdd(first, p);
                      r.emit_element(b, a, i, plane);
                      store_element(b, r.result(0), a.back(), i, output_dtype(k));
                    },
                    kVector);
              }, kOuter);
            });
}

void emit_map_rows(KernelBody& k, const ir::FusedProgram& program, const Space& s) {
  for_range(k, "rows", s.batch, work_of(program, s), arrays_of(k),
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              Registers r(program, s.channels, input_dtypes(k));
              emit_for(b, "n", begin, end, i64(b, 1), [&](llvm::Value* n) {
                llvm::Value* first = b.CreateNUWMul(n, i64(b, s.channels), "first");
                emit_for(
                    b, "c", 0, s.channels, 1,
                    [&](llvm::Value* c) {
                      llvm::Value* i = b.CreateNUWAdd(first, c);
                      r.emit_channel(b, a, c);
                      r.emit_element(b, a, i, i);
                      store_element(b, r.result(0), a.back(), i, output_dtype(k));
                    },
                    // Fewer channels than the narrowest vector's 4 floats: nothing to vectorize,
                    // and LLVM rotates a 2-trip loop into a form its forced vectorizer warns about.
                    s.channels < 4 ? kOuter : kVector);
              }, kOuter);
            });
}

bool gathers(const ir::FusedProgram& program) {
  return std::any_of(program.instrs.begin(), program.instrs.end(),
                     [](const ir::FusedInstr& in) { return in.code == FusedOpcode::Gather; });
}

// A map that gathers, along lines of the space's last axis: the line's coordinates on the other
// axes (and so its channel and plane, in a space of rank 3 and more) once per line.
void emit_map_lines(KernelBody& k, const ir::FusedProgram& program, const ir::Dims& space) {
  const Space s = space_of(space);
  const size_t rank = space.size();
  const int64_t last = space.back(), lines = ir::numel(space) / last;
  std::vector<std::vector<ir::GatherRead>> reads(program.instrs.size());
  for (size_t r = 0; r < program.instrs.size(); ++r)
    if (const ir::FusedInstr& in = program.instrs[r]; in.code == FusedOpcode::Gather)
      reads[r] = ir::gather_reads(program, in, space, k.in_shape(static_cast<size_t>(in.a)));
  for_range(k, "lines", lines, work_of(program, s), arrays_of(k),
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              Registers r(program, s.channels, input_dtypes(k), reads);
              emit_for(b, "line", begin, end, i64(b, 1), [&](llvm::Value* line) {
                std::vector<llvm::Value*> coords(rank);
                llvm::Value* rest = line;
                for (size_t axis = rank - 1; axis-- > 1;) {
                  coords[axis] = b.CreateURem(rest, i64(b, space[axis]));
                  rest = b.CreateUDiv(rest, i64(b, space[axis]));
                }
                if (rank > 1) coords[0] = rest;
                // A line of [N, C] runs across the channels: its channel registers are per element.
                llvm::Value* plane =
                    rank > 2 ? b.CreateNUWAdd(b.CreateNUWMul(coords[0], i64(b, s.channels)), coords[1]) : i64(b, 0);
                if (rank != 2) r.emit_channel(b, a, rank > 2 ? coords[1] : i64(b, 0));
                llvm::Value* first = b.CreateNUWMul(line, i64(b, last), "first");
                emit_for(
                    b, "j", 0, last, 1,
                    [&](llvm::Value* j) {
                      llvm::Value* i = b.CreateNUWAdd(first, j);
                      coords[rank - 1] = j;
                      if (rank == 2) {
                        r.emit_channel(b, a, j);
                        plane = i;
                      }
                      r.emit_element(b, a, i, plane, coords);
                      store_element(b, r.result(0), a.back(), i, output_dtype(k));
                    },
                    last < 4 ? kOuter : kVector);
              }, kOuter);
            });
}

void emit_reduce_planes(KernelBody& k, const ir::FusedProgram& program, const Space& s) {
  const size_t rows = program.results.size();
  for_range(k, "channels", s.channels, work_of(program, s), arrays_of(k),
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              Registers r(program, s.channels, input_dtypes(k));
              std::vector<llvm::AllocaInst*> totals, planes;
              for (size_t row = 0; row < rows; ++row) {
                totals.push_back(local(b, b.getDoubleTy(), "total"));
                planes.push_back(local(b, b.getFloatTy(), "plane"));
              }
              emit_for(b, "c", begin, end, i64(b, 1), [&](llvm::Value* c) {
                r.emit_channel(b, a, c);
                for (llvm::AllocaInst* t : totals) b.CreateStore(f64(b, 0), t);
                emit_for(b, "n", 0, s.batch, 1, [&](llvm::Value* n) {
                  llvm::Value* plane = b.CreateNUWAdd(b.CreateNUWMul(n, i64(b, s.channels)), c);
                  llvm::Value* first = b.CreateNUWMul(plane, i64(b, s.inner), "first");
                  for (llvm::AllocaInst* p : planes) b.CreateStore(f32(b, 0), p);
                  emit_for(
                      b, "p", 0, s.inner, 1,
                      [&](llvm::Value* p) {
                        r.emit_element(b, a, b.CreateNUWAdd(first, p), plane);
                        for (size_t row = 0; row < rows; ++row)
                          b.CreateStore(reduce_add(b, b.CreateLoad(b.getFloatTy(), planes[row]), r.result(row)),
                                        planes[row]);
                      },
                      kReduce);
                  for (size_t row = 0; row < rows; ++row)
                    b.CreateStore(b.CreateFAdd(b.CreateLoad(b.getDoubleTy(), totals[row]),
                                               to_f64(b, b.CreateLoad(b.getFloatTy(), planes[row]))),
                                  totals[row]);
                }, kOuter);
                for (size_t row = 0; row < rows; ++row)
                  store_element(b, to_f32(b, b.CreateLoad(b.getDoubleTy(), totals[row])), a.back(),
                                b.CreateNUWAdd(i64(b, static_cast<int64_t>(row) * s.channels), c), output_dtype(k));
              }, kOuter);
            });
}

// One element per plane: per channel, down the rows with stride C, added in double, the
// channel's registers computed once. Not vectorized over the channels as bias_grad is: adding
// several results into output rows C elements apart is a dependence the vectorizer refuses
// for small C. Neighbouring channels share the rows' cache lines, so the stride costs little.
void emit_reduce_rows(KernelBody& k, const ir::FusedProgram& program, const Space& s) {
  const size_t rows = program.results.size();
  for_range(k, "channels", s.channels, work_of(program, s), arrays_of(k),
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              Registers r(program, s.channels, input_dtypes(k));
              std::vector<llvm::AllocaInst*> totals;
              for (size_t row = 0; row < rows; ++row) totals.push_back(local(b, b.getDoubleTy(), "total"));
              emit_for(b, "c", begin, end, i64(b, 1), [&](llvm::Value* c) {
                r.emit_channel(b, a, c);
                for (llvm::AllocaInst* t : totals) b.CreateStore(f64(b, 0), t);
                emit_for(b, "n", 0, s.batch, 1, [&](llvm::Value* n) {
                  llvm::Value* i = b.CreateNUWAdd(b.CreateNUWMul(n, i64(b, s.channels)), c);
                  r.emit_element(b, a, i, i);
                  for (size_t row = 0; row < rows; ++row)
                    b.CreateStore(b.CreateFAdd(b.CreateLoad(b.getDoubleTy(), totals[row]), to_f64(b, r.result(row))),
                                  totals[row]);
                }, kOuter);
                for (size_t row = 0; row < rows; ++row)
                  store_element(b, to_f32(b, b.CreateLoad(b.getDoubleTy(), totals[row])), a.back(),
                                b.CreateNUWAdd(i64(b, static_cast<int64_t>(row) * s.channels), c), output_dtype(k));
              }, kOuter);
            });
}

void emit_program(KernelBody& k, const ir::FusedProgram& program, const ir::Dims& space) {
  const Space s = space_of(space);
  if (gathers(program)) {
    if (program.reduce) throw std::logic_error("fused: a reduction gathers (only a Map kind's map may)");
    return emit_map_lines(k, program, space);
  }
  if (program.reduce) return s.inner == 1 ? emit_reduce_rows(k, program, s) : emit_reduce_planes(k, program, s);
  return s.inner == 1 ? emit_map_rows(k, program, s) : emit_map_planes(k, program, s);
}

}  // namespace

llvm::Value* scalar_op(Builder& b, FusedOpcode code, llvm::Value* x, llvm::Value* y, llvm::Value* z) {
  llvm::Type* t = x->getType();
  switch (code) {
    case FusedOpcode::Add: return b.CreateFAdd(x, y);
    case FusedOpcode::Sub: return b.CreateFSub(x, y);
    case FusedOpcode::Mul: return b.CreateFMul(x, y);
    case FusedOpcode::Relu: return b.CreateSelect(b.CreateFCmpOGT(x, fp(t, 0)), x, fp(t, 0));
    case FusedOpcode::ReluMask: return b.CreateSelect(b.CreateFCmpOGT(y, fp(t, 0)), x, fp(t, 0));
    case FusedOpcode::Rsqrt: return b.CreateFDiv(fp(t, 1), b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x));
    // 1 / (1 + exp(-x)) is stable for large |x| in IEEE arithmetic: exp(-x) overflowing to +inf
    // (x below about -88 in float) gives 0, within a denormal of the true value, never a NaN;
    // and it is one exp and one division, without the select of the exp(-|x|) form.
    case FusedOpcode::Sigmoid:
      return b.CreateFDiv(fp(t, 1), b.CreateFAdd(fp(t, 1), b.CreateUnaryIntrinsic(llvm::Intrinsic::exp, b.CreateFNeg(x))));
    case FusedOpcode::Max: return b.CreateSelect(b.CreateOr(b.CreateFCmpOGT(y, x), b.CreateFCmpUNO(y, y)), y, x);
    case FusedOpcode::Div: return b.CreateFDiv(x, y);
    case FusedOpcode::Sqrt: return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
    case FusedOpcode::Exp: return b.CreateUnaryIntrinsic(llvm::Intrinsic::exp, x);
    case FusedOpcode::Log: return b.CreateUnaryIntrinsic(llvm::Intrinsic::log, x);
    case FusedOpcode::Select: return b.CreateSelect(b.CreateFCmpOGT(x, fp(t, 0)), y, z);
    case FusedOpcode::Load:
    case FusedOpcode::LoadChannel:
    case FusedOpcode::LoadPlane:
    case FusedOpcode::Const:
    case FusedOpcode::MaskKey:
    case FusedOpcode::Keep:
    case FusedOpcode::KeepSample:
    case FusedOpcode::AtLabel:
    case FusedOpcode::OnLabel:
    case FusedOpcode::Gather: break;
  }
  throw std::logic_error(fmt::format("fused: {} is not arithmetic", ir::fused_opcode_name(code)));
}

llvm::Value* scalar_op(Builder& b, const ir::FusedInstr& in, llvm::ArrayRef<llvm::Value*> reg) {
  auto operand = [&](bool reads, int32_t r) { return reads ? reg[static_cast<size_t>(r)] : nullptr; };
  return scalar_op(b, in.code, reg[static_cast<size_t>(in.a)], operand(ir::reads_register_b(in.code), in.b),
                   operand(ir::reads_register_c(in.code), in.c));
}

void emit_fused(KernelBody& k) {
  if (k.kernel.kind != ir::OpKind::Fused)
    throw std::logic_error(fmt::format("emit_fused: {} is not a fused op", ir::op_kind_name(k.kernel.kind)));
  emit_program(k, k.attrs().program, k.attrs().shape);
}

void emit_map(KernelBody& k) {
  emit_program(k, ir::map_program(k.kernel.kind, k.attrs(), k.out_shape()), k.out_shape());
}

}  // namespace resnetc::codegen::llvm_backend
