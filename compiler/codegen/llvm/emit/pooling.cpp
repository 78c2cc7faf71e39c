// The window renderer: the pooling kinds and their gradients, over N*C planes in parallel, each
// rendered from its ir::WindowReduction (the accumulator's start, the combining opcode through
// scalar_op.h's table, the finalization), never from its kind (global_avgpool's gradient is a
// map program, ir::map_program). A whole-plane window (global pooling) is one loop per plane.
//
// A window op splits each plane's outputs at compile time into an interior, whose windows
// lie wholly inside the image (no bounds checks, the window unrolled, the ow loop
// vectorized), and a border of windows that reach into the padding (checked, scalar).
// Padding never wins a max and counts as zero in an average. avgpool divides by kh*kw, or, on
// the border with count_include_pad off or ceil_mode windows hanging past the padded image,
// by PyTorch's per-window count (computed there, in the checked code only).
// The gradients zero their plane of dx, then scatter each output's gradient in scan order
// (to the first maximum of its window for maxpool): deterministic, and each plane belongs to
// one thread. maxpool_grad finds the argmaxes of an interior row first, vectorized, into a
// row of indices on the stack, then scatters them.
#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

#include "compiler/codegen/llvm/emit/emit_helpers.h"
#include "compiler/codegen/llvm/emit/scalar_op.h"
#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/ir/window_reduction.h"

namespace resnetc::codegen::llvm_backend {
namespace {

using namespace emit_helpers;
using ir::FusedOpcode;
using Finalize = ir::WindowReduction::Finalize;

// Windows past this many elements are walked by loops instead of being unrolled.
constexpr int64_t kMaxUnrolledWindow = 64;
// maxpool_grad keeps a row of argmax indices on the stack up to this width.
constexpr int64_t kMaxArgmaxRow = 4096;

struct Window {
  int64_t planes, in_h, in_w, out_h, out_w;
  int64_t kh, kw, sh, sw, ph, pw;
  // Outputs [oh_lo, oh_hi) x [ow_lo, ow_hi) have their windows wholly inside the image.
  int64_t oh_lo, oh_hi, ow_lo, ow_hi;
  bool count_include_pad = true;
  bool fixed_divisor = true;  // every avgpool window divides by kh*kw

