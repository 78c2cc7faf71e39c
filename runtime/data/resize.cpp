#include "runtime/data/resize.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>

namespace resnetc::data {
namespace {

// PIL keeps 8 bits for the pixel and 2 for overshoot in an int32: weights have 22 bits.
constexpr int kPrecisionBits = 22;
constexpr int32_t kHalf = int32_t{1} << (kPrecisionBits - 1);

double triangle(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

uint8_t clip8(int32_t acc) {
  return static_cast<uint8_t>(std::clamp(acc >> kPrecisionBits, 0, 255));
}

// ToTensor's conversion, a float32 division (a division, not a multiply by 1/255, so the
// values agree exactly).
float to_unit(uint8_t v) {
  return static_cast<float>(v) / 255.0f;
}

// A resized pixel as the caller stores it: in [0,1] for training, as a byte for storage.
template <class Pixel>
Pixel stored(uint8_t v) {
  if constexpr (std::is_same_v<Pixel, float>) return to_unit(v);
  else return v;
}

}  // namespace

// Mirrors PIL's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter,
// including its operation order, so the double weights and their rounding agree exactly.
// Each double operation is rounded on its own (this file is compiled with -ffp-contract=off):
// the GPU's view kernels repeat them, in this order, with __dadd_rn, __dsub_rn, __dmul_rn and
// __ddiv_rn and get the same weights (backends/cuda/view_kernels.h).
Resizer::Axis Resizer::make_axis(int64_t in_size, int64_t out_size) {
  if (in_size < 1 || in_size > kMaxImageSide || out_size < 1 || out_size > kMaxImageSide) {
    throw std::invalid_argument(
        fmt::format("Resizer: sizes must be in 1..{}, got {} -> {}", kMaxImageSide, in_size, out_size));
  }
  Axis axis;
  axis.in_size = static_cast<int>(in_size);
  axis.out_size = static_cast<int>(out_size);
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filterscale = std::max(scale, 1.0);  // shrinking widens the support
  const double support = 1.0 * filterscale;         // the triangle's own support is 1
  // PIL's window for output i is [lo, hi): its ends are rounded by truncating x + 0.5,
  // then clamped to the image.
  std::vector<int> lo(static_cast<size_t>(out_size)), hi(lo.size());
  for (int i = 0; i < axis.out_size; ++i) {
    const double center = (i + 0.5) * scale;
    lo[i] = std::max(static_cast<int>(center - support + 0.5), 0);
    hi[i] = std::min(static_cast<int>(center + support + 0.5), axis.in_size);
    axis.taps = std::max(axis.taps, hi[i] - lo[i]);
  }
  axis.first.resize(static_cast<size_t>(out_size));
  axis.weights.assign(static_cast<size_t>(out_size * axis.taps), 0);

  std::vector<double> w(static_cast<size_t>(axis.taps));
  for (int i = 0; i < axis.out_size; ++i) {
    const double center = (i + 0.5) * scale;
    const int n = hi[i] - lo[i];
    double total = 0.0;
    for (int t = 0; t < n; ++t) {
      w[t] = triangle((t + lo[i] - center + 0.5) * (1.0 / filterscale));
      total += w[t];
    }
    // Slide a short window left at the right edge so all `taps` reads stay in the image;
    // the extra leading taps get weight 0.
    const int start = std::min(lo[i], axis.in_size - axis.taps);
    int32_t* fixed = &axis.weights[static_cast<size_t>(i * axis.taps + (lo[i] - start))];
    for (int t = 0; t < n; ++t) {
      // Triangle weights are never negative, so PIL's rounding is +0.5 and truncate.
      fixed[t] = static_cast<int32_t>(0.5 + w[t] / total * (1 << kPrecisionBits));
    }
    axis.first[static_cast<size_t>(i)] = start;
  }
  return axis;
}

Resizer::Resizer(int64_t in_height, int64_t in_width, int64_t out_height, int64_t out_width)
    : rows_(make_axis(in_height, out_height)), cols_(make_axis(in_width, out_width)) {}

size_t Resizer::scratch_size() const {
  return cols_.identity() ? 0 : static_cast<size_t>(rows_.in_size) * static_cast<size_t>(cols_.out_size);
}

// in: in_height x in_width; out: in_height x out_width.
void Resizer::horizontal(const uint8_t* in, uint8_t* out) const {
  const int taps = cols_.taps;
  for (int y = 0; y < rows_.in_size; ++y) {
    const uint8_t* row = in + static_cast<ptrdiff_t>(y) * cols_.in_size;
    for (int x = 0; x < cols_.out_size; ++x) {
      const uint8_t* src = row + cols_.first[x];
      const int32_t* k = &cols_.weights[static_cast<size_t>(x * taps)];
      int32_t acc = kHalf;
      for (int t = 0; t < taps; ++t) acc += src[t] * k[t];
      *out++ = clip8(acc);
    }
  }
}

// in: in_height x out_width (after the horizontal pass, or the input if it was skipped);
// out: out_height x out_width, stored as Pixel. Each output row is accumulated tap by
// tap over a block of columns, so the inner loop is contiguous and vectorises; integer
// sums are exact, so the order does not change the result.
template <class Pixel>
void Resizer::vertical(const uint8_t* in, Pixel* out) const {
  constexpr ptrdiff_t kBlock = 128;
  const ptrdiff_t width = cols_.out_size;
  std::array<int32_t, kBlock> acc;
  for (int y = 0; y < rows_.out_size; ++y) {
    const uint8_t* src = in + rows_.first[y] * width;
    const int32_t* k = &rows_.weights[static_cast<size_t>(y * rows_.taps)];
    for (ptrdiff_t x0 = 0; x0 < width; x0 += kBlock) {
      const ptrdiff_t len = std::min(kBlock, width - x0);
      std::fill_n(acc.begin(), len, kHalf);
      for (int t = 0; t < rows_.taps; ++t) {
        const uint8_t* row = src + t * width + x0;
        for (ptrdiff_t x = 0; x < len; ++x) acc[x] += row[x] * k[t];
      }
      for (ptrdiff_t x = 0; x < len; ++x) *out++ = stored<Pixel>(clip8(acc[x]));
    }
  }
}

Resizer::Filter Resizer::filter_of(const Axis& axis) {
  if (!axis.identity()) return {axis.taps, axis.first, axis.weights};
  Filter f{1, std::vector<int>(static_cast<size_t>(axis.out_size)),
           std::vector<int32_t>(static_cast<size_t>(axis.out_size), int32_t{1} << kPrecisionBits)};
  for (int i = 0; i < axis.out_size; ++i) f.first[static_cast<size_t>(i)] = i;
  return f;
}

template <class Pixel>
void Resizer::resize_into(std::span<const uint8_t> in, std::span<Pixel> out, std::span<uint8_t> scratch) const {
  const auto in_pixels = static_cast<size_t>(rows_.in_size) * static_cast<size_t>(cols_.in_size);
  const auto out_pixels = static_cast<size_t>(rows_.out_size) * static_cast<size_t>(cols_.out_size);
  if (in.size() != in_pixels || out.size() != out_pixels || scratch.size() < scratch_size()) {
    throw std::invalid_argument(fmt::format(
        "Resizer::resize: expected {} input pixels, {} outputs and {} scratch bytes; got {}, {} and {}",
        in_pixels, out_pixels, scratch_size(), in.size(), out.size(), scratch.size()));
  }
  const uint8_t* rows = in.data();
  if (!cols_.identity()) {
    horizontal(in.data(), scratch.data());
    rows = scratch.data();
  }
  if (!rows_.identity()) {
    vertical(rows, out.data());
  } else {
    std::transform(rows, rows + out_pixels, out.begin(), stored<Pixel>);
  }
}

void Resizer::resize(std::span<const uint8_t> in, std::span<float> out, std::span<uint8_t> scratch) const {
  resize_into(in, out, scratch);
}

void Resizer::resize(std::span<const uint8_t> in, std::span<uint8_t> out, std::span<uint8_t> scratch) const {
  resize_into(in, out, scratch);
}

}  // namespace resnetc::data
