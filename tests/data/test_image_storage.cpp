#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>

#include "runtime/cpu/thread_pool.h"
#include "runtime/data/image_folder.h"
#include "runtime/data/image_storage.h"
#include "tests/data/fixtures.h"

using namespace resnetc::data;
using resnetc::data::testing::data_error_message;
using resnetc::data::testing::TempDir;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// This process's mappings of deleted files named as the image cache names its files.
int cache_mappings() {
  std::ifstream maps("/proc/self/maps");
  int found = 0;
  for (std::string line; std::getline(maps, line);)
    if (line.find("/resnetc-images-") != std::string::npos && line.find("(deleted)") != std::string::npos) ++found;
  return found;
}

}  // namespace

TEST_CASE("images kept in a file are a deleted file's mapping, unmapped with them", "[image_storage]") {
  TempDir tmp;
  const int before = cache_mappings();
  {
    ImageBytes bytes(ImageAllocator::in_file(tmp.path()));
    bytes.resize(3 * 4096 + 5);
    std::iota(bytes.begin(), bytes.end(), uint8_t{0});
    CHECK(cache_mappings() == before + 1);
    CHECK(fs::is_empty(tmp.path()));  // deleted as it was made
    const ImageBytes copy = bytes;    // a copy is kept where its original is
    CHECK(cache_mappings() == before + 2);
    CHECK(copy == bytes);
    CHECK(copy[4096 + 7] == static_cast<uint8_t>(4096 + 7));
    ImageBytes heap;
    heap.resize(10);
    CHECK(cache_mappings() == before + 2);
  }
  CHECK(cache_mappings() == before);
}

TEST_CASE("a directory that cannot hold the images' file is named", "[image_storage]") {
  TempDir tmp;
  CHECK_THAT(data_error_message([&] { ImageBytes(ImageAllocator::in_file(tmp.path() / "missing")).resize(10); }),
             Contains("missing: cannot make the decoded images' cache file there: No such file or directory"));
}

TEST_CASE("--image-cache chooses memory or a file", "[image_storage]") {
  TempDir tmp;
  std::ostringstream log;
  CHECK_FALSE(image_storage({ImageCacheMode::Auto, tmp.path()}, 1000, "x", &log).in_file());
  CHECK_FALSE(image_storage({ImageCacheMode::Memory, tmp.path()}, 1000, "x", &log).in_file());
  CHECK(log.str().empty());
  const ImageAllocator disk = image_storage({ImageCacheMode::Disk, tmp.path()}, 1000, "the 10 images", &log);
  CHECK(disk.in_file());
  CHECK(disk.dir() == tmp.path());
  CHECK(log.str() == "the 10 images (1.0 kB) are kept in a file in " + tmp.path().string() + " (--image-cache disk)\n");
  log.str("");
  // More than any machine's memory: refused in memory, else in a file, said why.
  const uint64_t huge = uint64_t{1} << 60;
  CHECK_THAT(data_error_message([&] { image_storage({ImageCacheMode::Memory, tmp.path()}, huge, "y", &log); }),
             Contains("y need 1152921.5 TB of memory"));
  CHECK(image_storage({ImageCacheMode::Auto, tmp.path()}, huge, "y", &log).in_file());
  CHECK_THAT(log.str(), Contains("y need 1152921.5 TB of memory, kept decoded as uint8, but "));
  CHECK_THAT(log.str(), Contains("is available: they are kept in a file in " + tmp.path().string()));
}

TEST_CASE("decoding says how far it got", "[image_storage]") {
  const fs::path folder = fs::path(RESNETC_SOURCE_DIR) / "tests/data/golden/folder";
  const FolderListing listing = list_image_folder(folder, BadImages::Skip);
  std::ostringstream log;
  std::vector<std::string> skipped;
  resnetc::cpu::ThreadPool pool(resnetc::cpu::ThreadPool::Options{2, 0});
  TempDir tmp;
  const Split split = load_image_folder(listing, 3, ImageSize{{8, 8}}, BadImages::Skip, skipped, pool,
                                        ImageAllocator::in_file(tmp.path()), {&log, "golden", {}});
  const auto files = listing.files.size();
  CHECK_THAT(log.str(), Contains(fmt::format("decoding golden: {} of {} images (100%)\n", files, files)));
  // The same pixels as in memory.
  const Split memory = load_image_folder(listing, 3, ImageSize{{8, 8}}, BadImages::Skip, skipped, pool);
  CHECK(split.images == memory.images);
  CHECK(split.labels == memory.labels);
}