  int64_t in_plane() const { return in_h * in_w; }
  int64_t out_plane() const { return out_h * out_w; }
};

// [lo, hi) of the outputs along one axis whose window [o*s - p, o*s - p + k) lies in [0, in).
std::pair<int64_t, int64_t> interior(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p) {
  const int64_t lo = std::min(out, (p + s - 1) / s);
  const int64_t last = in + p - k;  // o*s <= last
  const int64_t hi = last < 0 ? lo : std::max(lo, std::min(out, last / s + 1));
  return {lo, hi};
}

Window window(const ir::Dims& x, const ir::Dims& y, const ir::WindowReduction& r) {
  Window g{x[0] * x[1], x[2], x[3], y[2], y[3], r.kernel[0], r.kernel[1], r.stride[0], r.stride[1],
           r.padding[0], r.padding[1], 0, 0, 0, 0};
  std::tie(g.oh_lo, g.oh_hi) = interior(g.in_h, g.out_h, g.kh, g.sh, g.ph);
  std::tie(g.ow_lo, g.ow_hi) = interior(g.in_w, g.out_w, g.kw, g.sw, g.pw);
  g.count_include_pad = r.count_include_pad;
  g.fixed_divisor = r.finalize != Finalize::DivideByCount;
  return g;
}

// avgpool's divisor for output (oh, ow): the window clipped to the padded image
// (count_include_pad) or to the image, as PyTorch's; kh*kw for a window inside the image.
llvm::Value* avg_divisor(Builder& b, const Window& g, llvm::Value* oh, llvm::Value* ow, bool checked) {
  if (g.fixed_divisor || !checked) return f32(b, static_cast<float>(g.kh * g.kw));
  auto smin = [&](llvm::Value* x, llvm::Value* y) { return b.CreateSelect(b.CreateICmpSLT(x, y), x, y); };
  auto smax = [&](llvm::Value* x, llvm::Value* y) { return b.CreateSelect(b.CreateICmpSGT(x, y), x, y); };
  auto extent = [&](llvm::Value* o, int64_t s, int64_t p, int64_t k, int64_t in) {
    llvm::Value* start = b.CreateSub(b.CreateMul(o, i64(b, s)), i64(b, p));
    llvm::Value* end = b.CreateAdd(start, i64(b, k));
    if (g.count_include_pad) return b.CreateSub(smin(end, i64(b, in + p)), start);
    return b.CreateSub(smin(end, i64(b, in)), smax(start, i64(b, 0)));
  };
  llvm::Value* count = b.CreateMul(extent(oh, g.sh, g.ph, g.kh, g.in_h), extent(ow, g.sw, g.pw, g.kw, g.in_w));
  return b.CreateSIToFP(count, b.getFloatTy());
}

using Visit = llvm::function_ref<void(llvm::Value* index)>;  // index into the input plane: r*W + q

// Calls visit for each element of output (oh, ow)'s window inside the image, in row-major
// scan order. `checked`: the window may reach into the padding.
void emit_window(Builder& b, const Window& g, llvm::Value* oh, llvm::Value* ow, bool checked, Visit visit) {
  llvm::Value* r0 = b.CreateSub(b.CreateMul(oh, i64(b, g.sh)), i64(b, g.ph), "r0");
  llvm::Value* q0 = b.CreateSub(b.CreateMul(ow, i64(b, g.sw)), i64(b, g.pw), "q0");
  if (!checked && g.kh * g.kw <= kMaxUnrolledWindow) {
    llvm::Value* origin = b.CreateAdd(b.CreateMul(r0, i64(b, g.in_w)), q0);
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) visit(b.CreateAdd(origin, i64(b, i * g.in_w + j)));
    return;
  }
  auto inside = [&](llvm::Value* v, int64_t extent) {
    return b.CreateAnd(b.CreateICmpSGE(v, i64(b, 0)), b.CreateICmpSLT(v, i64(b, extent)));
  };
  emit_for(b, "i", 0, g.kh, 1, [&](llvm::Value* i) {
    llvm::Value* r = b.CreateAdd(r0, i);
    auto row = [&] {
      emit_for(b, "j", 0, g.kw, 1, [&](llvm::Value* j) {
        llvm::Value* q = b.CreateAdd(q0, j);
        auto element = [&] { visit(b.CreateAdd(b.CreateMul(r, i64(b, g.in_w)), q)); };
        if (checked) {
          emit_if(b, inside(q, g.in_w), element);
        } else {
          element();
        }
      });
    };
    if (checked) {
      emit_if(b, inside(r, g.in_h), row);
    } else {
      row();
    }
  });
}

// Calls out(oh, ow, checked) for every output of a plane: the interior with checked = false,
// the border with checked = true. `vectorize`: mark the interior's ow loop for the vectorizer
// (the forward ops; a gradient's scatter has dependences between neighbouring windows).
// `interior`, when given, emits the interior outputs of row oh itself, in place of the ow loop.
void emit_outputs(Builder& b, const Window& g, bool vectorize,
                  llvm::function_ref<void(llvm::Value* oh, llvm::Value* ow, bool checked)> out,
                  llvm::function_ref<void(llvm::Value* oh)> interior = nullptr) {
  auto border_rows = [&](int64_t lo, int64_t hi) {
    emit_for(b, "oh", lo, hi, 1, [&](llvm::Value* oh) {
      emit_for(b, "ow", 0, g.out_w, 1, [&](llvm::Value* ow) { out(oh, ow, true); }, kOuter);
    }, kOuter);
  };
  border_rows(0, g.oh_lo);
  emit_for(b, "oh", g.oh_lo, g.oh_hi, 1, [&](llvm::Value* oh) {
    emit_for(b, "ow", 0, g.ow_lo, 1, [&](llvm::Value* ow) { out(oh, ow, true); });
    // With the window unrolled the ow loop is innermost: vectorize it (strided loads for stride 2).
    const LoopHints hints = vectorize && g.kh * g.kw <= kMaxUnrolledWindow ? kVector : LoopHints{};
    if (interior) {
      interior(oh);
    } else {
      emit_for(b, "ow", g.ow_lo, g.ow_hi, 1, [&](llvm::Value* ow) { out(oh, ow, false); }, hints);
    }
    emit_for(b, "ow", g.ow_hi, g.out_w, 1, [&](llvm::Value* ow) { out(oh, ow, true); });
  }, kOuter);
  border_rows(g.oh_hi, g.out_h);
}

llvm::Value* y_index(Builder& b, const Window& g, llvm::Value* oh, llvm::Value* ow) {
  return b.CreateAdd(b.CreateMul(oh, i64(b, g.out_w)), ow);
}

// The running maximum with PyTorch's rule: a larger value or a NaN replaces it.
llvm::Value* takes_max(Builder& b, llvm::Value* v, llvm::Value* best) {
  return b.CreateOr(b.CreateFCmpOGT(v, best), b.CreateFCmpUNO(v, v));
}

// x -> y: each output the fold of its window, then finalized.
void emit_pool_forward(KernelBody& k, const ir::WindowReduction& r) {
  const Window g = window(k.in_shape(0), k.out_shape(), r);
  for_range(k, "planes", g.planes, g.planes * g.in_plane(), {k.in[0], k.out},
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              llvm::AllocaInst* acc = local(b, b.getFloatTy(), "acc");
              emit_for(b, "plane", begin, end, i64(b, 1), [&](llvm::Value* plane) {
                llvm::Value* x = gep_f32(b, a[0], b.CreateMul(plane, i64(b, g.in_plane())), "x");
                llvm::Value* y = gep_f32(b, a[1], b.CreateMul(plane, i64(b, g.out_plane())), "y");
                emit_outputs(b, g, true, [&](llvm::Value* oh, llvm::Value* ow, bool checked) {
                  b.CreateStore(f32(b, static_cast<float>(r.init)), acc);
                  emit_window(b, g, oh, ow, checked, [&](llvm::Value* index) {
                    llvm::Value* v = load_f32(b, x, index);
                    b.CreateStore(scalar_op(b, r.combine, b.CreateLoad(b.getFloatTy(), acc), v), acc);
                  });
                  llvm::Value* result = b.CreateLoad(b.getFloatTy(), acc);
                  if (r.finalize != Finalize::None) result = b.CreateFDiv(result, avg_divisor(b, g, oh, ow, checked));
                  store_f32(b, result, y, y_index(b, g, oh, ow));
                });
              }, kOuter);
            });
}

