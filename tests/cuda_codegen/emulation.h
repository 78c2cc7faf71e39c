#pragma once
// Runs the CUDA emitter's kernels on the host: include this header first, then the generated
// translation unit, and compile the pair as ordinary C++17 into a shared object (the tests do
// `c++ -std=c++17 -O2 -fPIC -shared -fvisibility=hidden -fno-strict-aliasing -include emulation.h kernels.cu`).
// Triton's interpreter mode does the same for its kernels.
//
// What it emulates:
// - every CUDA thread of a block is a fiber (its own stack, switched by a few instructions of
//   assembly on x86-64, ucontext elsewhere); the blocks of a grid run one after another on the
//   calling thread, the fibers of a block round-robin;
// - __syncthreads() is a real barrier: a fiber that reaches it waits until every thread of the
//   block has; reaching it after some threads of the block exited, or a deadlock, is an error;
// - warp collectives (__shfl_xor_sync, the TF32 mma.sync of the tensor-core GEMMs) exchange
//   values among the 32 lanes of a warp, each lane waiting until the whole warp has arrived;
// - __shared__ variables are function statics (one block runs at a time);
// - rc_tf32 rounds as cvt.rna.tf32.f32 does (to nearest, ties away from zero, 13 low bits
//   cleared) and rc_mma_tf32 computes mma.sync.m16n8k8.row.col.f32.tf32.tf32.f32 from the
//   documented fragment layout: products of TF32 operands are exact in float32 and are added
//   to the accumulator in k order (the tensor core's internal summation order is not
//   documented, so results may differ from the hardware's in the last bits);
// - rc_bf16x2 rounds as cvt.rn.bf16x2.f32 does (to nearest, ties to even, denormals kept, a NaN
//   the canonical 0x7fff) and rc_mma_bf16 computes mma.sync.m16n8k16.row.col.f32.bf16.bf16.f32
//   from the documented fragment layout the same way: the products of bfloat16 operands (8
//   significant bits each) are exact in float32, added to the accumulator in k order 0..15.
//
// The shared object exports
//   int resnetc_emu_launch(void (*kernel)(void* const*), const unsigned grid[3], const unsigned block[3],
//                          void* const* args, char* error, unsigned long error_size);
// (0 on success) and, per kernel NAME of the generated source, `void NAME__emu(void* const* args)`.
#include <math.h>
#include <sys/mman.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#define RESNETC_CUDA_EMULATION 1
// The shared object is compiled with -fvisibility=hidden: each one keeps its own emulator state
// and its own __shared__ statics (with default visibility, GCC would bind function statics of
// inline functions process-wide, STB_GNU_UNIQUE, across every loaded module).
#define RESNETC_EMU_EXPORT __attribute__((visibility("default")))

namespace resnetc_emu {

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};

enum class State { Ready, AtBlock, AtWarp, Done };

constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kGuardBytes = 4096;

struct Fiber {
  void* sp = nullptr;
  char* mapping = nullptr;  // guard page + stack
  State state = State::Ready;
  uint3 idx;
  unsigned linear = 0;
  unsigned warp_gen = 0;
#if !defined(__x86_64__)
  ucontext_t context;
#endif
};

// One slot per lane and parity of a warp's collective count: a lane writes its value, waits for
// the whole warp, reads the others'. Two slots suffice: a lane can only reach collective n+2
// after every lane has passed collective n+1, hence has read collective n.
struct WarpSlots {
  alignas(16) unsigned char data[2][32][48];
};

struct Emulator {
  std::vector<Fiber*> fibers;
  std::vector<WarpSlots> warps;
  Fiber* current = nullptr;
  void* scheduler_sp = nullptr;
#if !defined(__x86_64__)
  ucontext_t scheduler_context;
#endif
  uint3 block_idx;
  dim3 block_dim, grid_dim;
  void (*kernel)(void* const*) = nullptr;
  void* const* args = nullptr;
  std::string error;

  ~Emulator() {
    for (Fiber* f : fibers) {
      if (f->mapping) munmap(f->mapping, kStackBytes + kGuardBytes);
      delete f;
    }
  }
};

inline Emulator& emu() {
  static Emulator e;
  return e;
}

// ---- Context switching ----
#if defined(__x86_64__)
extern "C" void resnetc_emu_switch(void** save_sp, void* next_sp);
// Saves the callee-saved registers on the current stack, stores its pointer, loads the next
// stack pointer and pops the same registers from it. A new fiber's stack is prepared so the
// final `ret` enters fiber_entry with the stack aligned as after a call.
asm(R"(
  .text
  .p2align 4
  .type resnetc_emu_switch,@function
resnetc_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size resnetc_emu_switch, .-resnetc_emu_switch
)");
#endif

[[noreturn]] void fiber_entry();

