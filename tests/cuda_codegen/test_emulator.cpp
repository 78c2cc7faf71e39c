// The CUDA emulator itself (tests/cuda_codegen/emulation.h), on small hand-written kernels:
// __syncthreads is a real barrier and misuse is reported, warp shuffles and the TF32 mma.sync
// follow the documented lane layouts, cvt.rna.tf32 rounds ties away from zero; the bf16
// mma.sync (m16n8k16) follows its layout, cvt.rn.bf16x2 rounds ties to even.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tests/cuda_codegen/emulated_plan.h"

using resnetc::testing::EmulatedModule;

namespace {

constexpr const char* kKernels = R"(
// Reverses 256 values through shared memory: correct only if every thread's store is visible
// to every other thread after the barrier; then a second pass in place, across a second barrier.
extern "C" __global__ void __launch_bounds__(256, 1) reverse(float* __restrict__ y, const float* __restrict__ x) {
  __shared__ float s[256];
  const int t = threadIdx.x;
  s[t] = x[blockIdx.x * 256 + t];
  __syncthreads();
  const float v = s[255 - t];
  __syncthreads();
  s[t] = v * 2.0f;
  __syncthreads();
  y[blockIdx.x * 256 + t] = s[(t + 1) % 256];
}

// Thread 0 leaves before the barrier the others reach.
extern "C" __global__ void __launch_bounds__(64, 1) early_exit(float* __restrict__ y) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  y[threadIdx.x] = 1.0f;
}

// Half a warp shuffles while the other half waits at the block barrier.
extern "C" __global__ void __launch_bounds__(32, 1) half_warp(float* __restrict__ y) {
  float v = threadIdx.x;
  if (threadIdx.x < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
  __syncthreads();
  y[threadIdx.x] = v;
}

// Butterfly sums across each warp, in float, double and int, and a rotation by xor.
extern "C" __global__ void __launch_bounds__(64, 1) shuffles(float* __restrict__ y, const float* __restrict__ x) {
  const int t = threadIdx.x;
  float f = x[t];
  double d = x[t];
  int i = t;
  for (int o = 16; o > 0; o /= 2) {
    f += __shfl_xor_sync(0xffffffffu, f, o);
    d += __shfl_xor_sync(0xffffffffu, d, o);
    i += __shfl_xor_sync(0xffffffffu, i, o);
  }
  y[t] = f;
  y[64 + t] = (float)d;
  y[128 + t] = (float)i;
  y[192 + t] = __shfl_xor_sync(0xffffffffu, x[t], 5);
}

// One m16n8k8 TF32 mma per warp: A [16][8] and B [8][8] row-major in memory, D = C + A B.
extern "C" __global__ void __launch_bounds__(32, 1) mma(float* __restrict__ d, const float* __restrict__ a,
                                                       const float* __restrict__ b, const float* __restrict__ c) {
  const int lane = threadIdx.x, g = lane / 4, t = lane % 4;
  float d0 = c[g * 8 + 2 * t], d1 = c[g * 8 + 2 * t + 1], d2 = c[(g + 8) * 8 + 2 * t], d3 = c[(g + 8) * 8 + 2 * t + 1];
  rc_mma_tf32(d0, d1, d2, d3, __float_as_uint(rc_tf32(a[g * 8 + t])), __float_as_uint(rc_tf32(a[(g + 8) * 8 + t])),
              __float_as_uint(rc_tf32(a[g * 8 + t + 4])), __float_as_uint(rc_tf32(a[(g + 8) * 8 + t + 4])),
              __float_as_uint(rc_tf32(b[t * 8 + g])), __float_as_uint(rc_tf32(b[(t + 4) * 8 + g])));
  d[g * 8 + 2 * t] = d0;
  d[g * 8 + 2 * t + 1] = d1;
  d[(g + 8) * 8 + 2 * t] = d2;
  d[(g + 8) * 8 + 2 * t + 1] = d3;
}

extern "C" __global__ void __launch_bounds__(32, 1) round_tf32(float* __restrict__ y, const float* __restrict__ x) {
  y[threadIdx.x] = rc_tf32(x[threadIdx.x]);
}

// One m16n8k16 bf16 mma per warp: A [16][16] and B [16][8] row-major in memory, D = C + A B.
extern "C" __global__ void __launch_bounds__(32, 1) mma_bf16(float* __restrict__ d, const float* __restrict__ a,
                                                            const float* __restrict__ b, const float* __restrict__ c) {
  const int lane = threadIdx.x, g = lane / 4, t = lane % 4;
  float d0 = c[g * 8 + 2 * t], d1 = c[g * 8 + 2 * t + 1], d2 = c[(g + 8) * 8 + 2 * t], d3 = c[(g + 8) * 8 + 2 * t + 1];
  rc_mma_bf16(d0, d1, d2, d3, rc_bf16x2(a[g * 16 + 2 * t], a[g * 16 + 2 * t + 1]),
              rc_bf16x2(a[(g + 8) * 16 + 2 * t], a[(g + 8) * 16 + 2 * t + 1]),
              rc_bf16x2(a[g * 16 + 2 * t + 8], a[g * 16 + 2 * t + 9]),
              rc_bf16x2(a[(g + 8) * 16 + 2 * t + 8], a[(g + 8) * 16 + 2 * t + 9]),
              rc_bf16x2(b[2 * t * 8 + g], b[(2 * t + 1) * 8 + g]), rc_bf16x2(b[(2 * t + 8) * 8 + g], b[(2 * t + 9) * 8 + g]));
  d[g * 8 + 2 * t] = d0;
  d[g * 8 + 2 * t + 1] = d1;
  d[(g + 8) * 8 + 2 * t] = d2;
  d[(g + 8) * 8 + 2 * t + 1] = d3;
}

// y[t] holds x[2t] (low half) and x[2t + 1] (high half) as bfloat16.
extern "C" __global__ void __launch_bounds__(16, 1) round_bf16(float* __restrict__ y, const float* __restrict__ x) {
  y[threadIdx.x] = __uint_as_float(rc_bf16x2(x[2 * threadIdx.x], x[2 * threadIdx.x + 1]));
}

extern "C" RESNETC_EMU_EXPORT void reverse__emu(void* const* a) { reverse((float*)a[0], (const float*)a[1]); }
extern "C" RESNETC_EMU_EXPORT void early_exit__emu(void* const* a) { early_exit((float*)a[0]); }
extern "C" RESNETC_EMU_EXPORT void half_warp__emu(void* const* a) { half_warp((float*)a[0]); }
extern "C" RESNETC_EMU_EXPORT void shuffles__emu(void* const* a) { shuffles((float*)a[0], (const float*)a[1]); }
extern "C" RESNETC_EMU_EXPORT void mma__emu(void* const* a) {
  mma((float*)a[0], (const float*)a[1], (const float*)a[2], (const float*)a[3]);
}
extern "C" RESNETC_EMU_EXPORT void round_tf32__emu(void* const* a) { round_tf32((float*)a[0], (const float*)a[1]); }
extern "C" RESNETC_EMU_EXPORT void mma_bf16__emu(void* const* a) {
  mma_bf16((float*)a[0], (const float*)a[1], (const float*)a[2], (const float*)a[3]);
}
extern "C" RESNETC_EMU_EXPORT void round_bf16__emu(void* const* a) { round_bf16((float*)a[0], (const float*)a[1]); }
)";