// The gradient of a max (dy, x -> dx: to the first maximum of each window) or of a sum (dy -> dx:
// to every element of the window, divided as the forward was).
void emit_pool_backward(KernelBody& k, const ir::WindowReduction& r) {
  const bool max = r.combine == FusedOpcode::Max;
  const ir::Dims& x_shape = k.out_shape();
  const Window g = window(x_shape, k.in_shape(0), r);
  std::vector<llvm::Value*> arrays{k.in[0]};
  if (max) arrays.push_back(k.in[1]);
  arrays.push_back(k.out);
  for_range(k, "planes", g.planes, g.planes * g.in_plane(), arrays,
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              llvm::AllocaInst* best_value = local(b, b.getFloatTy(), "best_value");
              llvm::AllocaInst* best_index = local(b, b.getInt64Ty(), "best_index");
              // maxpool_grad's interior rows in two passes: the argmax of each window, vectorized
              // over ow into a stack row of indices, then the scatter in order.
              const int64_t interior_w = g.ow_hi - g.ow_lo;
              const bool two_pass = max && interior_w > 0 && interior_w <= kMaxArgmaxRow &&
                                    g.kh * g.kw <= kMaxUnrolledWindow;
              llvm::AllocaInst* argmax_row =
                  two_pass ? local(b, llvm::ArrayType::get(b.getInt32Ty(), static_cast<uint64_t>(interior_w)), "argmax")
                           : nullptr;
              emit_for(b, "plane", begin, end, i64(b, 1), [&](llvm::Value* plane) {
                llvm::Value* dy = gep_f32(b, a[0], b.CreateMul(plane, i64(b, g.out_plane())), "dy");
                llvm::Value* x = max ? gep_f32(b, a[1], b.CreateMul(plane, i64(b, g.in_plane())), "x") : nullptr;
                llvm::Value* dx = gep_f32(b, a.back(), b.CreateMul(plane, i64(b, g.in_plane())), "dx");
                emit_for(b, "i", 0, g.in_plane(), 1, [&](llvm::Value* i) { store_f32(b, f32(b, 0), dx, i); }, kVector);
                auto add_to = [&](llvm::Value* index, llvm::Value* v) {
                  store_f32(b, b.CreateFAdd(load_f32(b, dx, index), v), dx, index);
                };
                // One output at a time: avgpool_grad everywhere, maxpool_grad on the border.
                auto one_output = [&](llvm::Value* oh, llvm::Value* ow, bool checked) {
                  llvm::Value* grad = load_f32(b, dy, y_index(b, g, oh, ow));
                  if (!max) {
                    llvm::Value* share = b.CreateFDiv(grad, avg_divisor(b, g, oh, ow, checked));
                    emit_window(b, g, oh, ow, checked, [&](llvm::Value* index) { add_to(index, share); });
                    return;
                  }
                  // The first maximum in scan order; a NaN replaces it (the last NaN wins).
                  b.CreateStore(f32(b, -std::numeric_limits<float>::infinity()), best_value);
                  b.CreateStore(i64(b, -1), best_index);
                  emit_window(b, g, oh, ow, checked, [&](llvm::Value* index) {
                    llvm::Value* v = load_f32(b, x, index);
                    llvm::Value* bv = b.CreateLoad(b.getFloatTy(), best_value);
                    llvm::Value* bi = b.CreateLoad(b.getInt64Ty(), best_index);
                    llvm::Value* take = b.CreateOr(b.CreateICmpSLT(bi, i64(b, 0)), takes_max(b, v, bv));
                    b.CreateStore(b.CreateSelect(take, v, bv), best_value);
                    b.CreateStore(b.CreateSelect(take, index, bi), best_index);
                  });
                  add_to(b.CreateLoad(b.getInt64Ty(), best_index), grad);
                };
                // maxpool_grad's interior row oh: the argmaxes (vectorized over ow), then the scatter.
                auto interior_row = [&](llvm::Value* oh) {
                  auto slot = [&](llvm::Value* ow) {
                    return b.CreateInBoundsGEP(argmax_row->getAllocatedType(), argmax_row,
                                               {i64(b, 0), b.CreateSub(ow, i64(b, g.ow_lo))});
                  };
                  emit_for(b, "ow", g.ow_lo, g.ow_hi, 1, [&](llvm::Value* ow) {
                    // Every element of an interior window is inside: the first one starts the scan.
                    llvm::Value* bv = nullptr;
                    llvm::Value* bi = nullptr;
                    emit_window(b, g, oh, ow, false, [&](llvm::Value* index) {
                      llvm::Value* v = load_f32(b, x, index);
                      llvm::Value* take = bv ? takes_max(b, v, bv) : nullptr;
                      bv = take ? b.CreateSelect(take, v, bv) : v;
                      bi = take ? b.CreateSelect(take, index, bi) : index;
                    });
                    b.CreateAlignedStore(b.CreateTrunc(bi, b.getInt32Ty()), slot(ow), llvm::Align(4));
                  }, kVector);
                  emit_for(b, "ow", g.ow_lo, g.ow_hi, 1, [&](llvm::Value* ow) {
                    llvm::Value* index = b.CreateAlignedLoad(b.getInt32Ty(), slot(ow), llvm::Align(4));
                    add_to(b.CreateSExt(index, b.getInt64Ty()), load_f32(b, dy, y_index(b, g, oh, ow)));
                  });
                };
                if (two_pass) {
                  emit_outputs(b, g, false, one_output, interior_row);
                } else {
                  emit_outputs(b, g, false, one_output);
                }
              }, kOuter);
            });
}