inline void to_scheduler() {
  Emulator& e = emu();
#if defined(__x86_64__)
  resnetc_emu_switch(&e.current->sp, e.scheduler_sp);
#else
  swapcontext(&e.current->context, &e.scheduler_context);
#endif
}

inline void to_fiber(Fiber& f) {
  Emulator& e = emu();
  e.current = &f;
#if defined(__x86_64__)
  resnetc_emu_switch(&e.scheduler_sp, f.sp);
#else
  swapcontext(&e.scheduler_context, &f.context);
#endif
}

inline void fiber_start() {
  fiber_entry();
}

inline void prepare(Fiber& f) {
  if (!f.mapping) {
    void* p = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    f.mapping = static_cast<char*>(p);
    mprotect(f.mapping, kGuardBytes, PROT_NONE);  // a stack overflow faults instead of corrupting
  }
  char* top = f.mapping + kStackBytes + kGuardBytes;  // 16-byte aligned (page aligned)
#if defined(__x86_64__)
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                                // fiber_entry's return address: never used
  *--sp = reinterpret_cast<void*>(&fiber_start);  // popped by `ret`
  for (int r = 0; r < 6; ++r) *--sp = nullptr;    // rbp rbx r12 r13 r14 r15
  f.sp = sp;
#else
  getcontext(&f.context);
  f.context.uc_stack.ss_sp = f.mapping + kGuardBytes;
  f.context.uc_stack.ss_size = kStackBytes;
  f.context.uc_link = nullptr;
  makecontext(&f.context, reinterpret_cast<void (*)()>(&fiber_start), 0);
#endif
  f.state = State::Ready;
  f.warp_gen = 0;
}

[[noreturn]] inline void fiber_entry() {
  Emulator& e = emu();
  try {
    e.kernel(e.args);
  } catch (const std::exception& ex) {
    if (e.error.empty()) e.error = ex.what();
  } catch (...) {
    if (e.error.empty()) e.error = "unknown exception in a kernel";
  }
  e.current->state = State::Done;
  to_scheduler();
  __builtin_unreachable();
}

[[noreturn]] inline void fail(const std::string& what) {
  Emulator& e = emu();
  char where[160];
  std::snprintf(where, sizeof where, " (block %u,%u,%u thread %u,%u,%u)", e.block_idx.x, e.block_idx.y, e.block_idx.z,
                e.current->idx.x, e.current->idx.y, e.current->idx.z);
  throw std::runtime_error(what + where);
}

inline void sync_block() {
  emu().current->state = State::AtBlock;
  to_scheduler();
}

// Deposits `bytes` of this lane's value, waits for the whole warp, and returns the slot array
// of this collective: lane l's value is at slots[l].
inline unsigned char (*warp_exchange(const void* value, size_t bytes))[48] {
  Emulator& e = emu();
  Fiber& f = *e.current;
  WarpSlots& w = e.warps[f.linear / 32];
  const unsigned parity = f.warp_gen++ & 1u;
  std::memcpy(w.data[parity][f.linear % 32], value, bytes);
  f.state = State::AtWarp;
  to_scheduler();
  return w.data[parity];
}

inline unsigned lanes_in_warp(unsigned warp) {
  const Emulator& e = emu();
  const unsigned threads = e.block_dim.x * e.block_dim.y * e.block_dim.z;
  const unsigned first = warp * 32;
  return threads - first < 32 ? threads - first : 32;
}

template <class T>
T shfl_xor(unsigned mask, T v, int lane_mask, int width) {
  static_assert(sizeof(T) <= 48, "value too large for a warp slot");
  Emulator& e = emu();
  if (mask != 0xffffffffu || width != 32) fail("__shfl_xor_sync: only full-warp masks and width 32 are emulated");
  const unsigned lane = e.current->linear % 32;
  const unsigned src = lane ^ static_cast<unsigned>(lane_mask & 31);
  if (src >= lanes_in_warp(e.current->linear / 32)) fail("__shfl_xor_sync reads a lane the block does not have");
  unsigned char(*slots)[48] = warp_exchange(&v, sizeof(T));
  T out;
  std::memcpy(&out, slots[src], sizeof(T));
  return out;
}

