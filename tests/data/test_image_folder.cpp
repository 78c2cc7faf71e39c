#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/cpu/thread_pool.h"
#include "runtime/data/idx.h"
#include "runtime/data/image_decode.h"
#include "runtime/data/image_folder.h"
#include "runtime/data/load_size.h"
#include "runtime/data/memory_fit.h"
#include "tests/data/fixtures.h"

using namespace resnetc::data;
using resnetc::data::testing::data_error_message;
using resnetc::data::testing::TempDir;
using resnetc::data::testing::write_file;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// The fixture and torchvision's reading of it, from tests/data/make_image_golden.py.
const fs::path kGolden = fs::path(RESNETC_SOURCE_DIR) / "tests/data/golden";
const fs::path kFolder = kGolden / "folder";

void touch(const fs::path& file) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << "x";
}

}  // namespace

TEST_CASE("list_image_folder gives ImageFolder's classes, order and labels", "[image_folder]") {
  // Bag/notes.txt, which ImageFolder skips, stops the default listing and is skipped on request.
  CHECK_THAT(data_error_message([&] { list_image_folder(kFolder); }),
             Contains("notes.txt: not a PNG or JPEG image (its name ends in neither .png, .jpg nor .jpeg); move it "
                      "out of the class folder; --skip-bad-images leaves out"));
  const FolderListing listing = list_image_folder(kFolder, BadImages::Skip);
  REQUIRE(listing.skipped.size() == 1);
  CHECK_THAT(listing.skipped[0], Contains((kFolder / "Bag" / "notes.txt").string() + ": not a PNG or JPEG image"));
  CHECK(listing.classes == std::vector<std::string>{"Bag", "T-shirt", "Été"});
  std::ifstream samples(kGolden / "folder_samples.txt");
  std::vector<std::string> expected;
  for (std::string line; std::getline(samples, line);) expected.push_back(line);
  std::vector<std::string> got;
  for (size_t i = 0; i < listing.files.size(); ++i)
    got.push_back(std::to_string(listing.labels[i]) + " " + listing.files[i].lexically_relative(kFolder).string());
  CHECK(got == expected);
}

TEST_CASE("decoded and resized images equal what torchvision reads", "[image_folder]") {
  const FolderListing listing = list_image_folder(kFolder, BadImages::Skip);
  const auto [channels, height, width] = GENERATE(std::tuple{1, 28, 28}, std::tuple{3, 28, 28},
                                                  std::tuple{1, 32, 24}, std::tuple{3, 32, 24});
  const IdxArray golden = read_idx(kGolden / fmt::format("folder_{}x{}x{}.idx3-ubyte.gz", channels, height, width), 3);
  const Split split = load_image_folder(listing, channels, height, width);
  REQUIRE(golden.shape[0] == split.count * channels);
  CHECK(split.channels == channels);
  CHECK(split.labels == std::vector<int32_t>(listing.labels.begin(), listing.labels.end()));
  const auto image_bytes = static_cast<size_t>(channels * height * width);
  for (int64_t i = 0; i < split.count; ++i) {
    INFO(listing.files[static_cast<size_t>(i)].string() << " as " << channels << "x" << height << "x" << width);
    const auto at = static_cast<std::ptrdiff_t>(static_cast<size_t>(i) * image_bytes);
    CHECK(std::equal(split.images.begin() + at, split.images.begin() + at + static_cast<std::ptrdiff_t>(image_bytes),
                     golden.data.begin() + at));
  }
}

TEST_CASE("--image-size N places each image as torchvision's Resize(N) then CenterCrop(N)", "[image_folder]") {
  std::ifstream table(kGolden / "load_geometry.txt");
  int rows = 0;
  for (std::string line; std::getline(table, line);) {
    if (line.starts_with('#')) continue;
    std::istringstream fields(line);
    int64_t height = 0, width = 0, n = 0;
    LoadGeometry expected;
    fields >> height >> width >> n >> expected.resized_height >> expected.resized_width >> expected.top >> expected.left;
    INFO(line);
    CHECK(load_geometry(ImageSize{{n, n}, true}, height, width) == expected);
    ++rows;
  }
  CHECK(rows == 16);
  // HxW resizes exactly, whatever the image's shape.
  CHECK(load_geometry(ImageSize{{36, 48}, false}, 500, 333) == LoadGeometry{36, 48, 0, 0});
}

