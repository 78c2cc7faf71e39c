#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "fixtures.h"
#include "runtime/data/idx.h"
#include "tests/address_space_limit.h"

using namespace resnetc::data;
using namespace resnetc::data::testing;
using Catch::Matchers::Contains;

namespace {

using resnetc::testing::AddressSpaceLimit;

const Bytes kPixels = [] {
  Bytes b(2 * 3 * 4);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(10 * i);
  return b;
}();

}  // namespace

TEST_CASE("read_idx reads plain and gzip files alike", "[idx]") {
  TempDir tmp;
  const Bytes file = idx_bytes(0x803, {2, 3, 4}, kPixels);
  write_file(tmp.path() / "a", file);
  write_file(tmp.path() / "a.gz", gzip_bytes(file));
  for (const char* name : {"a", "a.gz"}) {
    const IdxArray arr = read_idx(tmp.path() / name, 3);
    CHECK(arr.shape == std::vector<int64_t>{2, 3, 4});
    CHECK(arr.data == kPixels);
  }
  write_file(tmp.path() / "labels", idx_bytes(0x801, {3}, {7, 8, 9}));
  const IdxArray labels = read_idx(tmp.path() / "labels", 1);
  CHECK(labels.shape == std::vector<int64_t>{3});
  CHECK(labels.data == Bytes{7, 8, 9});
}

TEST_CASE("read_idx rejects unreadable and malformed files with a precise message", "[idx]") {
  TempDir tmp;
  const auto p = tmp.path();
  const Bytes good = idx_bytes(0x803, {2, 3, 4}, kPixels);
  auto expect_error = [](const std::filesystem::path& file, int rank, const std::string& what) {
    CHECK_THAT(data_error_message([&] { read_idx(file, rank); }), Contains(file.string()) && Contains(what));
  };

  SECTION("missing file") { expect_error(p / "nope.gz", 3, "no such file"); }
  SECTION("directory") {
    std::filesystem::create_directory(p / "dir.gz");
    expect_error(p / "dir.gz", 3, "it is a directory");
  }
  SECTION("empty file") {
    write_file(p / "empty", {});
    expect_error(p / "empty", 3, "truncated: expected a 4-byte IDX magic number, got 0 bytes");
  }
  SECTION("bad magic: a label file where images are expected") {
    write_file(p / "labels", idx_bytes(0x801, {3}, {1, 2, 3}));
    expect_error(p / "labels", 3, "bad magic number 0x00000801, expected 0x00000803 (uint8 IDX with 3 dimensions)");
  }
  SECTION("bad magic: not IDX at all") {
    write_file(p / "text.gz", gzip_bytes({'h', 'e', 'l', 'l', 'o'}));
    expect_error(p / "text.gz", 1, "bad magic number 0x68656C6C, expected 0x00000801");
  }
  SECTION("truncated header") {
    write_file(p / "short", Bytes(good.begin(), good.begin() + 10));
    expect_error(p / "short", 3, "truncated: expected 12 bytes of header dimensions, got 6");
  }
  SECTION("truncated payload, plain and gzip") {
    const Bytes cut(good.begin(), good.end() - 4);
    write_file(p / "cut", cut);
    write_file(p / "cut.gz", gzip_bytes(cut));
    expect_error(p / "cut", 3, "truncated: dimensions [2, 3, 4] need 24 bytes of payload, the file has 20 after its "
                               "16-byte header");
    expect_error(p / "cut.gz", 3, "truncated: dimensions [2, 3, 4] need 24 bytes of payload, got 20");
  }
  SECTION("trailing garbage") {
    Bytes longer = good;
    longer.push_back(0);
    write_file(p / "long.gz", gzip_bytes(longer));
    expect_error(p / "long.gz", 3, "trailing garbage after the 24 bytes of payload");
  }
  SECTION("corrupt gzip data") {
    Bytes gz = gzip_bytes(good);
    for (size_t i = 10; i < gz.size() - 8; ++i) gz[i] = 0xFF;  // keep the gzip header, wreck the deflate data
    write_file(p / "bad.gz", gz);
    expect_error(p / "bad.gz", 3, "corrupt gzip stream");
  }
  SECTION("gzip stream cut short") {
    const Bytes gz = gzip_bytes(good);
    write_file(p / "half.gz", Bytes(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() / 2)));
    expect_error(p / "half.gz", 3, "corrupt gzip stream (unexpected end of file)");
  }
  SECTION("dimensions whose product overflows") {
    write_file(p / "huge", idx_bytes(0x803, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {}));
    expect_error(p / "huge", 3, "absurd dimensions [4294967295, 4294967295, 4294967295]");
  }
  SECTION("a header claiming 4 billion images is refused before any allocation, plain or gzip") {
    const Bytes liar = idx_bytes(0x803, {4000000000u, 28, 28}, kPixels);
    write_file(p / "liar", liar);
    const Bytes gz = gzip_bytes(liar);
    write_file(p / "liar.gz", gz);
    expect_error(p / "liar", 3, "need 3136000000000 bytes of payload, the file has 24 after its 16-byte header");
    expect_error(p / "liar.gz", 3,
                 "need 3136000000000 bytes of payload, but " + std::to_string(gz.size()) + " bytes of gzip inflate to at "
                     "most " + std::to_string(gz.size() * 1032));
  }
  SECTION("a label file claiming more labels than it holds") {
    write_file(p / "labels", idx_bytes(0x801, {60000}, {1, 2, 3}));
    expect_error(p / "labels", 1, "need 60000 bytes of payload, the file has 3 after its 8-byte header");
  }
}

