// The data model (splits of uint8 images and their labels), and the MNIST-style data set: four IDX
// files in one directory, loaded and validated.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/data/image_storage.h"

namespace resnetc::data {

// Where Debian's dataset-fashion-mnist package installs the files.
inline constexpr std::string_view kDefaultDataDir = "/usr/share/datasets/fashion-mnist";
// Where MNIST is looked for by default; Debian has no package for it, the user puts it there.
inline constexpr std::string_view kDefaultMnistDir = "/usr/share/datasets/mnist";

// One split; images are count * channels * height * width uint8 pixels, image after image,
// each channel's plane after the other (CHW), each plane row-major; in memory or in a file
// (image_storage.h).
struct Split {
  int64_t count = 0, height = 0, width = 0;
  ImageBytes images;
  std::vector<int32_t> labels;  // 0 .. classes - 1: int32, as the plan's labels (more than 256 classes)
  int64_t channels = 1;  // last, so that {count, height, width, images, labels} still means one channel
};

struct DataSet {
  Split train, test;
  int num_classes = 10;
  std::string name;
  std::vector<std::string> class_names;  // label i's name, one per class
  std::vector<std::string> skipped;      // files left out as not readable images, "FILE: why" (folder)
};

// Reads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte from `dir`, each with or without .gz (the .gz wins if both exist).
// Throws DataError when a file is missing or malformed or the splits are inconsistent.
// `dataset` is the recipe's data set ("fashion-mnist" or "mnist"): a missing directory's
// message says how to get that one, and the class names are that data set's.
DataSet load_mnist_like(const std::filesystem::path& dir, std::string_view dataset);

}  // namespace resnetc::data