TEST_CASE("images kept at --image-size N equal torchvision's Resize(N) + CenterCrop(N)", "[image_folder]") {
  const FolderListing listing = list_image_folder(kFolder, BadImages::Skip);
  const auto [channels, n] = GENERATE(std::tuple{1, 24}, std::tuple{3, 24}, std::tuple{1, 15}, std::tuple{3, 15});
  const IdxArray golden = read_idx(kGolden / fmt::format("folder_{}x{}_shorter.idx3-ubyte.gz", channels, n), 3);
  std::vector<std::string> skipped;
  const Split split = load_image_folder(listing, channels, ImageSize{{n, n}, true}, BadImages::Refuse, skipped,
                                        resnetc::cpu::ThreadPool::global());
  REQUIRE(golden.shape[0] == split.count * channels);
  CHECK((split.height == n && split.width == n));
  const auto image_bytes = static_cast<size_t>(channels * n * n);
  for (int64_t i = 0; i < split.count; ++i) {
    INFO(listing.files[static_cast<size_t>(i)].string() << " at --image-size " << n << ", " << channels << " channels");
    const auto at = static_cast<std::ptrdiff_t>(static_cast<size_t>(i) * image_bytes);
    CHECK(std::equal(split.images.begin() + at, split.images.begin() + at + static_cast<std::ptrdiff_t>(image_bytes),
                     golden.data.begin() + at));
  }
}