TEST_CASE("read_idx refuses a FIFO, or a link to one, without waiting for a writer", "[idx]") {
  TempDir tmp;
  const auto fifo = tmp.path() / "train-images-idx3-ubyte";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto link = tmp.path() / "link";
  std::filesystem::create_symlink(fifo, link);
  // A reader stuck in open() is released after a few seconds by opening the writing end, so
  // a regression fails on the time taken instead of hanging the suite.
  std::atomic<bool> done{false};
  std::thread rescuer([&] {
    for (int i = 0; !done; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (i < 300) continue;
      if (const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK); fd >= 0) ::close(fd);
    }
  });
  for (const auto& path : {fifo, link}) {
    INFO(path);
    const auto start = std::chrono::steady_clock::now();
    CHECK_THAT(data_error_message([&] { read_idx(path, 3); }),
               Contains(path.string() + ": it is a FIFO, not a regular file"));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  }
  done = true;
  rescuer.join();
}

TEST_CASE("a gzip bomb that inflates past the memory limit is a DataError naming the numbers", "[idx]") {
  // 256 MiB of zeros deflate to about a quarter of a megabyte: within deflate's 1032:1, so
  // only reading can tell. The address-space limit leaves this process 64 MiB to grow into.
  TempDir tmp;
  const auto bomb = tmp.path() / "bomb.gz";
  {
    gzFile out = gzopen(bomb.c_str(), "wb");
    REQUIRE(out != nullptr);
    const Bytes header = idx_bytes(0x803, {256, 1024, 1024}, {});
    REQUIRE(gzwrite(out, header.data(), static_cast<unsigned>(header.size())) == static_cast<int>(header.size()));
    const Bytes zeros(size_t{1} << 20);
    for (int i = 0; i < 256; ++i) REQUIRE(gzwrite(out, zeros.data(), static_cast<unsigned>(zeros.size())) > 0);
    REQUIRE(gzclose(out) == Z_OK);
  }
  std::string message;
  {
    const AddressSpaceLimit limit(size_t{64} << 20);
    message = data_error_message([&] { read_idx(bomb, 3); });
  }
  CHECK_THAT(message, Contains(bomb.string() + ": out of memory: dimensions [256, 1024, 1024] need 256.0 MiB of payload, "
                                               "and allocating "));
}
