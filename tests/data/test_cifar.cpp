// The CIFAR binary loaders: where each record's bytes land, the names, and every malformed file.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "fixtures.h"
#include "runtime/data/catalog.h"
#include "runtime/data/cifar.h"
#include "runtime/data/sampler.h"

using namespace resnetc::data;
using namespace resnetc::data::testing;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

uint8_t pixel(int n, int c, int y, int x) { return static_cast<uint8_t>((n * 7 + c * 50 + y * 3 + x) % 256); }

// Records first .. first + count - 1: the label bytes `labels(n)`, then pixel(n, c, y, x) for
// the red, green and blue planes.
template <class Labels>
Bytes records(int first, int count, Labels labels) {
  Bytes out;
  for (int n = first; n < first + count; ++n) {
    for (uint8_t l : labels(n)) out.push_back(l);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) out.push_back(pixel(n, c, y, x));
  }
  return out;
}

Bytes cifar10_records(int first, int count) {
  return records(first, count, [](int n) { return Bytes{static_cast<uint8_t>(n % 10)}; });
}

// Five training files of 2 records (0..9), a test file of 3 (100..102).
fs::path write_cifar10(const TempDir& tmp) {
  const fs::path dir = tmp.path() / "cifar-10-batches-bin";
  fs::create_directories(dir);
  for (int b = 0; b < 5; ++b)
    write_file(dir / ("data_batch_" + std::to_string(b + 1) + ".bin"), cifar10_records(2 * b, 2));
  write_file(dir / "test_batch.bin", cifar10_records(100, 3));
  return dir;
}

}  // namespace

TEST_CASE("CIFAR-10's records land as CHW images with their labels", "[cifar]") {
  TempDir tmp;
  const fs::path dir = write_cifar10(tmp);
  const DataSet ds = load_dataset("cifar10", dir, {3, 32, 32});
  CHECK(ds.name == "cifar10");
  CHECK(ds.num_classes == 10);
  CHECK(ds.train.count == 10);
  CHECK(ds.train.channels == 3);
  CHECK(ds.train.height == 32);
  CHECK(ds.train.width == 32);
  CHECK(ds.test.count == 3);
  CHECK(ds.train.images.size() == 10u * 3072);
  for (int n = 0; n < 10; ++n) CHECK(ds.train.labels[static_cast<size_t>(n)] == n % 10);
  CHECK(ds.test.labels == std::vector<int32_t>{0, 1, 2});
  // Image 7 (data_batch_4.bin's second), green plane, row 5, column 9.
  CHECK(ds.train.images[7 * 3072 + 1 * 1024 + 5 * 32 + 9] == pixel(7, 1, 5, 9));
  CHECK(ds.test.images[2 * 3072 + 2 * 1024 + 31 * 32 + 31] == pixel(102, 2, 31, 31));
  // Without batches.meta.txt the classes are named by number.
  CHECK(ds.class_names.size() == 10);
  CHECK(ds.class_names[3] == "3");

  // In a batch, unchanged in size: pixel (c, y, x) of image 7 at [row, c, y, x] / 255.
  const std::array<uint32_t, 2> indices{7, 0};
  std::vector<float> batch(2 * 3072);
  std::array<int32_t, 2> labels{};
  fill_batch(ds.train, indices, Resizer(32, 32, 32, 32), batch.data(), labels.data());
  CHECK(labels == std::array<int32_t, 2>{7, 0});
  for (int c = 0; c < 3; ++c)
    for (int y : {0, 13, 31})
      for (int x : {0, 20, 31}) {
        INFO(c << ", " << y << ", " << x);
        CHECK(batch[static_cast<size_t>(c * 1024 + y * 32 + x)] == static_cast<float>(pixel(7, c, y, x)) / 255.0f);
        CHECK(batch[static_cast<size_t>(3072 + c * 1024 + y * 32 + x)] == static_cast<float>(pixel(0, c, y, x)) / 255.0f);
      }
}

