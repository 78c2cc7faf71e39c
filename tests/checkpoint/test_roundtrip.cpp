// Writing tensors and metadata and reading them back gives the same bytes.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>

#include "runtime/checkpoint/reader.h"
#include "runtime/checkpoint/writer.h"
#include "test_util.h"

using namespace resnetc::checkpoint;
using resnetc::checkpoint::test::bytes_of;
using resnetc::checkpoint::test::TempDir;

namespace {

void require_same(const Tensor& got, const Tensor& want) {
  INFO(want.name);
  REQUIRE(got.name == want.name);
  REQUIRE(got.dtype == want.dtype);
  REQUIRE(got.shape == want.shape);
  REQUIRE(std::ranges::equal(got.data, want.data));
}

}  // namespace

TEST_CASE("tensors and metadata survive a write and a read byte for byte", "[checkpoint]") {
  const std::vector<float> weight = {1.5f, -0.0f, 3.25e-7f, -1e30f, 0.1f, 7.0f};
  const std::vector<int64_t> steps = {0, -1, INT64_MAX, INT64_MIN};
  const std::vector<uint8_t> mask = {1, 0, 255, 3, 9};  // odd size: ends unaligned
  const std::vector<double> scalar = {2.718281828459045};
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC000, 0x7FC0};
  const std::vector<int32_t> empty;
  const std::vector<Tensor> tensors = {
      {"stage2.block0.conv1.weight", DType::F32, {2, 3}, bytes_of(weight)},
      {"mask", DType::U8, {5}, bytes_of(mask)},
      {"stage2.block0.conv1.weight.momentum", DType::I64, {2, 2}, bytes_of(steps)},
      {"temperature", DType::F64, {}, bytes_of(scalar)},
      {"half", DType::BF16, {3}, bytes_of(bf16)},
      {"nothing", DType::I32, {0, 3}, bytes_of(empty)},
  };
  const Metadata metadata = {{"epoch", "7"},
                             {"model", "resnet18"},
                             {"fingerprint", "9f86d081884c7d65"},
                             {"seed", "12345"},
                             {"note", "caf\xC3\xA9 \"quoted\"\n\ttab \x01 back\\slash"}};
  TempDir dir;
  const auto path = dir.path() / "epoch7.safetensors";
  write_safetensors(path, tensors, metadata);

  const Checkpoint checkpoint = read_safetensors(path);
  REQUIRE(checkpoint.source() == path.string());
  REQUIRE(checkpoint.tensors().size() == tensors.size());
  for (const Tensor& want : tensors) require_same(checkpoint.at(want.name), want);
  REQUIRE(checkpoint.metadata() == metadata);
  REQUIRE(checkpoint.metadata_at("epoch") == "7");
  REQUIRE(dir.entries() == std::vector<std::string>{"epoch7.safetensors"});

  SECTION("every tensor is aligned to its element size in the file") {
    const auto file = test::read_bytes(path);
    size_t header_length = 0;
    for (size_t i = 0; i < 8; ++i) header_length |= std::to_integer<size_t>(file[i]) << (8 * i);
    const size_t data_start = 8 + header_length;
    REQUIRE(data_start % 8 == 0);
    const std::byte* data_area = checkpoint.tensors().front().data.data();  // file order
    for (const Tensor& t : checkpoint.tensors()) {
      INFO(t.name);
      CHECK((data_start + static_cast<size_t>(t.data.data() - data_area)) % dtype_size(t.dtype) ==
            0);
    }
  }

  SECTION("writing what was read reproduces the file exactly") {
    const auto copy = dir.path() / "copy.safetensors";
    write_safetensors(copy, checkpoint.tensors(), checkpoint.metadata());
    REQUIRE(test::read_bytes(copy) == test::read_bytes(path));
  }
}

TEST_CASE("a checkpoint with no tensors and no metadata round-trips", "[checkpoint]") {
  TempDir dir;
  const auto path = dir.path() / "empty.safetensors";
  write_safetensors(path, {}, {});
  const Checkpoint checkpoint = read_safetensors(path);
  REQUIRE(checkpoint.tensors().empty());
  REQUIRE(checkpoint.metadata().empty());
  REQUIRE(test::read_bytes(path).size() == 16);  // length + "{}" padded to 8 bytes
}

TEST_CASE("the header JSON may use whitespace, escapes and surrogate pairs", "[checkpoint]") {
  const auto image = test::file_image(
      "{\n  \"__metadata__\" : { \"k\\u00e9y\" : \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\" },\r\n"
      "  \"emoji\\ud83d\\ude00\" : {\"shape\":[ 2 ],\"data_offsets\":[0, 2],\"dtype\":\"U8\"}\t}  ",
      2);
  const Checkpoint checkpoint = parse_safetensors(image);
  REQUIRE(checkpoint.metadata_at("k\xC3\xA9y") == "a\"b\\c/d\b\f\n\r\t");
  const Tensor& t = checkpoint.at("emoji\xF0\x9F\x98\x80");
  REQUIRE(t.shape == std::vector<int64_t>{2});
  REQUIRE(t.data.data() == image.data() + image.size() - 2);
}

TEST_CASE("the writer refuses tensors it cannot write faithfully, before touching the disk",
          "[checkpoint]") {
  const std::vector<float> four(4);
  auto [tensor, expected] = GENERATE(table<Tensor, std::string>({
      {{"w", DType::F32, {3}, {}}, "tensor 'w': shape [3] of F32 needs 12 bytes, but 16"},
      {{"w", DType::F32, {-1, -4}, {}}, "tensor 'w': invalid shape [-1, -4]"},
      {{"__metadata__", DType::F32, {4}, {}}, "tensor name '__metadata__' is reserved"},
      {{"bad\xFF", DType::F32, {4}, {}}, "is not UTF-8"},
  }));
  tensor.data = bytes_of(four);
  TempDir dir;
  const auto path = dir.path() / "ckpt.safetensors";
  REQUIRE_THROWS_WITH(write_safetensors(path, std::span(&tensor, 1)),
                      Catch::Contains(expected) && Catch::Contains(path.string()));
  REQUIRE(dir.entries().empty());
}

TEST_CASE("the writer refuses duplicate names and non-UTF-8 metadata", "[checkpoint]") {
  const std::vector<float> one(1);
  const std::vector<Tensor> twice = {{"w", DType::F32, {1}, bytes_of(one)},
                                     {"w", DType::F32, {1}, bytes_of(one)}};
  TempDir dir;
  const auto path = dir.path() / "ckpt.safetensors";
  REQUIRE_THROWS_WITH(write_safetensors(path, twice), Catch::Contains("duplicate tensor name 'w'"));
  REQUIRE_THROWS_WITH(write_safetensors(path, {}, {{"model", "\xC0\xAF"}}),
                      Catch::Contains("metadata 'model' is not UTF-8"));
  REQUIRE(dir.entries().empty());
}
