// A checkpoint's augmentation metadata: written as the flags write it, read back to the same
// recipe, absent for a run without augmentation, refused naming the key when malformed.
#include <catch2/catch.hpp>

#include "runtime/checkpoint/error.h"
#include "train/run_augmentation.h"

using namespace resnetc;

TEST_CASE("a run's augmentation goes into its metadata and reads back") {
  data::Augmentation a;
  a.random_resized_crop = data::RandomResizedCrop{{24, 20}, 0.25, 1, 0.5, 2.0 / 3.0};
  a.center_crop = data::CropSize{24, 20};
  a.flip = true;
  train::Metadata m;
  train::write_augmentation(m, a, {32, 30});
  CHECK(m == train::Metadata{{"augment_random_resized_crop", "24x20,scale=0.25:1,ratio=0.5:0.6666666666666666"},
                             {"augment_center_crop", "24x20"},
                             {"augment_image_size", "32x30"},
                             {"augment_flip", "true"}});
  CHECK(train::read_augmentation(m, "w") == a);
  CHECK(train::read_image_size(m, "w") == data::ImageSize{{32, 30}, false});
  train::Metadata plain;
  train::write_augmentation(plain, {}, {32, 30});
  CHECK(plain.empty());
  CHECK(train::read_augmentation(plain, "w").empty());
  CHECK_FALSE(train::read_image_size(plain, "w"));
}

TEST_CASE("a recipe's image size is recorded with or without a crop, as --image-size writes it") {
  train::Metadata shorter;
  train::write_augmentation(shorter, {}, {40, 40}, data::ImageSize{{40, 40}, true});
  CHECK(shorter == train::Metadata{{"augment_image_size", "40"}});
  CHECK(train::read_image_size(shorter, "w") == data::ImageSize{{40, 40}, true});
  data::Augmentation crop;
  crop.center_crop = data::CropSize{32, 32};
  train::Metadata exact;
  train::write_augmentation(exact, crop, {36, 48}, data::ImageSize{{36, 48}, false});
  CHECK(exact == train::Metadata{{"augment_center_crop", "32x32"}, {"augment_image_size", "36x48"}});
  CHECK(train::read_image_size(exact, "w") == data::ImageSize{{36, 48}, false});
}

TEST_CASE("malformed augmentation metadata is a CheckpointError naming the key") {
  auto refusal = [](const train::Metadata& m) {
    try {
      train::read_augmentation(m, "w.safetensors");
    } catch (const checkpoint::CheckpointError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(refusal({{"augment_random_crop", "32,padding"}}),
             Catch::Contains("metadata 'augment_random_crop' is '32,padding': expected SIZE[,padding=P]"));
  CHECK_THAT(refusal({{"augment_center_crop", "x"}}), Catch::Contains("metadata 'augment_center_crop' is 'x'"));
  CHECK_THAT(refusal({{"augment_flip", "yes"}}), Catch::Contains("metadata 'augment_flip' is 'yes', expected 'true'"));
}
