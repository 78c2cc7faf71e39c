#include "runtime/data/dataset.h"

#include <fmt/format.h>

#include "runtime/data/idx.h"
#include "runtime/data/resize.h"

namespace resnetc::data {
namespace {

namespace fs = std::filesystem;

// Downloads usually keep the .gz, unpacked copies drop it; take the original when both exist.
fs::path find_file(const fs::path& dir, const std::string& stem) {
  fs::path gz = dir / (stem + ".gz");
  if (fs::exists(gz)) return gz;
  fs::path plain = dir / stem;
  if (fs::exists(plain)) return plain;
  throw DataError(fmt::format("{}: no such file (nor {})", gz.string(), plain.string()));
}

Split load_split(const fs::path& dir, const std::string& prefix, int num_classes) {
  const fs::path image_file = find_file(dir, prefix + "-images-idx3-ubyte");
  const fs::path label_file = find_file(dir, prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx(image_file, 3);
  IdxArray labels = read_idx(label_file, 1);

  Split split;
  split.count = images.shape[0];
  split.height = images.shape[1];
  split.width = images.shape[2];
  if (split.count == 0 || split.height == 0 || split.width == 0) {
    throw DataError(fmt::format("{}: empty image array ({} images of {}x{})", image_file.string(), split.count,
                                split.height, split.width));
  }
  // Checked here, with the file's name, rather than later by the resizer.
  if (split.height > kMaxImageSide || split.width > kMaxImageSide) {
    throw DataError(fmt::format("{}: images of {}x{} are larger than the {}x{} resnetc can resize", image_file.string(),
                                split.height, split.width, kMaxImageSide, kMaxImageSide));
  }
  if (labels.shape[0] != split.count) {
    throw DataError(fmt::format("{} has {} labels but {} has {} images", label_file.string(), labels.shape[0],
                                image_file.string(), split.count));
  }
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= num_classes) {
      throw DataError(fmt::format("{}: label at index {} is {}, expected 0..{}", label_file.string(), i,
                                  labels.data[i], num_classes - 1));
    }
  }
  split.images.assign(images.data.begin(), images.data.end());
  split.labels.assign(labels.data.begin(), labels.data.end());
  return split;
}

}  // namespace

DataSet load_mnist_like(const fs::path& dir, std::string_view dataset) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    const char* state = fs::exists(dir, ec) ? "is not a directory" : "does not exist";
    if (dataset == "mnist") {
      throw DataError(fmt::format(
          "data directory {} {}; Debian has no MNIST package: put the four IDX files (train-images-idx3-ubyte, "
          "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each may be .gz) in {}, "
          "the default, or in a directory given with --data DIR",
          dir.string(), state, kDefaultMnistDir));
    }
    throw DataError(fmt::format(
        "data directory {} {}; install Fashion-MNIST with `apt-get install dataset-fashion-mnist` "
        "or point --data DIR at a directory holding the four MNIST-style IDX files",
        dir.string(), state));
  }
  DataSet ds;
  ds.train = load_split(dir, "train", ds.num_classes);
  ds.test = load_split(dir, "t10k", ds.num_classes);
  if (ds.train.height != ds.test.height || ds.train.width != ds.test.width) {
    throw DataError(fmt::format("{}: training images are {}x{} but test images are {}x{}", dir.string(),
                                ds.train.height, ds.train.width, ds.test.height, ds.test.width));
  }
  // "/x/fashion-mnist/" has an empty filename; the name is the last real component.
  const fs::path normal = dir.lexically_normal();
  ds.name = (normal.has_filename() ? normal.filename() : normal.parent_path().filename()).string();
  if (dataset == "mnist") {
    for (int i = 0; i < ds.num_classes; ++i) ds.class_names.push_back(std::to_string(i));
  } else {
    ds.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  }
  return ds;
}

}  // namespace resnetc::data
