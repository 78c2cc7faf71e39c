// Per-channel normalization of a batch's pixels, torchvision's Normalize after ToTensor.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/data/dataset.h"
#include "runtime/data/resize.h"

namespace resnetc::data {

// x = (pixel / 255 - mean[c]) / std[c] for channel c. Empty: no normalization (the pixels
// stay ToTensor's [0,1]). Otherwise one mean and one std a channel, every std > 0.
struct Normalization {
  std::vector<float> mean, std;
  bool empty() const { return mean.empty(); }
  bool operator==(const Normalization&) const = default;
};

// PyTorch's Normalize computes tensor.sub_(mean).div_(std) with mean and std as float32
// tensors: a float32 subtraction, then a float32 division, each rounded. The same two
// operations here (and in the GPU's batch kernels, backends/cuda/batch_kernels.cpp).
inline float normalize_value(float x, float mean, float std) { return (x - mean) / std; }

// Normalizes `plane` (one channel's values) in place.
void normalize_plane(std::span<float> plane, float mean, float std);

// The per-channel mean and population standard deviation (the root of the mean squared
// deviation from the mean, dividing by the count: numpy's x.std(), not torch's unbiased
// .std()) of every image of `split` resized by `resizer` and converted by ToTensor, i.e. of
// the float32 values the network sees without normalization, accumulated in double in two
// passes (the mean, then the squared deviations from it), then rounded to float32. Throws
// std::invalid_argument for an empty split or a channel whose values are all equal (std 0).
Normalization channel_statistics(const Split& split, const Resizer& resizer);

// "0.4914,0.4822,0.4465": each value as the shortest text that reads back as the same float32.
std::string format_values(const std::vector<float>& values);

// The float32 values of a comma-separated list (what format_values writes, or what a user
// types), each finite and, when `positive`, above 0; nothing when an item is not such a number.
std::optional<std::vector<float>> parse_values(const std::string& text, bool positive);

}  // namespace resnetc::data