TEST_CASE("class names come from batches.meta.txt and the CIFAR-100 name files", "[cifar]") {
  TempDir tmp;
  const fs::path dir = write_cifar10(tmp);
  write_file(dir / "batches.meta.txt",
             Bytes{'a', 'i', 'r', 'p', 'l', 'a', 'n', 'e', '\n', 'c', 'a', 'r', '\n', 'b', 'i', 'r', 'd', '\n', 'c', 'a',
                   't', '\n', 'd', 'e', 'e', 'r', '\n', 'd', 'o', 'g', '\n', 'f', 'r', 'o', 'g', '\n', 'h', 'o', 'r',
                   's', 'e', '\n', 's', 'h', 'i', 'p', '\n', 't', 'r', 'u', 'c', 'k', '\n', '\n'});
  const DataSet ds = load_cifar10(dir);
  CHECK(ds.class_names.front() == "airplane");
  CHECK(ds.class_names.back() == "truck");
  write_file(dir / "batches.meta.txt", Bytes{'a', '\n', 'b', '\n'});
  CHECK_THAT(data_error_message([&] { load_cifar10(dir); }),
             Contains("batches.meta.txt: 2 class names, expected 10 (one a line)"));
}

TEST_CASE("CIFAR-100 keeps the fine label, or the coarse one when asked", "[cifar]") {
  TempDir tmp;
  const fs::path dir = tmp.path() / "cifar-100-binary";
  fs::create_directories(dir);
  // Coarse label n % 20, fine label 99 - n.
  const auto labels = [](int n) { return Bytes{static_cast<uint8_t>(n % 20), static_cast<uint8_t>(99 - n)}; };
  write_file(dir / "train.bin", records(0, 4, labels));
  write_file(dir / "test.bin", records(40, 2, labels));
  const DataSet fine = load_dataset("cifar100", dir, {3, 32, 32});
  CHECK(fine.num_classes == 100);
  CHECK(fine.train.labels == std::vector<int32_t>{99, 98, 97, 96});
  CHECK(fine.test.labels == std::vector<int32_t>{59, 58});
  CHECK(fine.train.images[3 * 3072 + 2 * 1024 + 4 * 32 + 1] == pixel(3, 2, 4, 1));
  CHECK(fine.class_names.size() == 100);
  const DataSet coarse = load_dataset("cifar100-coarse", dir, {3, 32, 32});
  CHECK(coarse.num_classes == 20);
  CHECK(coarse.train.labels == std::vector<int32_t>{0, 1, 2, 3});
  CHECK(coarse.test.labels == std::vector<int32_t>{0, 1});
  CHECK(coarse.class_names.size() == 20);
  CHECK(coarse.train.images == fine.train.images);
}

TEST_CASE("malformed CIFAR files are named with their fault", "[cifar]") {
  TempDir tmp;
  const fs::path dir = write_cifar10(tmp);
  fs::remove(dir / "data_batch_3.bin");
  CHECK_THAT(data_error_message([&] { load_cifar10(dir); }), Contains("data_batch_3.bin: no such file"));

  write_file(dir / "data_batch_3.bin", Bytes(3073 * 2 - 5));
  CHECK_THAT(data_error_message([&] { load_cifar10(dir); }),
             Contains("data_batch_3.bin: 6141 bytes is not a whole number of 3073-byte records (1 label byte and a "
                      "3x32x32 image each): 3068 bytes left over"));
  write_file(dir / "data_batch_3.bin", Bytes{});
  CHECK_THAT(data_error_message([&] { load_cifar10(dir); }),
             Contains("data_batch_3.bin: the file is empty; it must hold 3073-byte records (1 label byte and a "
                      "3x32x32 image each)"));

  Bytes bad = cifar10_records(4, 2);
  bad[3073] = 10;  // the second record's label
  write_file(dir / "data_batch_3.bin", bad);
  CHECK_THAT(data_error_message([&] { load_cifar10(dir); }),
             Contains("data_batch_3.bin: record 1 (byte offset 3073) has label 10, expected 0..9"));

  const fs::path hundred = tmp.path() / "c100";
  fs::create_directories(hundred);
  write_file(hundred / "train.bin", records(0, 1, [](int) { return Bytes{3, 100}; }));
  write_file(hundred / "test.bin", records(0, 1, [](int) { return Bytes{3, 1}; }));
  CHECK_THAT(data_error_message([&] { load_cifar100(hundred, false); }),
             Contains("train.bin: record 0 (byte offset 1) has label 100, expected 0..99"));
  CHECK_THAT(data_error_message([&] { load_cifar100(hundred / "nowhere", false); }),
             Contains("nowhere does not exist; cifar100 is read from the directory that "
                      "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz unpacks to, given with --data DIR"));
}
