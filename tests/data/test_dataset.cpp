#include <catch2/catch.hpp>

#include <array>
#include <filesystem>
#include <numeric>

#include "fixtures.h"
#include "runtime/data/dataset.h"
#include "runtime/data/idx.h"

using namespace resnetc::data;
using namespace resnetc::data::testing;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

TEST_CASE("load_mnist_like loads a consistent data set", "[dataset]") {
  TempDir tmp;
  const fs::path dir = tmp.path() / "tiny-mnist";
  fs::create_directory(dir);
  write_mnist_like(dir, 12, 5, 3, 2);
  // A stale unpacked copy next to the .gz must be ignored.
  write_file(dir / "train-labels-idx1-ubyte", idx_bytes(0x801, {1}, {0}));

  const DataSet ds = load_mnist_like(dir / "", "fashion-mnist");
  CHECK(ds.name == "tiny-mnist");
  CHECK(ds.num_classes == 10);
  CHECK(ds.train.count == 12);
  CHECK(ds.train.height == 3);
  CHECK(ds.train.width == 2);
  CHECK(ds.test.count == 5);
  CHECK(ds.train.images.size() == 12 * 6);
  CHECK(ds.test.images.size() == 5 * 6);
  CHECK(ds.train.labels.size() == 12);
  CHECK(ds.train.labels[11] == 1);
  CHECK(ds.train.images[7] == 49);
  CHECK(ds.test.images[0] == 100);
}

TEST_CASE("load_mnist_like reports inconsistent or missing files", "[dataset]") {
  TempDir tmp;
  const fs::path dir = tmp.path();
  write_mnist_like(dir, 4, 3, 2, 2);
  auto expect_error = [&dir](const std::string& what) {
    CHECK_THAT(data_error_message([&] { load_mnist_like(dir, "fashion-mnist"); }), Contains(what));
  };

  SECTION("label out of range names file, index and value") {
    write_file(dir / "t10k-labels-idx1-ubyte.gz", gzip_bytes(idx_bytes(0x801, {3}, {0, 10, 2})));
    expect_error((dir / "t10k-labels-idx1-ubyte.gz").string() + ": label at index 1 is 10, expected 0..9");
  }
  SECTION("label count differs from image count") {
    write_file(dir / "train-labels-idx1-ubyte.gz", gzip_bytes(idx_bytes(0x801, {3}, {0, 1, 2})));
    expect_error("train-labels-idx1-ubyte.gz has 3 labels but");
    expect_error("train-images-idx3-ubyte.gz has 4 images");
  }
  SECTION("train and test image sizes differ") {
    write_file(dir / "t10k-images-idx3-ubyte.gz", gzip_bytes(idx_bytes(0x803, {3, 2, 3}, Bytes(18))));
    expect_error("training images are 2x2 but test images are 2x3");
  }
  SECTION("missing file") {
    fs::remove(dir / "t10k-labels-idx1-ubyte.gz");
    expect_error((dir / "t10k-labels-idx1-ubyte.gz").string() + ": no such file (nor " +
                 (dir / "t10k-labels-idx1-ubyte").string() + ")");
  }
  SECTION("a directory in place of a file") {
    fs::remove(dir / "train-images-idx3-ubyte.gz");
    fs::create_directory(dir / "train-images-idx3-ubyte.gz");
    expect_error("train-images-idx3-ubyte.gz: it is a directory");
  }
  SECTION("a corrupt member file") {
    write_file(dir / "train-images-idx3-ubyte.gz", gzip_bytes(idx_bytes(0x801, {1}, {0})));
    expect_error("train-images-idx3-ubyte.gz: bad magic number");
  }
  SECTION("images too large to resize are refused with the file's name") {
    write_file(dir / "train-images-idx3-ubyte.gz", gzip_bytes(idx_bytes(0x803, {4, 1, 40000}, Bytes(160000))));
    expect_error("train-images-idx3-ubyte.gz: images of 1x40000 are larger than the 32768x32768 resnetc can resize");
  }
  SECTION("missing directory suggests how to get the data") {
    CHECK_THAT(data_error_message([&] { load_mnist_like(dir / "absent", "fashion-mnist"); }),
               Contains("does not exist") && Contains("apt-get install dataset-fashion-mnist") &&
                   Contains("--data DIR"));
  }
  SECTION("for MNIST, which Debian does not package, it says where the files go") {
    const std::string message = data_error_message([&] { load_mnist_like(dir / "absent", "mnist"); });
    CHECK_THAT(message, Contains("does not exist; Debian has no MNIST package: put the four IDX files") &&
                            Contains("train-images-idx3-ubyte") && Contains("t10k-labels-idx1-ubyte") &&
                            Contains("in /usr/share/datasets/mnist, the default, or in a directory given with --data DIR"));
    CHECK_THAT(message, !Contains("apt-get"));
  }
}

TEST_CASE("the installed Fashion-MNIST loads with its known shape and contents", "[dataset][real]") {
  if (!fs::is_directory(kDefaultDataDir)) {
    WARN("skipped: " << kDefaultDataDir << " is absent (apt-get install dataset-fashion-mnist)");
    return;
  }
  const DataSet ds = load_mnist_like(kDefaultDataDir, "fashion-mnist");
  CHECK(ds.name == "fashion-mnist");
  CHECK(ds.train.count == 60000);
  CHECK(ds.test.count == 10000);
  CHECK(ds.train.height == 28);
  CHECK(ds.train.width == 28);
  CHECK(ds.test.height == 28);
  CHECK(ds.train.images.size() == 60000u * 28 * 28);
  // Facts read from the files with Python's gzip module: both splits start with an
  // ankle boot (class 9), and the first training image's pixels sum to 76247.
  CHECK(ds.train.labels[0] == 9);
  CHECK(ds.test.labels[0] == 9);
  CHECK(std::accumulate(ds.train.images.begin(), ds.train.images.begin() + 784, 0) == 76247);
  // Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
  std::array<int, 10> train_per_class{}, test_per_class{};
  for (int32_t l : ds.train.labels) ++train_per_class[l];
  for (int32_t l : ds.test.labels) ++test_per_class[l];
  for (int c = 0; c < 10; ++c) {
    CHECK(train_per_class[static_cast<size_t>(c)] == 6000);
    CHECK(test_per_class[static_cast<size_t>(c)] == 1000);
  }
}
