// Bilinear image resize that reproduces torchvision's Resize + ToTensor on a PIL "L" image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace resnetc::data {

// The largest image side, in and out, a Resizer takes.
inline constexpr int64_t kMaxImageSide = 32768;

// Resizes uint8 in_height x in_width images to float out_height x out_width images in
// [0,1], bit-for-bit like PIL's Image.resize(BILINEAR) followed by a division by 255.
// PIL resamples separably (horizontal pass, then vertical), widens the triangle filter's
// support by the scale factor when shrinking (antialiasing), uses 22-bit fixed-point
// weights and rounds each pass back to uint8. An axis whose size is unchanged is skipped,
// as in PIL, so equal sizes just divide by 255. The filter tables are built once here.
class Resizer {
 public:
  // Throws std::invalid_argument unless every size is in 1..kMaxImageSide.
  Resizer(int64_t in_height, int64_t in_width, int64_t out_height, int64_t out_width);

  int64_t in_height() const { return rows_.in_size; }
  int64_t in_width() const { return cols_.in_size; }
  int64_t out_height() const { return rows_.out_size; }
  int64_t out_width() const { return cols_.out_size; }
  // Bytes of intermediate storage resize() needs; reuse one buffer across images.
  size_t scratch_size() const;

  // in: in_height*in_width pixels; out: out_height*out_width values; scratch: at least
  // scratch_size() bytes. Throws std::invalid_argument on a size mismatch.
  void resize(std::span<const uint8_t> in, std::span<float> out, std::span<uint8_t> scratch) const;
  // The same resize without ToTensor's division: uint8 pixels, as PIL's Image.resize returns
  // them (an image decoded from a file is resized once, on load, to the size it is stored at).
  void resize(std::span<const uint8_t> in, std::span<uint8_t> out, std::span<uint8_t> scratch) const;

  // One axis's filter, for resizing elsewhere (the GPU: backends/cuda/batch_kernels.h):
  // output i = clamp((2^21 + sum over t < taps of in[first[i] + t] * weights[i * taps + t]) >> 22,
  // 0, 255). An unchanged axis gives the identity (1 tap of weight 2^22): what skipping it does.
  struct Filter {
    int taps = 1;
    std::vector<int> first;
    std::vector<int32_t> weights;
  };
  Filter row_filter() const { return filter_of(rows_); }
  Filter col_filter() const { return filter_of(cols_); }

 private:
  // The filter for one axis: output position i is the sum over t < taps of
  // input[first[i] + t] * weights[i * taps + t], in 22-bit fixed point. Every position
  // has the same number of taps (zero-padded) so the inner loops have a fixed length.
  struct Axis {
    int in_size = 0, out_size = 0, taps = 0;
    std::vector<int> first;
    std::vector<int32_t> weights;
    bool identity() const { return in_size == out_size; }
  };
  static Axis make_axis(int64_t in_size, int64_t out_size);
  static Filter filter_of(const Axis& axis);

  void horizontal(const uint8_t* in, uint8_t* out) const;
  template <class Pixel>
  void vertical(const uint8_t* in, Pixel* out) const;
  template <class Pixel>
  void resize_into(std::span<const uint8_t> in, std::span<Pixel> out, std::span<uint8_t> scratch) const;

  Axis rows_, cols_;
};

}  // namespace resnetc::data
