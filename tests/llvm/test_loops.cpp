#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include "compiler/codegen/llvm/jit.h"
#include "compiler/codegen/llvm/loops.h"
#include "runtime/cpu/thread_pool.h"

using namespace resnetc::codegen::llvm_backend;
using Catch::Matchers::Contains;

namespace {

constexpr int64_t kSaxpyN = 1000;  // not a multiple of 16: the vector loop needs a remainder
constexpr int64_t kM = 37, kN = 67, kK = 29;

// void saxpy(float* noalias y, const float* noalias x, float a): y[i] = a * x[i] + y[i], i < n.
llvm::Function* emit_saxpy(llvm::Module& module, int64_t n = kSaxpyN) {
  auto* f = make_kernel(module, "saxpy",
                        {{"y", Param::F32Array, static_cast<uint64_t>(n)},
                         {"x", Param::ConstF32Array, static_cast<uint64_t>(n)},
                         {"a", Param::F32}});
  Builder b(&f->getEntryBlock());
  llvm::Value *y = f->getArg(0), *x = f->getArg(1), *a = f->getArg(2);
  emit_for(
      b, "i", 0, n, 1,
      [&](llvm::Value* i) { store_f32(b, b.CreateFAdd(b.CreateFMul(a, load_f32(b, x, i)), load_f32(b, y, i)), y, i); },
      LoopHints{.vectorize = true});
  b.CreateRetVoid();
  return f;
}

// void matmul(float* C, const float* A, const float* B): C[M,N] += A[M,K] · B[K,N], row-major,
// i-k-j order so the innermost loop streams over rows of B and C (vectorizes without reassociation).
llvm::Function* emit_matmul(llvm::Module& module) {
  auto* f = make_kernel(module, "matmul",
                        {{"C", Param::F32Array, kM * kN}, {"A", Param::ConstF32Array, kM * kK},
                         {"B", Param::ConstF32Array, kK * kN}});
  Builder b(&f->getEntryBlock());
  llvm::Value *c = f->getArg(0), *a = f->getArg(1), *bm = f->getArg(2);
  emit_for(b, "i", 0, kM, 1, [&](llvm::Value* i) {
    emit_for(b, "k", 0, kK, 1, [&](llvm::Value* k) {
      llvm::Value* aik = load_f32(b, a, b.CreateAdd(b.CreateMul(i, i64(b, kK)), k));
      llvm::Value* b_row = gep_f32(b, bm, b.CreateMul(k, i64(b, kN)), "b_row");
      llvm::Value* c_row = gep_f32(b, c, b.CreateMul(i, i64(b, kN)), "c_row");
      emit_for(
          b, "j", 0, kN, 1,
          [&](llvm::Value* j) {
            store_f32(b, b.CreateFAdd(load_f32(b, c_row, j), b.CreateFMul(aik, load_f32(b, b_row, j))), c_row, j);
          },
          LoopHints{.vectorize = true});
    });
  });
  b.CreateRetVoid();
  return f;
}

// void saxpy_parallel(i8* pool, float* y, const float* x, float a): saxpy over the thread pool.
llvm::Function* emit_saxpy_parallel(llvm::Module& module, int64_t n) {
  auto* f = make_kernel(module, "saxpy_parallel",
                        {{"pool", Param::Opaque},
                         {"y", Param::F32Array, static_cast<uint64_t>(n)},
                         {"x", Param::ConstF32Array, static_cast<uint64_t>(n)},
                         {"a", Param::F32}});
  Builder b(&f->getEntryBlock());
  emit_parallel_for(b, f->getArg(0), "saxpy_parallel.body", i64(b, n), {f->getArg(1), f->getArg(2), f->getArg(3)},
                    [&](Builder& bb, llvm::Value* begin, llvm::Value* end, llvm::ArrayRef<llvm::Value*> args) {
                      llvm::Value *y = args[0], *x = args[1], *a = args[2];
                      emit_for(bb, "i", begin, end, i64(bb, 1), [&](llvm::Value* i) {
                        store_f32(bb, bb.CreateFAdd(bb.CreateFMul(a, load_f32(bb, x, i)), load_f32(bb, y, i)), y, i);
                      });
                    });
  b.CreateRetVoid();
  return f;
}

std::vector<float> iota_values(size_t n, float scale, float offset) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int>(i % 97) - 48) * scale + offset;
  return v;
}

