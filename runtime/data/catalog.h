// The data sets resnetc trains on, by the name a recipe's `dataset` or --dataset gives.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "runtime/data/dataset.h"
#include "runtime/data/image_folder.h"

namespace resnetc::data {

// fashion-mnist, mnist (IDX files), cifar10, cifar100 (fine labels) and cifar100-coarse (its
// 20 superclasses), the official binary versions, and folder (PNG and JPEG files in class
// folders, image_folder.h).
const std::vector<std::string_view>& dataset_names();

// Where `name` is read from when neither --data nor the recipe says: Fashion-MNIST's Debian
// package, MNIST's conventional place; empty for CIFAR, which has no standard place.
std::filesystem::path default_data_dir(std::string_view name);

// The network's input image. A folder's images are decoded to its channels and resized to its
// size as they are read (unless FolderReading::size names another), so they are kept at the size
// the network reads; the other data sets' files hold images of one size, kept as they are and
// resized as batches are made.
struct InputImage {
  int64_t channels = 1, height = 0, width = 0;
};

// How a folder's files are read: what its files that are not readable images do
// (image_folder.h); the size its images are kept at (--image-size; none: the input's, exactly);
// the threads that decode them (none: the CPU pool, every core); where they are kept (memory or a
// file, image_storage.h); where decoding says how far it got and where the images are kept (none:
// nowhere).
struct FolderReading {
  BadImages bad = BadImages::Refuse;
  std::optional<ImageSize> size;
  cpu::ThreadPool* pool = nullptr;
  ImageCache cache;
  std::ostream* log = nullptr;
};

// Loads data set `name` from `dir`. Throws DataError (the message names the file and the fault),
// std::invalid_argument for a name not in dataset_names().
DataSet load_dataset(std::string_view name, const std::filesystem::path& dir, const InputImage& input,
                     const FolderReading& folder = {});

}  // namespace resnetc::data
