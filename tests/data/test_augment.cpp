// The augmentation (runtime/data/augment.h): its text, its views pinned against an independent
// implementation of the rules (tests/data/augment_views.py), the pixels of each transform against
// a direct loop, the determinism of the draws, and the refusals.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "runtime/data/augment.h"
#include "runtime/data/resize.h"
#include "runtime/data/sampler.h"

using namespace resnetc::data;

namespace {

Split random_split(int64_t count, int64_t channels, int64_t height, int64_t width, unsigned seed) {
  Split split{count, height, width, {}, {}};
  split.channels = channels;
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < count * channels * height * width; ++i) split.images.push_back(static_cast<uint8_t>(rng()));
  for (int64_t i = 0; i < count; ++i) split.labels.push_back(static_cast<uint8_t>(i % 10));
  return split;
}

std::vector<View> views_of(const ImageTransform& t, uint64_t seed, int epoch, uint32_t n) {
  std::vector<View> views;
  for (uint32_t i = 0; i < n; ++i) views.push_back(t.view(seed, epoch, i));
  return views;
}

Augmentation crop(int64_t size, int64_t padding, bool flip) {
  Augmentation a;
  a.random_crop = RandomCrop{{size, size}, padding};
  a.flip = flip;
  return a;
}

Augmentation resized(RandomResizedCrop c) {
  Augmentation a;
  a.random_resized_crop = c;
  a.flip = true;
  return a;
}

}  // namespace