std::string print(const llvm::Module& module) {
  std::string text;
  llvm::raw_string_ostream out(text);
  module.print(out, nullptr);
  return out.str();
}

}  // namespace

TEST_CASE("loops: generated saxpy matches plain C++", "[llvm]") {
  Jit jit;
  auto tsc = Jit::new_context();
  auto module = jit.new_module("saxpy", *tsc.getContext());
  emit_saxpy(*module);
  jit.add_module(std::move(module), tsc);
  auto* saxpy = jit.lookup<void(float*, const float*, float)>("saxpy");

  // 64-byte aligned, as the kernel's `align 64` promises.
  alignas(64) static float y[kSaxpyN + 16];
  alignas(64) static float x[kSaxpyN];
  auto xs = iota_values(kSaxpyN, 0.25f, 0.1f);
  auto ys = iota_values(kSaxpyN, -0.5f, 2.0f);
  std::copy(xs.begin(), xs.end(), x);
  std::copy(ys.begin(), ys.end(), y);
  for (int i = 0; i < 16; ++i) y[kSaxpyN + i] = 123.0f;  // guard: nothing past n is written
  const float a = 1.75f;
  saxpy(y, x, a);
  for (int64_t i = 0; i < kSaxpyN; ++i) {
    float expected = a * xs[static_cast<size_t>(i)] + ys[static_cast<size_t>(i)];
    if (y[i] != expected) FAIL("y[" << i << "] = " << y[i] << ", expected " << expected);
  }
  for (int i = 0; i < 16; ++i) CHECK(y[kSaxpyN + i] == 123.0f);
}

TEST_CASE("loops: generated matrix multiply matches plain C++", "[llvm]") {
  Jit jit;
  auto tsc = Jit::new_context();
  auto module = jit.new_module("matmul", *tsc.getContext());
  emit_matmul(*module);
  jit.add_module(std::move(module), tsc);
  auto* matmul = jit.lookup<void(float*, const float*, const float*)>("matmul");

  alignas(64) static float a[kM * kK], b[kK * kN], c[kM * kN], expected[kM * kN];
  auto as = iota_values(kM * kK, 0.125f, 0.0f), bs = iota_values(kK * kN, -0.0625f, 0.5f),
       cs = iota_values(kM * kN, 1.0f, -3.0f);
  std::copy(as.begin(), as.end(), a);
  std::copy(bs.begin(), bs.end(), b);
  std::copy(cs.begin(), cs.end(), c);
  std::copy(cs.begin(), cs.end(), expected);
  // Same loop order and no reassociation or contraction on either side: bit-identical results.
  for (int64_t i = 0; i < kM; ++i)
    for (int64_t k = 0; k < kK; ++k)
      for (int64_t j = 0; j < kN; ++j) expected[i * kN + j] += a[i * kK + k] * b[k * kN + j];
  matmul(c, a, b);
  for (int64_t i = 0; i < kM * kN; ++i) {
    if (c[i] != expected[i]) FAIL("C[" << i / kN << "," << i % kN << "] = " << c[i] << ", expected " << expected[i]);
  }
}