inline void run_block() {
  Emulator& e = emu();
  const unsigned threads = e.block_dim.x * e.block_dim.y * e.block_dim.z;
  while (e.fibers.size() < threads) e.fibers.push_back(new Fiber);
  e.warps.resize((threads + 31) / 32);
  for (unsigned t = 0; t < threads; ++t) {
    Fiber& f = *e.fibers[t];
    prepare(f);
    f.linear = t;
    f.idx = {t % e.block_dim.x, (t / e.block_dim.x) % e.block_dim.y, t / (e.block_dim.x * e.block_dim.y)};
  }
  for (;;) {
    for (unsigned t = 0; t < threads; ++t) {
      Fiber& f = *e.fibers[t];
      if (f.state != State::Ready) continue;
      to_fiber(f);
      if (!e.error.empty()) return;
    }
    unsigned done = 0, at_block = 0;
    for (unsigned t = 0; t < threads; ++t) {
      done += e.fibers[t]->state == State::Done;
      at_block += e.fibers[t]->state == State::AtBlock;
    }
    if (done == threads) return;
    bool released = false;
    for (unsigned w = 0; w * 32 < threads; ++w) {
      const unsigned lanes = lanes_in_warp(w);
      unsigned waiting = 0, exited = 0;
      for (unsigned l = 0; l < lanes; ++l) {
        const State s = e.fibers[w * 32 + l]->state;
        waiting += s == State::AtWarp;
        exited += s == State::Done;
      }
      if (waiting == 0) continue;
      if (exited > 0) {
        e.current = e.fibers[w * 32];
        e.error = "a warp collective (__shfl_xor_sync or mma.sync) waits for lanes that have exited";
        return;
      }
      if (waiting == lanes) {
        for (unsigned l = 0; l < lanes; ++l) e.fibers[w * 32 + l]->state = State::Ready;
        released = true;
      }
    }
    if (released) continue;
    if (at_block > 0 && at_block + done == threads) {
      if (done > 0) {
        e.error = "__syncthreads() reached after some threads of the block exited";
        return;
      }
      for (unsigned t = 0; t < threads; ++t) e.fibers[t]->state = State::Ready;
      continue;
    }
    e.error = "deadlock: threads wait at __syncthreads() while others of their warp wait at a warp collective";
    return;
  }
}

inline float bits_to_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline unsigned float_to_bits(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}

}  // namespace resnetc_emu

extern "C" RESNETC_EMU_EXPORT int resnetc_emu_launch(void (*kernel)(void* const*), const unsigned* grid,
                                                     const unsigned* block, void* const* args, char* error,
                                                     unsigned long error_size) {
  using namespace resnetc_emu;
  Emulator& e = emu();
  e.kernel = kernel;
  e.args = args;
  e.error.clear();
  e.grid_dim = {grid[0], grid[1], grid[2]};
  e.block_dim = {block[0], block[1], block[2]};
  try {
    for (unsigned z = 0; z < grid[2] && e.error.empty(); ++z)
      for (unsigned y = 0; y < grid[1] && e.error.empty(); ++y)
        for (unsigned x = 0; x < grid[0] && e.error.empty(); ++x) {
          e.block_idx = {x, y, z};
          run_block();
          if (!e.error.empty()) {
            char where[96];
            std::snprintf(where, sizeof where, " [block %u,%u,%u]", x, y, z);
            e.error += where;
          }
        }
  } catch (const std::exception& ex) {
    e.error = ex.what();
  }
  if (e.error.empty()) return 0;
  std::snprintf(error, error_size, "%s", e.error.c_str());
  return 1;
}

// ---- The CUDA dialect the generated source uses ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

#define threadIdx (::resnetc_emu::emu().current->idx)
#define blockIdx (::resnetc_emu::emu().block_idx)
#define blockDim (::resnetc_emu::emu().block_dim)
#define gridDim (::resnetc_emu::emu().grid_dim)

struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) {
  return {x, y, z, w};
}
// Four bf16 activations as one 8-byte access.
struct alignas(8) uint2 {
  unsigned x, y;
};
inline uint2 make_uint2(unsigned x, unsigned y) {
  return {x, y};
}

inline void __syncthreads() {
  resnetc_emu::sync_block();
}
inline float __shfl_xor_sync(unsigned mask, float v, int lane_mask, int width = 32) {
  return resnetc_emu::shfl_xor(mask, v, lane_mask, width);
}
inline double __shfl_xor_sync(unsigned mask, double v, int lane_mask, int width = 32) {
  return resnetc_emu::shfl_xor(mask, v, lane_mask, width);
}
inline int __shfl_xor_sync(unsigned mask, int v, int lane_mask, int width = 32) {
  return resnetc_emu::shfl_xor(mask, v, lane_mask, width);
}
inline unsigned __shfl_xor_sync(unsigned mask, unsigned v, int lane_mask, int width = 32) {
  return resnetc_emu::shfl_xor(mask, v, lane_mask, width);
}
inline unsigned __float_as_uint(float f) {
  return resnetc_emu::float_to_bits(f);
}
inline float __uint_as_float(unsigned u) {
  return resnetc_emu::bits_to_float(u);
}
inline float __int_as_float(int i) {
  return resnetc_emu::bits_to_float(static_cast<unsigned>(i));
}

