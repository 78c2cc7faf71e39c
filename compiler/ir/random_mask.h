#pragma once
// The masks of dropout_mask and droppath_mask (ops.def): whether element (or sample) `index`
// is kept is a pure function of the run's seed, the training step, the layer's salt and the
// index, through a counter-based hash. Nothing is stored: a backward pass and a resumed run
// draw the same masks again, and every backend (the reference executor, the LLVM and the
// CUDA renderers) computes these same 32-bit integer operations, so all agree bit for bit.
//
//   key  = mix(seed ^ mix(step ^ mix(salt)))            once per kernel
//   bits = mix(mix(key ^ lo32(index)) ^ hi32(index))   per element (or sample)
//   keep = (bits >> 8) >= threshold,  threshold = round(rate * 2^24)
//   y    = keep ? x * scale : 0,      scale = float(1 / (1 - rate))
//
// mix is a 32-bit finalizer of the xorshift-multiply kind (constants from Chris Wellons'
// "hash prospector", whose output bits each depend on every input bit).
#include <cmath>
#include <cstdint>
#include <string_view>

#include "compiler/ir/graph.h"

namespace resnetc::ir::random_mask {

inline constexpr uint32_t kMul1 = 0x7feb352du, kMul2 = 0x846ca68bu;

constexpr uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= kMul1;
  x ^= x >> 15;
  x *= kMul2;
  x ^= x >> 16;
  return x;
}

constexpr uint32_t key(uint32_t seed, uint32_t step, uint32_t salt) { return mix(seed ^ mix(step ^ mix(salt))); }

constexpr uint32_t bits(uint32_t key, uint64_t index) {
  return mix(mix(key ^ static_cast<uint32_t>(index)) ^ static_cast<uint32_t>(index >> 32));
}

// Drop when the top 24 bits are below the threshold: the keep rate is 1 - threshold / 2^24.
inline uint32_t threshold(double rate) { return static_cast<uint32_t>(std::llround(rate * 16777216.0)); }
constexpr bool keeps(uint32_t bits, uint32_t threshold) { return (bits >> 8) >= threshold; }
inline float scale(double rate) { return static_cast<float>(1.0 / (1.0 - rate)); }

// A layer's salt: FNV-1a of its name, so two dropout layers draw different masks and the same
// layer draws the same mask in every run.
constexpr uint32_t salt(std::string_view name) {
  uint32_t h = 2166136261u;
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return h;
}

// The rng input's two words for a run's seed and a global step (epoch * steps + step).
constexpr uint32_t seed_word(uint64_t seed) { return static_cast<uint32_t>(seed ^ (seed >> 32)); }

// The mask op `kind` (dropout_mask or droppath_mask; x, rng) as the fused map every backend and
// the reference run: {load(0); mask_key(1, salt); keep(r0, r1, rate)}, keep_sample per sample.
FusedProgram mask_program(OpKind kind, const Attrs& a);

}  // namespace resnetc::ir::random_mask