TEST_CASE("loops: saxpy is vectorized with AVX-512 where the host has it", "[llvm]") {
  Jit jit;
  auto tsc = Jit::new_context();
  auto module = jit.new_module("saxpy", *tsc.getContext());
  emit_saxpy(*module);
  std::string before = print(*module);
  CHECK_THAT(before, Contains("llvm.loop.vectorize.enable") && Contains("llvm.loop.mustprogress"));
  CHECK_THAT(before, Contains("noalias nocapture noundef align 64 dereferenceable(4000)"));
  std::string ir = jit.optimized_ir(*module);
  if (!jit.has_feature("avx512f")) {
    WARN("host has no avx512f (" << jit.cpu_name() << "): skipping the <16 x float> check");
    return;
  }
  CHECK_THAT(ir, Contains("<16 x float>"));
  CHECK_THAT(ir, Contains("\"prefer-vector-width\"=\"512\""));
  // Without AVX-512 the same kernel gets 8-wide (AVX2) vectors.
  Jit avx2(JitOptions{.features = "-avx512f"});
  auto module2 = avx2.new_module("saxpy", *tsc.getContext());
  emit_saxpy(*module2);
  std::string ir2 = avx2.optimized_ir(*module2);
  CHECK_THAT(ir2, Contains("<8 x float>"));
  CHECK_THAT(ir2, !Contains("<16 x float>"));
}

TEST_CASE("loops: matmul's inner loop is vectorized", "[llvm]") {
  Jit jit;
  auto tsc = Jit::new_context();
  auto module = jit.new_module("matmul", *tsc.getContext());
  emit_matmul(*module);
  std::string ir = jit.optimized_ir(*module);
  if (jit.has_feature("avx512f")) {
    CHECK_THAT(ir, Contains("<16 x float>"));
  } else if (jit.has_feature("avx")) {
    CHECK_THAT(ir, Contains("<8 x float>"));
  }
}

TEST_CASE("loops: runtime bounds, zero trips, and a loop in the middle of a block", "[llvm]") {
  Jit jit;
  auto tsc = Jit::new_context();
  auto& ctx = *tsc.getContext();
  auto module = jit.new_module("misc", ctx);

  // void fill(float* y, i64 begin, i64 end, i64 step): y[i] = i for i in range(begin, end, step).
  auto* fill = make_kernel(*module, "fill", {{"y", Param::F32Array}, {"begin", Param::I64}, {"end", Param::I64},
                                             {"step", Param::I64}});
  {
    Builder b(&fill->getEntryBlock());
    emit_for(b, "i", fill->getArg(1), fill->getArg(2), fill->getArg(3), [&](llvm::Value* i) {
      store_f32(b, b.CreateSIToFP(i, b.getFloatTy()), fill->getArg(0), i);
    });
    b.CreateRetVoid();
  }
  // void empty(float* y): constant bounds with begin >= end emit nothing.
  auto* empty = make_kernel(*module, "empty", {{"y", Param::F32Array, 4}});
  {
    Builder b(&empty->getEntryBlock());
    emit_for(b, "i", 4, 4, 1, [&](llvm::Value* i) { store_f32(b, f32(b, -1.0f), empty->getArg(0), i); });
    emit_for(b, "j", 7, 2, 1, [&](llvm::Value* j) { store_f32(b, f32(b, -1.0f), empty->getArg(0), j); });
    b.CreateRetVoid();
    CHECK(empty->size() == 1);  // just the entry block
  }
  // void middle(float* y): y[0] = 1; <loop y[i] = 2 for i in 1..3>; y[3] = 3 — the loop is
  // emitted between two stores that are already there.
  auto* middle = make_kernel(*module, "middle", {{"y", Param::F32Array, 4}});
  {
    Builder b(&middle->getEntryBlock());
    store_f32(b, f32(b, 1.0f), middle->getArg(0), 0);
    auto* last = store_f32(b, f32(b, 3.0f), middle->getArg(0), 3);
    b.CreateRetVoid();
    b.SetInsertPoint(last);
    emit_for(b, "i", 1, 3, 1, [&](llvm::Value* i) { store_f32(b, f32(b, 2.0f), middle->getArg(0), i); });
  }
  jit.add_module(std::move(module), tsc);

  auto* fill_fn = jit.lookup<void(float*, int64_t, int64_t, int64_t)>("fill");
  std::vector<float> y(20, -1.0f);
  fill_fn(y.data(), 5, 5, 1);  // zero trips
  fill_fn(y.data(), 7, 3, 1);  // begin > end
  for (float v : y) CHECK(v == -1.0f);
  fill_fn(y.data(), 2, 17, 3);
  for (int i = 0; i < 20; ++i) CHECK(y[static_cast<size_t>(i)] == ((i >= 2 && i < 17 && (i - 2) % 3 == 0) ? static_cast<float>(i) : -1.0f));

  alignas(64) float small[4] = {9, 9, 9, 9};
  jit.lookup<void(float*)>("empty")(small);
  for (float v : small) CHECK(v == 9.0f);
  jit.lookup<void(float*)>("middle")(small);
  CHECK(small[0] == 1.0f);
  CHECK(small[1] == 2.0f);
  CHECK(small[2] == 2.0f);
  CHECK(small[3] == 3.0f);
}