const EmulatedModule& module() {
  static EmulatedModule m(kKernels);
  return m;
}

void launch(const char* name, unsigned blocks, unsigned threads, std::vector<void*> args) {
  const unsigned grid[3] = {blocks, 1, 1}, block[3] = {threads, 1, 1};
  module().launch(name, grid, block, args.data());
}

float tf32(float x) {  // the reference rounding, written independently: nearest, ties away
  if (!std::isfinite(x) || x == 0) return x;
  int e;
  const double m = std::frexp(static_cast<double>(x), &e);  // |m| in [0.5, 1): 11 significant bits
  const double scaled = std::ldexp(m, 11);
  const double r = scaled < 0 ? -std::floor(-scaled + 0.5) : std::floor(scaled + 0.5);
  return static_cast<float>(std::ldexp(r, e - 11));
}

float bf16(float x) {  // the reference rounding, written independently: nearest, ties to even (normal x)
  if (!std::isfinite(x) || x == 0) return x;
  int e;
  const double m = std::frexp(static_cast<double>(x), &e);  // |m| in [0.5, 1): 8 significant bits
  return static_cast<float>(std::ldexp(std::nearbyint(std::ldexp(m, 8)), e - 8));
}

}  // namespace

TEST_CASE("the emulator's __syncthreads is a barrier over the whole block", "[cuda][emulation][emulator]") {
  std::vector<float> x(3 * 256), y(3 * 256, NAN);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  launch("reverse", 3, 256, {y.data(), x.data()});
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < 256; ++t)
      REQUIRE(y[static_cast<size_t>(b * 256 + t)] == 2.0f * x[static_cast<size_t>(b * 256 + 255 - (t + 1) % 256)]);
}

TEST_CASE("the emulator reports a barrier some threads skip, and a half-warp collective",
          "[cuda][emulation][emulator]") {
  std::vector<float> y(64);
  CHECK_THROWS_WITH(launch("early_exit", 1, 64, {y.data()}),
                    Catch::Contains("__syncthreads() reached after some threads"));
  CHECK_THROWS_WITH(launch("half_warp", 1, 32, {y.data()}), Catch::Contains("deadlock"));
}

TEST_CASE("the emulator's warp shuffles exchange within each warp", "[cuda][emulation][emulator]") {
  std::vector<float> x(64), y(256, NAN);
  for (size_t i = 0; i < 64; ++i) x[i] = 0.25f * static_cast<float>(i * i % 37);
  launch("shuffles", 1, 64, {y.data(), x.data()});
  for (int w = 0; w < 2; ++w) {
    float sum = 0;
    int isum = 0;
    for (int l = 0; l < 32; ++l) sum += x[static_cast<size_t>(w * 32 + l)], isum += w * 32 + l;
    for (int l = 0; l < 32; ++l) {
      const size_t t = static_cast<size_t>(w * 32 + l);
      CHECK(y[t] == sum);  // exact: quarter-integers
      CHECK(y[64 + t] == sum);
      CHECK(y[128 + t] == static_cast<float>(isum));
      CHECK(y[192 + t] == x[static_cast<size_t>(w * 32 + (l ^ 5))]);
    }
  }
}