TEST_CASE("a folder whose images would not fit in memory is refused before decoding", "[image_folder]") {
  CHECK_NOTHROW(check_memory_fits(1000, 1000, "x"));
  CHECK(data_error_message([] {
          check_memory_fits(3ull * 256 * 256 * 1331167, 16'000'000'000ull, "data's 1331167 images at 3x256x256");
        }) == "data's 1331167 images at 3x256x256 need 261.7 GB of memory, kept decoded as uint8, but 16.0 GB is "
              "available: give a smaller --image-size (or `image_size` in the train section), free memory, or keep "
              "them in a file (--image-cache disk)");
  CHECK(available_memory().value_or(1) > 0);
}

TEST_CASE("a folder that is not an image folder is a clear error", "[image_folder]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "data";
  CHECK_THAT(data_error_message([&] { list_image_folder(root); }), Contains("it does not exist"));
  fs::create_directories(root);
  CHECK_THAT(data_error_message([&] { list_image_folder(root); }), Contains("no class folders"));
  touch(root / "cat" / ".DS_Store");  // hidden and not named as an image: not a file of the data set
  CHECK_THAT(data_error_message([&] { list_image_folder(root); }), Contains("no PNG or JPEG image in class folder 'cat'"));
  touch(root / "cat" / "readme.txt");
  CHECK_THAT(data_error_message([&] { list_image_folder(root); }),
             Contains("readme.txt: not a PNG or JPEG image (its name ends in neither .png, .jpg nor .jpeg)"));
  CHECK_THAT(data_error_message([&] { list_image_folder(root, BadImages::Skip); }),
             Contains("no PNG or JPEG image in class folder 'cat'"));
  touch(root / "cat" / "deep" / "photo.BMP");
  CHECK_THAT(data_error_message([&] { list_image_folder(root / "cat"); }),
             Contains("photo.BMP: bmp files are not read (PNG and JPEG are)"));
  CHECK_THAT(data_error_message([&] { images_below(root / "cat"); }),
             Contains("photo.BMP: bmp files are not read (PNG and JPEG are)"));
}

TEST_CASE("a folder of more classes than a byte holds keeps every label", "[image_folder]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "data";
  for (int c = 0; c < 300; ++c) {
    const fs::path dir = root / fmt::format("k{:03d}", c);
    fs::create_directories(dir);
    fs::copy_file(kFolder / "Bag" / "a_gray.png", dir / "a.png");
  }
  const FolderListing listing = list_image_folder(root);
  REQUIRE(listing.classes.size() == 300);
  CHECK(listing.classes.back() == "k299");
  const Split split = load_image_folder(listing, 1, 4, 4);
  std::vector<int32_t> expected(300);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(split.labels == expected);
}

TEST_CASE("BadImages::Skip leaves out the files that are not readable images, labels kept in step", "[image_folder]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "data";
  fs::copy(kFolder, root, fs::copy_options::recursive);
  const fs::path cut = root / "Bag" / "b_rgb.png", fake = root / "T-shirt" / "fake.jpg";
  fs::resize_file(cut, fs::file_size(cut) / 2);
  write_file(fake, {'h', 'e', 'l', 'l', 'o'});
  touch(root / "Été" / "deep" / "photo.webp");

  CHECK_THAT(data_error_message([&] { list_image_folder(root); }), Contains("notes.txt: not a PNG or JPEG image"));
  const FolderListing listing = list_image_folder(root, BadImages::Skip);
  REQUIRE(listing.skipped.size() == 2);
  CHECK_THAT(listing.skipped[0], Contains("notes.txt: not a PNG or JPEG image"));
  CHECK_THAT(listing.skipped[1], Contains("photo.webp: webp files are not read"));
  std::vector<std::string> unused;
  CHECK_THAT(data_error_message([&] {
               load_image_folder(listing, 3, ImageSize{{8, 8}}, BadImages::Refuse, unused, resnetc::cpu::ThreadPool::global());
             }),
             Contains(cut.string() + ": not a readable PNG") && Contains("--skip-bad-images leaves out"));

  std::vector<std::string> skipped;
  const Split split = load_image_folder(listing, 3, ImageSize{{8, 8}}, BadImages::Skip, skipped, resnetc::cpu::ThreadPool::global());
  REQUIRE(skipped.size() == 2);  // in the listing's order
  CHECK_THAT(skipped[0], Contains(cut.string() + ": not a readable PNG"));
  CHECK_THAT(skipped[1], Contains(fake.string() + ": neither a PNG nor a JPEG file"));
  // Every other image, as it decodes alone, beside its own label.
  REQUIRE(split.count == static_cast<int64_t>(listing.files.size()) - 2);
  REQUIRE(split.labels.size() == static_cast<size_t>(split.count));
  size_t kept = 0;
  for (size_t i = 0; i < listing.files.size(); ++i) {
    if (listing.files[i] == cut || listing.files[i] == fake) continue;
    const Split one = load_images(std::span(listing.files).subspan(i, 1), 3, 8, 8);
    INFO(listing.files[i].string());
    CHECK(std::equal(one.images.begin(), one.images.end(), split.images.begin() + static_cast<std::ptrdiff_t>(kept * 192)));
    CHECK(split.labels[kept] == listing.labels[i]);
    ++kept;
  }

  // Nothing readable left: an error, not an empty split.
  const FolderListing only_bad{{"Bag"}, {cut}, {0}, {}};
  CHECK_THAT(data_error_message([&] {
               load_image_folder(only_bad, 1, ImageSize{{8, 8}}, BadImages::Skip, unused, resnetc::cpu::ThreadPool::global());
             }),
             Contains("not one of the 1 image files could be read; the first: " + cut.string()));
}

TEST_CASE("a 16-bit PNG keeps each sample's high byte; a CMYK JPEG is refused", "[image_folder]") {
  // gray16.png holds 257 x gray8.png's pixels (make_image_golden.py).
  const Image wide = decode_image_file(kGolden / "odd/gray16.png", 1);
  const Image narrow = decode_image_file(kGolden / "odd/gray8.png", 1);
  CHECK(wide.pixels == narrow.pixels);
  CHECK(std::any_of(narrow.pixels.begin(), narrow.pixels.end(), [](uint8_t v) { return v > 0 && v < 255; }));
  CHECK_THAT(data_error_message([&] { decode_image_file(kGolden / "odd/cmyk.jpg", 3); }),
             Contains("cmyk.jpg: a CMYK JPEG, which resnetc does not read: convert it to RGB"));
}

TEST_CASE("a file that is not a readable image is named in the error", "[image_folder]") {
  TempDir tmp;
  write_file(tmp.path() / "text.png", {'h', 'e', 'l', 'l', 'o'});
  CHECK_THAT(data_error_message([&] { decode_image_file(tmp.path() / "text.png", 3); }),
             Contains("text.png: neither a PNG nor a JPEG file"));
  // A real PNG and JPEG cut short: the decoders' own reasons, after the file's name.
  for (const char* name : {"Bag/b_rgb.png", "Bag/c_color.jpg"}) {
    std::ifstream in(kFolder / name, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    bytes.resize(bytes.size() / 2);
    const fs::path cut = tmp.path() / fs::path(name).filename();
    write_file(cut, bytes);
    CHECK_THAT(data_error_message([&] { decode_image_file(cut, 3); }), Contains(cut.string() + ": not a readable"));
  }
  CHECK_THAT(data_error_message([&] { decode_image_file(tmp.path() / "missing.png", 1); }), Contains("missing.png"));
  CHECK_THAT(data_error_message([&] { decode_image_file(kFolder / "Bag/a_gray.png", 4); }), Contains("1 or 3 channels"));
}