TEST_CASE("loops: generated code runs on the thread pool through resnetc_parallel_for", "[llvm][cpu]") {
  constexpr int64_t n = 100003;
  Jit jit;
  jit.define_function("resnetc_parallel_for", &resnetc_parallel_for);  // as the CPU backend does for its kernels
  auto tsc = Jit::new_context();
  auto module = jit.new_module("parallel", *tsc.getContext());
  emit_saxpy_parallel(*module, n);
  std::string ir = jit.optimized_ir(*module);
  CHECK_THAT(ir, Contains("call void @resnetc_parallel_for"));
  if (jit.has_feature("avx512f")) CHECK_THAT(ir, Contains("<16 x float>"));
  jit.add_module(std::move(module), tsc);
  auto* saxpy = jit.lookup<void(void*, float*, const float*, float)>("saxpy_parallel");

  std::vector<float> x = iota_values(n, 0.5f, 0.0f), y0 = iota_values(n, 0.25f, 1.0f);
  for (int threads : {1, 2, 4}) {
    resnetc::cpu::ThreadPool pool(resnetc::cpu::ThreadPool::Options{.num_threads = threads});
    std::vector<float> y = y0;
    saxpy(&pool, y.data(), x.data(), 3.0f);
    for (int64_t i = 0; i < n; ++i) {
      auto k = static_cast<size_t>(i);
      if (y[k] != 3.0f * x[k] + y0[k]) FAIL("threads=" << threads << " y[" << i << "] = " << y[k]);
    }
  }
  std::vector<float> y = y0;
  saxpy(nullptr, y.data(), x.data(), -1.0f);  // the global pool
  for (size_t k = 0; k < y.size(); ++k) REQUIRE(y[k] == -1.0f * x[k] + y0[k]);
}

TEST_CASE("loops: JIT start-up and compile time", "[llvm][timing]") {
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  auto t0 = clock::now();
  Jit jit;
  auto t1 = clock::now();
  auto tsc = Jit::new_context();
  auto module = jit.new_module("kernels", *tsc.getContext());
  emit_saxpy(*module);
  emit_matmul(*module);
  auto t2 = clock::now();
  jit.optimize(*module);
  auto t3 = clock::now();
  jit.add_module(std::move(module), tsc);
  auto* saxpy = jit.lookup<void(float*, const float*, float)>("saxpy");
  auto* matmul = jit.lookup<void(float*, const float*, const float*)>("matmul");
  auto t4 = clock::now();
  CHECK(saxpy != nullptr);
  CHECK(matmul != nullptr);
  std::fprintf(stderr,
               "JIT (%s): create %.1f ms, build IR %.2f ms, O3 %.1f ms, codegen+link %.1f ms; "
               "total for 2 kernels %.1f ms\n",
               jit.cpu_name().c_str(), ms(t1 - t0), ms(t2 - t1), ms(t3 - t2), ms(t4 - t3), ms(t4 - t0));
}