TEST_CASE("the emulated TF32 mma.sync computes C + A B with the documented fragment layout",
          "[cuda][emulation][emulator]") {
  std::vector<float> a(16 * 8), b(8 * 8), c(16 * 8), d(16 * 8, NAN);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i) * 0.7f) * 3.0f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(static_cast<float>(i) * 1.3f);
  for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<float>(i % 5) - 2.0f;
  launch("mma", 1, 32, {d.data(), a.data(), b.data(), c.data()});
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n) {
      double want = c[static_cast<size_t>(r * 8 + n)];
      for (int k = 0; k < 8; ++k)
        want += static_cast<double>(tf32(a[static_cast<size_t>(r * 8 + k)])) * tf32(b[static_cast<size_t>(k * 8 + n)]);
      INFO("row " << r << " column " << n);
      CHECK(d[static_cast<size_t>(r * 8 + n)] == Approx(want).epsilon(1e-6).margin(1e-6));
    }
}

TEST_CASE("the emulated cvt.rna.tf32.f32 rounds to nearest, ties away from zero", "[cuda][emulation][emulator]") {
  std::vector<float> x(32), y(32);
  const float tie = 1.0f + std::ldexp(1.0f, -11);  // halfway between two TF32 values
  const float values[] = {1.0f,
                          tie,
                          -tie,
                          std::nextafter(tie, 2.0f),
                          std::nextafter(tie, 0.0f),
                          3.14159265f,
                          -2.7182818f,
                          1e-30f,
                          6.5e4f,
                          0.0f,
                          -0.0f,
                          INFINITY};
  for (size_t i = 0; i < 32; ++i)
    x[i] = values[i % std::size(values)] * (i < 12 ? 1.0f : 1.0f + static_cast<float>(i) / 64);
  launch("round_tf32", 1, 32, {y.data(), x.data()});
  CHECK(y[1] == 1.0f + std::ldexp(1.0f, -10));
  CHECK(y[2] == -(1.0f + std::ldexp(1.0f, -10)));
  CHECK(y[4] == 1.0f);
  for (size_t i = 0; i < 32; ++i) {
    INFO(x[i]);
    CHECK(y[i] == tf32(x[i]));
  }
}

TEST_CASE("the emulated bf16 mma.sync computes C + A B with the documented fragment layout",
          "[cuda][emulation][emulator]") {
  std::vector<float> a(16 * 16), b(16 * 8), c(16 * 8), d(16 * 8, NAN);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i) * 0.7f) * 3.0f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(static_cast<float>(i) * 1.3f);
  for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<float>(i % 5) - 2.0f;
  launch("mma_bf16", 1, 32, {d.data(), a.data(), b.data(), c.data()});
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n) {
      double want = c[static_cast<size_t>(r * 8 + n)];
      for (int k = 0; k < 16; ++k)
        want += static_cast<double>(bf16(a[static_cast<size_t>(r * 16 + k)])) * bf16(b[static_cast<size_t>(k * 8 + n)]);
      INFO("row " << r << " column " << n);
      CHECK(d[static_cast<size_t>(r * 8 + n)] == Approx(want).epsilon(1e-6).margin(1e-6));
    }
}

TEST_CASE("the emulated cvt.rn.bf16x2.f32 rounds to nearest, ties to even, and packs low then high",
          "[cuda][emulation][emulator]") {
  const float up = 1.0f + 3 * std::ldexp(1.0f, -8);  // halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up
  const float down = 1.0f + std::ldexp(1.0f, -8);    // halfway between 1 (even) and 1 + 2^-7: down
  const float values[] = {1.0f, up, -up, down, -down, std::nextafter(down, 2.0f), 3.14159265f, -2.7182818f,
                          1e-30f, 3e38f, 0.0f, -0.0f, INFINITY, -INFINITY, 65504.0f, 1.0f / 3};
  std::vector<float> x(32), y(16);
  for (size_t i = 0; i < 32; ++i) x[i] = values[i % 16] * (i < 16 ? 1.0f : 1.0f + static_cast<float>(i) / 64);
  launch("round_bf16", 1, 16, {y.data(), x.data()});
  auto half = [&](size_t i) {  // element i of x as the kernel rounded it
    uint32_t u;
    std::memcpy(&u, &y[i / 2], 4);
    u = i % 2 ? u & 0xffff0000u : u << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  CHECK(half(1) == 1.0f + std::ldexp(1.0f, -6));
  CHECK(half(2) == -(1.0f + std::ldexp(1.0f, -6)));
  CHECK(half(3) == 1.0f);
  CHECK(half(5) == 1.0f + std::ldexp(1.0f, -7));
  for (size_t i = 0; i < 32; ++i) {
    INFO(x[i]);
    CHECK(half(i) == bf16(x[i]));
  }
}
