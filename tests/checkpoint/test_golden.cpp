// Checks against a file written by Hugging Face's own safetensors library (make_golden.py).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "runtime/checkpoint/reader.h"
#include "runtime/checkpoint/writer.h"
#include "test_util.h"

using namespace resnetc::checkpoint;
using resnetc::checkpoint::test::bytes_of;

namespace {

const std::filesystem::path kGolden =
    std::filesystem::path(RESNETC_SOURCE_DIR) / "tests/checkpoint/golden/reference.safetensors";

template <class T>
std::vector<T> values_of(const Tensor& tensor) {
  REQUIRE(tensor.data.size() % sizeof(T) == 0);
  std::vector<T> values(tensor.data.size() / sizeof(T));
  std::memcpy(values.data(), tensor.data.data(), tensor.data.size());
  return values;
}

// The tensors of make_golden.py, spelled out again in C++.
struct GoldenTensors {
  std::vector<float> conv = [] {
    std::vector<float> v;
    for (int i = 0; i < 12; ++i) v.push_back(static_cast<float>(i) / 4 - 1);
    return v;
  }();
  std::vector<float> momentum = {0.5f, -0.25f, 1e-3f};
  std::vector<double> mean = {1.0 / 3.0, -2.5};
  std::vector<int64_t> batches = {123456789012};
  std::vector<int32_t> step = {-7, 0, 2147483647};
  std::vector<uint8_t> labels = {0, 1, 255, 7, 9};

  // In the order safetensors itself lays them out, which ours reproduces for this input.
  std::vector<Tensor> tensors() const {
    return {
        {"stage1.block0.bn1.num_batches_tracked", DType::I64, {}, bytes_of(batches)},
        {"stage1.block0.bn1.running_mean", DType::F64, {2}, bytes_of(mean)},
        {"stage1.block0.conv1.weight", DType::F32, {2, 2, 3}, bytes_of(conv)},
        {"stage1.block0.conv1.weight.momentum", DType::F32, {3}, bytes_of(momentum)},
        {"fc.bias.step", DType::I32, {3}, bytes_of(step)},
        {"labels", DType::U8, {5}, bytes_of(labels)},
    };
  }
  Metadata metadata = {
      {"epoch", "3"}, {"model", "resnet-tiny"}, {"fingerprint", "sha256:0123abcd"}, {"seed", "42"}};
};

}  // namespace

TEST_CASE("a file from the reference safetensors writer reads back exactly", "[checkpoint]") {
  const Checkpoint golden = read_safetensors(kGolden);
  const GoldenTensors expected;
  REQUIRE(golden.metadata() == expected.metadata);
  REQUIRE(golden.tensors().size() == 6);
  for (const Tensor& want : expected.tensors()) {
    INFO(want.name);
    const Tensor& got = golden.at(want.name);
    REQUIRE(got.dtype == want.dtype);
    REQUIRE(got.shape == want.shape);
    REQUIRE(std::ranges::equal(got.data, want.data));
  }
  REQUIRE(values_of<double>(golden.at("stage1.block0.bn1.running_mean")) == expected.mean);
  REQUIRE(values_of<int64_t>(golden.at("stage1.block0.bn1.num_batches_tracked")) ==
          expected.batches);
}

TEST_CASE("our writer lays out the golden tensors exactly as the reference writer does",
          "[checkpoint]") {
  // The reference writer orders metadata by hash, so compare everything but that: the same
  // tensors at the same offsets, and a byte-identical data area.
  test::TempDir dir;
  const auto ours_path = dir.path() / "ours.safetensors";
  const GoldenTensors golden_tensors;
  write_safetensors(ours_path, golden_tensors.tensors(), golden_tensors.metadata);
  const auto ours_bytes = test::read_bytes(ours_path);
  const auto golden_bytes = test::read_bytes(kGolden);
  const Checkpoint ours = parse_safetensors(ours_bytes);
  const Checkpoint golden = parse_safetensors(golden_bytes);

  REQUIRE(ours.metadata() == golden.metadata());
  REQUIRE(ours.tensors().size() == golden.tensors().size());
  const std::byte* ours_base = ours.tensors().front().data.data();
  const std::byte* golden_base = golden.tensors().front().data.data();
  for (size_t i = 0; i < ours.tensors().size(); ++i) {
    const Tensor& a = ours.tensors()[i];
    const Tensor& b = golden.tensors()[i];
    INFO(b.name);
    REQUIRE(a.name == b.name);
    REQUIRE(a.dtype == b.dtype);
    REQUIRE(a.shape == b.shape);
    REQUIRE(a.data.data() - ours_base == b.data.data() - golden_base);
  }
  const size_t data_size =
      static_cast<size_t>(golden_bytes.data() + golden_bytes.size() - golden_base);
  REQUIRE(ours_bytes.size() - data_size == static_cast<size_t>(ours_base - ours_bytes.data()));
  REQUIRE(std::memcmp(ours_base, golden_base, data_size) == 0);
}