TEST_CASE("augmentation text reads back to the same value and bad text says what it expected", "[augment]") {
  CHECK(parse_crop_size("24") == CropSize{24, 24});
  CHECK(parse_crop_size("24x20") == CropSize{24, 20});
  CHECK(parse_random_crop("32,padding=4") == RandomCrop{{32, 32}, 4});
  CHECK(parse_random_crop("28") == RandomCrop{{28, 28}, 0});
  const RandomResizedCrop defaults = parse_random_resized_crop("224");
  CHECK(defaults.scale_min == 0.08);
  CHECK(defaults.ratio_max == 4.0 / 3.0);
  const RandomResizedCrop c = parse_random_resized_crop("32x30,ratio=0.5:2,scale=0.25:0.75");
  CHECK(c == RandomResizedCrop{{32, 30}, 0.25, 0.75, 0.5, 2});
  for (const RandomResizedCrop& r : {defaults, c}) CHECK(parse_random_resized_crop(format_random_resized_crop(r)) == r);
  CHECK(parse_random_crop(format_random_crop({{32, 32}, 4})) == RandomCrop{{32, 32}, 4});
  CHECK(describe(crop(32, 4, true)) == "random crop 32x32,padding=4, flip");
  CHECK(describe({}) == "none");
  // --image-size: a side alone resizes the shorter side, then center crops; HxW is exact.
  CHECK(parse_image_size("256") == ImageSize{{256, 256}, true});
  CHECK(parse_image_size("256x256") == ImageSize{{256, 256}, false});
  for (const char* text : {"40", "36x48"}) CHECK(format_image_size(parse_image_size(text)) == text);

  auto message = [](auto parse, const char* text) {
    try {
      parse(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(message(parse_crop_size, "0") == "expected a size N or HxW (each side from 1 to 32768), got '0'");
  CHECK(message(parse_crop_size, "32x") == "expected a size N or HxW (each side from 1 to 32768), got '32x'");
  CHECK(message(parse_image_size, "32769") == "expected a size N or HxW (each side from 1 to 32768), got '32769'");
  CHECK(message(parse_random_crop, "32,pad=4") == "expected SIZE[,padding=P], got '32,pad=4'");
  CHECK(message(parse_random_crop, "32,padding=-1") ==
        "padding: expected a whole number from 0 to 32768, got '-1'");
  CHECK(message(parse_random_resized_crop, "32,scale=0.5:0.1") ==
        "scale 0.5:0.1: the minimum is above the maximum");
  CHECK(message(parse_random_resized_crop, "32,scale=0.5:2") ==
        "scale 0.5:2: the fractions of the image's area must be at most 1");
  CHECK(message(parse_random_resized_crop, "32,ratio=0:1") == "expected a number above 0, got '0'");
  CHECK(message(parse_random_resized_crop, "32,ratio=1") == "ratio expects a range MIN:MAX, got '1'");
  CHECK(message(parse_random_resized_crop, "32,scale=0.1:1,scale=0.2:1") ==
        "expected SIZE[,scale=A:B][,ratio=C:D], got '32,scale=0.1:1,scale=0.2:1'");
}

TEST_CASE("random crops and flips are the independent implementation's", "[augment]") {
  // python3 tests/data/augment_views.py crop 32 32 32 4 42 0 8 (and epoch 1; crop 28 28 24 2 5 2 6)
  const ImageTransform cifar = ImageTransform::training(crop(32, 4, true), 32, 32, 32, 32);
  CHECK(views_of(cifar, 42, 0, 8) == std::vector<View>{{0, 3, 32, 32, 1}, {3, 0, 32, 32, 0}, {0, 3, 32, 32, 1},
                                                        {3, 2, 32, 32, 1}, {-1, 3, 32, 32, 0}, {1, 4, 32, 32, 0},
                                                        {-4, 4, 32, 32, 1}, {-2, -4, 32, 32, 1}});
  CHECK(views_of(cifar, 42, 1, 8) == std::vector<View>{{-2, 1, 32, 32, 1}, {-2, -4, 32, 32, 0}, {0, 4, 32, 32, 0},
                                                        {-1, -2, 32, 32, 1}, {4, 0, 32, 32, 0}, {1, -2, 32, 32, 0},
                                                        {3, 0, 32, 32, 0}, {3, -3, 32, 32, 0}});
  const ImageTransform smaller = ImageTransform::training(crop(24, 2, true), 28, 28, 12, 12);
  CHECK(views_of(smaller, 5, 2, 6) == std::vector<View>{{6, 0, 24, 24, 0}, {0, -2, 24, 24, 1}, {1, 0, 24, 24, 1},
                                                         {3, 3, 24, 24, 1}, {1, 3, 24, 24, 0}, {4, 0, 24, 24, 1}});
}

TEST_CASE("random-resized crops follow torchvision's get_params rule, fallback included", "[augment]") {
  // python3 tests/data/augment_views.py resized H W S0 S1 R0 R1 SEED EPOCH N
  const RandomResizedCrop standard{{32, 32}};
  CHECK(views_of(ImageTransform::training(resized(standard), 32, 32, 32, 32), 42, 0, 8) ==
        std::vector<View>{{12, 6, 20, 25, 1}, {0, 0, 29, 29, 0}, {1, 1, 21, 25, 1}, {0, 0, 28, 31, 1},
                          {3, 7, 20, 24, 0}, {1, 0, 23, 30, 0}, {0, 18, 10, 13, 1}, {7, 6, 20, 15, 1}});
  CHECK(views_of(ImageTransform::training(resized({{16, 16}}), 28, 20, 16, 16), 7, 3, 8) ==
        std::vector<View>{{3, 7, 9, 11, 1}, {3, 0, 22, 20, 1}, {5, 1, 23, 19, 0}, {14, 1, 13, 13, 1},
                          {1, 7, 11, 12, 1}, {2, 4, 17, 16, 1}, {1, 0, 20, 20, 0}, {9, 1, 18, 18, 1}});
  // No try can fit (the whole area at ratio 2..3 of a square is wider than it): the fallback cuts
  // the image to the nearest ratio, 2, centered; a wide image, to ratio 2 the other way.
  CHECK(views_of(ImageTransform::training(resized({{16, 16}, 1, 1, 2, 3}), 16, 16, 16, 16), 7, 3, 3) ==
        std::vector<View>{{4, 0, 8, 16, 1}, {4, 0, 8, 16, 1}, {4, 0, 8, 16, 0}});
  CHECK(views_of(ImageTransform::training(resized({{16, 16}, 1, 1, 0.5, 2}), 10, 30, 16, 16), 1, 0, 2) ==
        std::vector<View>{{0, 5, 10, 20, 1}, {0, 5, 10, 20, 0}});
  // Over many images every view lies in the image, its area within the scale's range (up to the
  // rounding of each side) and its ratio within the ratio's.
  const ImageTransform t = ImageTransform::training(resized({{32, 32}, 0.25, 0.5, 0.5, 2}), 64, 48, 32, 32);
  for (uint32_t i = 0; i < 2000; ++i) {
    const View v = t.view(9, 1, i);
    REQUIRE(v.top >= 0);
    REQUIRE(v.left >= 0);
    REQUIRE(v.top + v.height <= 64);
    REQUIRE(v.left + v.width <= 48);
    const double area = static_cast<double>(v.height * v.width) / (64.0 * 48.0);
    CHECK(area >= 0.25 * (1 - 2.0 / std::min(v.height, v.width)));
    CHECK(area <= 0.5 * (1 + 2.5 / std::min(v.height, v.width)));
  }
}

TEST_CASE("center crops are torchvision's CenterCrop: offsets rounded half to even", "[augment]") {
  Augmentation a;
  auto center = [&](int64_t size, int64_t height, int64_t width) {
    a.center_crop = CropSize{size, size};
    return ImageTransform::evaluation(a, height, width).view(0, 0, 0);
  };
  CHECK(center(24, 28, 28) == View{2, 2, 24, 24, false});
  CHECK(center(4, 7, 9) == View{2, 2, 4, 4, false});  // int(round(1.5)) = 2, int(round(2.5)) = 2
  CHECK(center(4, 8, 11) == View{2, 4, 4, 4, false});  // round(2.0), round(3.5) = 4
  // Training without a random crop sees evaluation's center crop, flipped or not.
  a.center_crop = CropSize{24, 24};
  a.flip = true;
  std::set<bool> flips;
  const ImageTransform t = ImageTransform::training(a, 28, 28, 24, 24);
  for (uint32_t i = 0; i < 16; ++i) {
    const View v = t.view(3, 0, i);
    CHECK(v.top == 2);
    CHECK(v.left == 2);
    flips.insert(v.flip);
  }
  CHECK(flips.size() == 2);
  CHECK(ImageTransform::evaluation(a, 28, 28).view(3, 0, 1).flip == false);
  CHECK_FALSE(ImageTransform::training(a, 28, 28, 24, 24).identity());
  CHECK(ImageTransform::evaluation(crop(32, 4, true), 32, 32).identity());
}

TEST_CASE("the draws are a function of seed, epoch and image alone", "[augment]") {
  const ImageTransform t = ImageTransform::training(crop(32, 4, true), 32, 32, 32, 32);
  // The same triple gives the same view whatever was drawn before, and in any order.
  const View late = t.view(11, 5, 999);
  (void)views_of(t, 11, 4, 100);
  CHECK(t.view(11, 5, 999) == late);
  // Another epoch, seed or image gives other views: of 1000 images, most differ.
  int other_epoch = 0, other_seed = 0;
  std::set<std::pair<int, int>> offsets;
  int flipped = 0;
  for (uint32_t i = 0; i < 1000; ++i) {
    const View v = t.view(11, 5, i);
    other_epoch += t.view(11, 6, i) != v;
    other_seed += t.view(12, 5, i) != v;
    offsets.insert({v.top, v.left});
    flipped += v.flip;
  }
  CHECK(other_epoch > 950);  // 81 offsets x 2 flips: 1/162 collide by chance
  CHECK(other_seed > 950);
  CHECK(offsets.size() == 81);  // every offset from -4 to 4 on each axis
  CHECK(flipped > 430);
  CHECK(flipped < 570);
  // The draws and the shuffle are separate streams: word 0 is not the epoch order's key.
  CHECK(augment_word(1, 0, 0, 0) != order_key(order_stream(1, 0), 0, 0));
  CHECK(below(~uint64_t{0}, 9) == 8);
  CHECK(below(0, 9) == 0);
  CHECK(unit(~uint64_t{0}) < 1.0);
}

TEST_CASE("a padded, cropped and flipped batch is the direct loop's", "[augment]") {
  const Split split = random_split(5, 3, 6, 7, 4);
  const ImageTransform t = ImageTransform::training(crop(6, 2, true), 6, 7, 6, 6);
  const std::vector<uint32_t> indices{4, 0, 2, 2};
  std::vector<View> views;
  for (const uint32_t i : indices) views.push_back(t.view(8, 1, i));
  std::vector<float> got(indices.size() * 3 * 36);
  std::vector<int32_t> labels(indices.size());
  fill_view_batch(split, indices, views, 6, 6, got.data(), labels.data());
  bool some_flipped = false, some_padded = false;
  for (size_t b = 0; b < indices.size(); ++b) {
    const View& v = views[b];
    some_flipped |= v.flip;
    CHECK(labels[b] == split.labels[indices[b]]);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 6; ++y)
        for (int64_t x = 0; x < 6; ++x) {
          // torchvision: pad the image by 2 zeros, take rows/columns from the offset, then mirror.
          const int64_t sx = v.flip ? 5 - x : x;
          const int64_t row = v.top + y, col = v.left + sx;
          const bool inside = row >= 0 && row < 6 && col >= 0 && col < 7;
          some_padded |= !inside;
          const uint8_t pixel = inside ? split.images[static_cast<size_t>(((indices[b] * 3 + c) * 6 + row) * 7 + col)] : 0;
          CHECK(got[static_cast<size_t>(((b * 3 + c) * 6 + y) * 6 + x)] == static_cast<float>(pixel) / 255.0f);
        }
  }
  CHECK(some_flipped);
  CHECK(some_padded);
}

TEST_CASE("a view of another size is cropped, then resized as PIL resizes the crop", "[augment]") {
  const Split split = random_split(3, 2, 20, 18, 6);
  const std::vector<uint32_t> indices{2, 1};
  const std::vector<View> views{{3, 5, 11, 9, true}, {0, 0, 20, 18, false}};
  const Normalization n{{0.25f, 0.5f}, {0.5f, 0.125f}};
  std::vector<float> got(2 * 2 * 8 * 10);
  std::vector<int32_t> labels(2);
  fill_view_batch(split, indices, views, 8, 10, got.data(), labels.data(), n);
  for (size_t b = 0; b < 2; ++b) {
    const View& v = views[b];
    const Resizer resizer(v.height, v.width, 8, 10);
    std::vector<uint8_t> scratch(resizer.scratch_size());
    for (int64_t c = 0; c < 2; ++c) {
      std::vector<uint8_t> cropped;
      for (int64_t y = 0; y < v.height; ++y)
        for (int64_t x = 0; x < v.width; ++x)
          cropped.push_back(split.images[static_cast<size_t>(((indices[b] * 2 + c) * 20 + v.top + y) * 18 + v.left + x)]);
      std::vector<float> want(80);
      resizer.resize(cropped, want, scratch);
      for (int64_t y = 0; y < 8; ++y)
        for (int64_t x = 0; x < 10; ++x) {
          const float value = want[static_cast<size_t>(y * 10 + (v.flip ? 9 - x : x))];
          CHECK(got[static_cast<size_t>(((b * 2 + c) * 8 + y) * 10 + x)] == normalize_value(value, n.mean[c], n.std[c]));
        }
    }
  }
}

TEST_CASE("the whole image unflipped is the plain batch", "[augment]") {
  const Split split = random_split(4, 1, 9, 9, 2);
  const std::vector<uint32_t> indices{3, 1};
  std::vector<float> plain(2 * 81), viewed(2 * 81);
  std::vector<int32_t> labels(2);
  fill_batch(split, indices, Resizer(9, 9, 9, 9), plain.data(), labels.data());
  const std::vector<View> whole(2, View{0, 0, 9, 9, false});
  fill_view_batch(split, indices, whole, 9, 9, viewed.data(), labels.data());
  CHECK(plain == viewed);
}

TEST_CASE("crops that do not fit are refused, saying why", "[augment]") {
  auto refusal = [](const Augmentation& a, int64_t out = 32) {
    try {
      (void)ImageTransform::training(a, 32, 32, out, out);
      (void)ImageTransform::evaluation(a, 32, 32);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(refusal(crop(41, 4, false)) == "the random crop 41x41 is larger than the images, 32x32, padded by 4 (40x40)");
  CHECK(refusal(crop(40, 4, false)) == "accepted");
  CHECK(refusal(crop(33, 0, false)) == "the random crop 33x33 is larger than the images, 32x32");
  Augmentation center;
  center.center_crop = CropSize{32, 34};
  CHECK(refusal(center) == "the center crop 32x34 is larger than the images, 32x32");
  CHECK(refusal(resized({{24, 24}})) ==
        "the random-resized crop's size 24x24 must be the network's input, 32x32 (the crop is resized to it)");
  Augmentation both = resized({{32, 32}});
  both.random_crop = RandomCrop{{32, 32}, 4};
  CHECK(refusal(both) == "a random crop and a random-resized crop cannot both be asked for: choose one");
  std::vector<float> out(4);
  std::vector<int32_t> labels(1);
  const Split split = random_split(1, 1, 2, 2, 1);
  CHECK_THROWS_AS(fill_view_batch(split, std::vector<uint32_t>{1}, std::vector<View>{{0, 0, 2, 2}}, 2, 2, out.data(),
                                  labels.data()),
                  std::out_of_range);
  CHECK_THROWS_AS(fill_view_batch(split, std::vector<uint32_t>{0}, std::vector<View>{{0, 0, 0, 2}}, 2, 2, out.data(),
                                  labels.data()),
                  std::invalid_argument);
}