// A whole-plane window: [N, C, H, W] -> [N, C, 1, 1], one loop over each plane; a sum is
// reassociated (vectorized), a max folds in scan order.
void emit_plane_forward(KernelBody& k, const ir::WindowReduction& r) {
  const bool sum = r.combine == FusedOpcode::Add;
  const ir::Dims& x = k.in_shape(0);
  const int64_t planes = x[0] * x[1], hw = x[2] * x[3];
  for_range(k, "planes", planes, planes * hw, {k.in[0], k.out},
            [&](Builder& b, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> a) {
              llvm::AllocaInst* acc = local(b, b.getFloatTy(), "acc");
              emit_for(b, "plane", begin, end, i64(b, 1), [&](llvm::Value* plane) {
                llvm::Value* src = gep_f32(b, a[0], b.CreateMul(plane, i64(b, hw)), "x");
                b.CreateStore(f32(b, static_cast<float>(r.init)), acc);
                emit_for(
                    b, "p", 0, hw, 1,
                    [&](llvm::Value* p) {
                      llvm::Value* so_far = b.CreateLoad(b.getFloatTy(), acc);
                      llvm::Value* v = load_f32(b, src, p);
                      b.CreateStore(sum ? reduce_add(b, so_far, v) : scalar_op(b, r.combine, so_far, v), acc);
                    },
                    sum ? kReduce : LoopHints{});
                llvm::Value* result = b.CreateLoad(b.getFloatTy(), acc);
                if (r.finalize != Finalize::None) result = b.CreateFDiv(result, f32(b, static_cast<float>(hw)));
                store_f32(b, result, a[1], plane);
              }, kOuter);
            });
}

}  // namespace

void emit_pooling(KernelBody& k) {
  const ir::WindowReduction r = ir::window_reduction(k.kernel.kind, k.attrs(), k.in_shape(0));
  if (r.gradient) return emit_pool_backward(k, r);
  if (r.whole_plane) return emit_plane_forward(k, r);
  emit_pool_forward(k, r);
}

}  // namespace resnetc::codegen::llvm_backend
