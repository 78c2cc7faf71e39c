// Augmented images: the part of each stored image an example is made of (a view), drawn from
// (seed, epoch, image index) alone, and batches assembled through views. docs/data.md,
// "Augmentation", writes the rules down; the GPU assembles the same batches from the same views
// (backends/cuda/view_kernels.h).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "runtime/data/augment_spec.h"
#include "runtime/data/dataset.h"
#include "runtime/data/normalize.h"

namespace resnetc::data {

// Rows top .. top+height-1 and columns left .. left+width-1 of a stored image (outside it: zeros,
// the padding), resized to the network's input (PIL's bilinear filter), then mirrored left to
// right when `flip`.
struct View {
  int32_t top = 0, left = 0, height = 0, width = 0;
  bool flip = false;
  bool operator==(const View&) const = default;
};

// The counter-based draws every random choice is made of: word k of image `index` in epoch
// `epoch` of the run seeded `seed`, a SplitMix64 hash of the four (a stream apart from the
// shuffle's, data::order_stream).
uint64_t augment_word(uint64_t seed, int epoch, uint32_t index, uint32_t k);
// A whole number in [0, n) from a word: its high bits scaled, (word * n) >> 64.
int64_t below(uint64_t word, int64_t n);
// A double in [0, 1) from a word's 53 high bits.
double unit(uint64_t word);

// torchvision's RandomResizedCrop.get_params for an image of height x width, unflipped: up to
// 10 tries, try t drawing the area fraction, the log aspect ratio, the top and the left from
// augment_word k = 4t+1 .. 4t+4; then its fallback, the center crop of the ratio's nearest bound.
View random_resized_view(const RandomResizedCrop& crop, int64_t height, int64_t width, uint64_t seed, int epoch,
                         uint32_t index);

// What one split's batches see of its images (height x width): training's random views or
// evaluation's center crop, each then resized to the network's input out_height x out_width.
class ImageTransform {
 public:
  ImageTransform() = default;  // the whole image, as without augmentation
  // Each throws std::invalid_argument, saying why, for crops that do not fit the images (or the
  // input, for a random-resized crop, whose size is the network's input).
  static ImageTransform training(const Augmentation& augmentation, int64_t height, int64_t width, int64_t out_height,
                                 int64_t out_width);
  static ImageTransform evaluation(const Augmentation& augmentation, int64_t height, int64_t width);

  // Every view the whole image, unflipped: batches are made as without augmentation.
  bool identity() const;
  // Every view of one size, view_size() (all but random-resized crops).
  bool fixed_size() const { return !resized_crop_; }
  CropSize view_size() const { return size_; }
  // Image `index`'s view in epoch `epoch` of the run seeded `seed`.
  View view(uint64_t seed, int epoch, uint32_t index) const;

 private:
  int64_t height_ = 0, width_ = 0;
  CropSize size_;              // a fixed-size view's
  int64_t top_ = 0, left_ = 0;  // a center crop's
  std::optional<int64_t> padding_;  // a random crop's
  std::optional<RandomResizedCrop> resized_crop_;
  bool flip_ = false;
};

// Images split[indices[i]] through views[i], each channel resized to out_height x out_width
// (and normalized unless `normalization` is empty), into images_out [n,C,OH,OW]; labels into
// labels_out. Throws std::invalid_argument for an empty view, std::out_of_range
// for an index past the split.
void fill_view_batch(const Split& split, std::span<const uint32_t> indices, std::span<const View> views,
                     int64_t out_height, int64_t out_width, float* images_out, int32_t* labels_out,
                     const Normalization& normalization = {});

}  // namespace resnetc::data