// The correctly rounded double operations (round to nearest even) that the device never fuses
// into an FMA: the host's operators, as the emulated module is compiled without contraction
// (-O0, no FMA target).
inline double __dadd_rn(double a, double b) {
  return a + b;
}
inline double __dsub_rn(double a, double b) {
  return a - b;
}
inline double __dmul_rn(double a, double b) {
  return a * b;
}
inline double __ddiv_rn(double a, double b) {
  return a / b;
}

// cvt.rna.tf32.f32: round to the nearest TF32 (10 mantissa bits), ties away from zero.
inline float rc_tf32(float x) {
  unsigned u = resnetc_emu::float_to_bits(x);
  if ((u & 0x7f800000u) != 0x7f800000u) u += 0x1000u;  // half a TF32 ulp, on the magnitude
  return resnetc_emu::bits_to_float(u & 0xffffe000u);
}

// Every lane's mma.sync registers (a0..a3, b0, b1), by lane: what the tensor core reads.
struct MmaFragment {
  unsigned a[4], b[2];
};
inline void mma_warp_fragments(MmaFragment (&all)[32], unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
                               unsigned b1) {
  const MmaFragment mine{{a0, a1, a2, a3}, {b0, b1}};
  unsigned char(*slots)[48] = resnetc_emu::warp_exchange(&mine, sizeof mine);
  for (int l = 0; l < 32; ++l) std::memcpy(&all[l], slots[l], sizeof(MmaFragment));
}

// This lane's D elements of an m16n8kK product, D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1]
// (g = lane / 4, t = lane % 4), each its products added in k order, each addition rounded to
// float32.
template <typename ElementA, typename ElementB>
void mma_accumulate(float& d0, float& d1, float& d2, float& d3, int K, const ElementA& A, const ElementB& B) {
  const int lane = static_cast<int>(resnetc_emu::emu().current->linear % 32);
  const int g = lane / 4, t = lane % 4;
  float* d[4] = {&d0, &d1, &d2, &d3};
  for (int q = 0; q < 4; ++q) {
    const int row = g + (q >= 2 ? 8 : 0), col = 2 * t + (q % 2);
    float sum = *d[q];
    for (int k = 0; k < K; ++k) sum += A(row, k) * B(k, col);
    *d[q] = sum;
  }
}

// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32, one warp: with g = lane / 4, t = lane % 4,
// lane holds A[g][t], A[g+8][t], A[g][t+4], A[g+8][t+4]; B[t][g], B[t+4][g]; and
// D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1]. The tensor core reads only the TF32 bits.
inline void rc_mma_tf32(float& d0, float& d1, float& d2, float& d3, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                        unsigned b0, unsigned b1) {
  MmaFragment all[32];
  mma_warp_fragments(all, a0, a1, a2, a3, b0, b1);
  auto tf32 = [](unsigned u) { return resnetc_emu::bits_to_float(u & 0xffffe000u); };
  auto A = [&](int r, int k) { return tf32(all[(r % 8) * 4 + k % 4].a[(r >= 8 ? 1 : 0) + (k >= 4 ? 2 : 0)]); };
  auto B = [&](int k, int n) { return tf32(all[n * 4 + k % 4].b[k >= 4 ? 1 : 0]); };
  mma_accumulate(d0, d1, d2, d3, 8, A, B);
}

// cvt.rn.bf16x2.f32: each float rounded to the nearest bfloat16, ties to even (as
// __float2bfloat16_rn); lo in the low 16 bits of the result, hi in the high.
inline unsigned rc_bf16(float x) {
  const unsigned u = resnetc_emu::float_to_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;  // NaN: PTX's canonical NaN
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}
inline unsigned rc_bf16x2(float lo, float hi) {
  return rc_bf16(lo) | rc_bf16(hi) << 16;
}

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, one warp: each register two bfloat16
// of consecutive k, the lower k in the low half. With g = lane / 4, t = lane % 4, lane holds
// A[g][2t, 2t+1], A[g+8][2t, 2t+1], A[g][2t+8, 2t+9], A[g+8][2t+8, 2t+9]; B[2t, 2t+1][g],
// B[2t+8, 2t+9][g]; and D as for m16n8k8.
inline void rc_mma_bf16(float& d0, float& d1, float& d2, float& d3, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                        unsigned b0, unsigned b1) {
  MmaFragment all[32];
  mma_warp_fragments(all, a0, a1, a2, a3, b0, b1);
  auto half = [](unsigned u, int k) { return resnetc_emu::bits_to_float(k % 2 ? u & 0xffff0000u : u << 16); };
  auto A = [&](int r, int k) {
    return half(all[(r % 8) * 4 + (k % 8) / 2].a[(r >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0)], k);
  };
  auto B = [&](int k, int n) { return half(all[n * 4 + (k % 8) / 2].b[k >= 8 ? 1 : 0], k); };
  mma_accumulate(d0, d1, d2, d3, 16, A, B);
}
