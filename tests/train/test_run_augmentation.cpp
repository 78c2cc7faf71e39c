// A checkpoint's augmentation metadata: written as the flags write it, read back to the same
// recipe, absent for a run without augmentation, refused naming the key when malformed; and a
// resume's choice between the checkpoint's and the recipe's.
#include <catch2/catch.hpp>

#include <sstream>

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

TEST_CASE("a resume keeps the checkpoint's image size, and refuses another unless allowed") {
  const data::CropSize input{32, 32};
  train::Metadata m;
  train::write_augmentation(m, {}, {40, 40}, data::ImageSize{{40, 40}, true});
  std::ostringstream out;
  CHECK(train::run_image_size(std::nullopt, input, &m, "r.st", false, out) == data::ImageSize{{40, 40}, true});
  CHECK(train::run_image_size(data::ImageSize{{40, 40}, true}, input, &m, "r.st", false, out) ==
        data::ImageSize{{40, 40}, true});
  CHECK_THROWS_WITH(train::run_image_size(data::ImageSize{{40, 40}, false}, input, &m, "r.st", false, out),
                    Catch::Contains("r.st was trained on images kept at --image-size 40, not 40x40;"));
  // A checkpoint without the key kept them at the input's size: asking for it exactly is no change.
  const train::Metadata plain;
  CHECK(train::run_image_size(data::ImageSize{input}, input, &plain, "r.st", false, out) == data::ImageSize{input});
  CHECK_THROWS_WITH(train::run_image_size(data::ImageSize{{48, 48}, true}, input, &plain, "r.st", false, out),
                    Catch::Contains("kept at --image-size 32x32 (the input's size), not 48;"));
  CHECK(out.str().empty());
  CHECK(train::run_image_size(data::ImageSize{{48, 48}, true}, input, &plain, "r.st", true, out) ==
        data::ImageSize{{48, 48}, true});
  CHECK_THAT(out.str(), Catch::Contains("note: resuming with the images kept at another size: 48 (the checkpoint's: "
                                        "32x32 (the input's size))"));
  CHECK(train::run_image_size(std::nullopt, input, nullptr, "r.st", false, out) == std::nullopt);
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

TEST_CASE("a resume continues with the checkpoint's augmentation, and refuses another unless allowed") {
  train::TrainOptions options;
  options.checkpoint = "run.safetensors";
  data::Augmentation saved;
  saved.random_crop = data::RandomCrop{{32, 32}, 4};
  saved.flip = true;
  train::Metadata m;
  train::write_augmentation(m, saved, {32, 32});
  std::ostringstream out;
  CHECK(train::run_augmentation(options, &m, out) == saved);  // none asked: the checkpoint's
  CHECK(train::run_augmentation(options, nullptr, out).empty());
  options.recipe.augmentation = saved;
  CHECK(train::run_augmentation(options, &m, out) == saved);
  options.recipe.augmentation.flip = false;
  CHECK_THROWS_WITH(train::run_augmentation(options, &m, out),
                    Catch::Contains("run.safetensors was trained with augmentation random crop 32x32,padding=4, flip, "
                                    "not random crop 32x32,padding=4;"));
  CHECK(out.str().empty());
  options.allow_recipe_change = true;
  CHECK(train::run_augmentation(options, &m, out) == options.recipe.augmentation);
  CHECK_THAT(out.str(), Catch::Contains("note: resuming with a changed augmentation"));
}
