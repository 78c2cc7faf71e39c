// A checkpoint's normalization metadata: written exactly, read back to the same float32 values,
// and refused, naming the field, when malformed; and a resume's one rule: what the recipe asks
// none of is the checkpoint's, and a field that differs from it is a change.
#include <catch2/catch.hpp>

#include "runtime/checkpoint/error.h"
#include "train/run_augmentation.h"
#include "train/run_record.h"

using namespace resnetc;

constexpr data::CropSize kInput{32, 32};  // the network's input size

TEST_CASE("a run's normalization goes into its metadata and reads back bit for bit") {
  const data::Normalization n{{0.4914f, 0.4822f, 0.28787634f}, {0.247f, 0.243f, 0.31197065f}};
  const train::Metadata m = train::run_metadata("net", {}, {}, {}, n);
  CHECK(m.at("normalize_mean") == "0.4914,0.4822,0.28787634");
  CHECK(m.at("normalize_std") == "0.247,0.243,0.31197065");
  CHECK(train::read_normalization(m, "w") == n);
  // None: no keys at all, so such checkpoints keep their bytes.
  const train::Metadata plain = train::run_metadata("net", {}, {});
  CHECK(plain.count("normalize_mean") == 0);
  CHECK(plain.count("normalize_std") == 0);
  CHECK(train::read_normalization(plain, "w").empty());
}

TEST_CASE("malformed normalization metadata is a CheckpointError naming the field") {
  auto refusal = [](train::Metadata m) {
    try {
      train::read_normalization(m, "w.safetensors");
    } catch (const checkpoint::CheckpointError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(refusal({{"normalize_mean", "0.5"}}), Catch::Contains("has 'normalize_mean' but no 'normalize_std'"));
  CHECK_THAT(refusal({{"normalize_mean", "0.5,x"}, {"normalize_std", "1"}}),
             Catch::Contains("'normalize_mean' is '0.5,x'"));
  CHECK_THAT(refusal({{"normalize_mean", "0.5"}, {"normalize_std", "0"}}), Catch::Contains("'normalize_std' is '0'"));
  CHECK_THAT(refusal({{"normalize_mean", "0.5,0.5"}, {"normalize_std", "1"}}),
             Catch::Contains("'normalize_mean' has 2 values but 'normalize_std' 1"));
}

TEST_CASE("the modern recipe's fields are written when not at their defaults, and a missing one is its default") {
  train::Recipe adamw;
  adamw.optimizer = train::Optimizer::AdamW;
  adamw.label_smoothing = 0.1;
  const train::Metadata m = train::run_metadata("net", adamw, {});
  CHECK(m.at("optimizer") == "adamw");
  CHECK(m.at("label_smoothing") == "0.1");
  CHECK(m.count("beta1") == 0);  // AdamW's default
  CHECK(train::recipe_changes(m, adamw, kInput, "w").empty());
  // An older checkpoint (or one of the default recipe) records none: it was plain SGD.
  const train::Metadata plain = train::run_metadata("net", {}, {});
  CHECK(plain.count("optimizer") == 0);
  CHECK(train::recipe_changes(plain, adamw, kInput, "w") ==
        std::vector<std::string>{"optimizer adamw (the checkpoint's: sgd)", "label_smoothing 0.1 (the checkpoint's: 0)"});
  CHECK(train::recipe_changes(plain, {}, kInput, "w").empty());
}

TEST_CASE("a resume continues with the checkpoint's augmentation, and another is a change") {
  data::Augmentation saved;
  saved.random_crop = data::RandomCrop{{32, 32}, 4};
  saved.flip = true;
  train::Metadata m = train::run_metadata("net", {}, {});
  train::write_augmentation(m, saved, {32, 32});
  train::Recipe r;
  train::continue_recipe(r, m, "run.safetensors");  // none asked: the checkpoint's
  CHECK(r.augmentation == saved);
  CHECK(train::recipe_changes(m, r, kInput, "run.safetensors").empty());
  r.augmentation.flip = false;
  train::continue_recipe(r, m, "run.safetensors");  // one asked: kept
  CHECK(train::recipe_changes(m, r, kInput, "run.safetensors") ==
        std::vector<std::string>{"augmentation random crop 32x32,padding=4 (the checkpoint's: random crop "
                                 "32x32,padding=4, flip)"});
}

TEST_CASE("a resume continues with a folder's image size, and another is a change") {
  train::Metadata m = train::run_metadata("net", {}, {});
  train::write_augmentation(m, {}, {40, 40}, data::ImageSize{{40, 40}, true});
  train::Recipe folder;
  folder.dataset = "folder";
  train::continue_recipe(folder, m, "r.st");
  CHECK(folder.image_size == data::ImageSize{{40, 40}, true});
  CHECK(train::recipe_changes(m, folder, kInput, "r.st").empty());
  folder.image_size = data::ImageSize{{40, 40}, false};
  CHECK(train::recipe_changes(m, folder, kInput, "r.st") ==
        std::vector<std::string>{"image_size 40x40 (the checkpoint's: 40)"});
  // A checkpoint without the key kept them at the input's size: asking for it exactly is no change.
  const train::Metadata plain = train::run_metadata("net", {}, {});
  folder.image_size = data::ImageSize{kInput};
  CHECK(train::recipe_changes(plain, folder, kInput, "r.st").empty());
  folder.image_size = data::ImageSize{{48, 48}, true};
  CHECK(train::recipe_changes(plain, folder, kInput, "r.st") ==
        std::vector<std::string>{"image_size 48 (the checkpoint's: 32x32 (the input's size))"});
  // Other data sets' images are kept as their files hold them: a center crop's record is no image size.
  data::Augmentation crop;
  crop.center_crop = data::CropSize{24, 24};
  train::Metadata cropped = train::run_metadata("net", {}, {});
  train::write_augmentation(cropped, crop, {28, 28});
  train::Recipe mnist;
  mnist.dataset = "mnist";
  train::continue_recipe(mnist, cropped, "r.st");
  CHECK_FALSE(mnist.image_size);
  CHECK(train::recipe_changes(cropped, mnist, {24, 24}, "r.st").empty());
}

TEST_CASE("a resume continues with the checkpoint's normalization unless one is asked, and another is a change") {
  const data::Normalization saved{{0.5f}, {0.25f}};
  const train::Metadata m = train::run_metadata("net", {}, {}, {}, saved);
  train::Recipe r;
  train::continue_recipe(r, m, "w");
  CHECK(r.normalization.values == saved);
  CHECK(train::recipe_changes(m, r, kInput, "w").empty());
  train::Recipe computed;
  computed.normalization.compute = true;  // the training set's statistics, asked: not the checkpoint's
  train::continue_recipe(computed, m, "w");
  CHECK(computed.normalization.values.empty());
  train::Recipe other;
  other.normalization.values = {{0.4f}, {0.25f}};
  CHECK(train::recipe_changes(m, other, kInput, "w") ==
        std::vector<std::string>{"normalization mean 0.4 std 0.25 (the checkpoint's: mean 0.5 std 0.25)"});
  CHECK(train::recipe_changes(train::run_metadata("net", {}, {}), other, kInput, "w") ==
        std::vector<std::string>{"normalization mean 0.4 std 0.25 (the checkpoint's: none)"});
}

TEST_CASE("a resume adopts the whole recipe the checkpoint records, in place of the file's") {
  train::Recipe ran;
  ran.dataset = "folder";
  ran.epochs = 7;
  ran.batch = 24;
  ran.lr = 0.02;
  ran.momentum = 0.8;
  ran.weight_decay = 1e-4;
  ran.schedule = train::Schedule::Cosine;
  ran.seed = 18446744073709551615ull;  // the largest --seed reads back whole
  ran.nesterov = true;
  ran.warmup_epochs = 2;
  ran.warmup_start = 0.1;
  ran.label_smoothing = 0.1;
  ran.decay_bn_bias = false;
  ran.augmentation.flip = true;
  ran.image_size = data::ImageSize{{40, 40}, true};
  const data::Normalization normalization{{0.5f}, {0.25f}};
  train::Metadata m = train::run_metadata("net", ran, {}, {}, normalization);
  train::write_augmentation(m, ran.augmentation, {40, 40}, ran.image_size);
  m["dataset"] = "folder";
  CHECK(train::unrecorded_recipe(m).empty());

  train::Recipe file;  // what the file's train section says now: all of it another recipe
  file.dataset = "cifar10";
  file.data = "cifar";
  file.optimizer = train::Optimizer::AdamW;
  file.augmentation.center_crop = data::CropSize{8, 8};
  file.normalization.compute = true;
  train::adopt_recorded_recipe(file, m, "w");
  CHECK(file.dataset == "folder");
  CHECK(file.data.empty());  // cifar10's path is not the folder's
  CHECK(file.optimizer == train::Optimizer::Sgd);
  CHECK(file.normalization.values == normalization);
  CHECK_FALSE(file.normalization.compute);
  CHECK(train::recipe_changes(m, file, kInput, "w").empty());
  ran.normalization.values = normalization;
  CHECK(train::run_metadata("net", file, {}, {}, normalization) ==
        train::run_metadata("net", ran, {}, {}, normalization));
  CHECK(file.augmentation == ran.augmentation);
  CHECK(file.image_size == ran.image_size);

  // Of AdamW, its hyperparameters.
  train::Recipe adamw;
  adamw.optimizer = train::Optimizer::AdamW;
  adamw.beta2 = 0.99;
  train::Recipe read;
  train::adopt_recorded_recipe(read, train::run_metadata("net", adamw, {}), "w");
  CHECK(read.optimizer == train::Optimizer::AdamW);
  CHECK(read.beta2 == 0.99);
}

TEST_CASE("a checkpoint that records no recipe, or a malformed one, is named field by field") {
  train::Metadata m = train::run_metadata("net", {}, {});
  m.erase("lr");
  m.erase("schedule");
  CHECK(train::unrecorded_recipe(m) == std::vector<std::string>{"lr", "schedule"});
  train::Recipe r;
  CHECK_THROWS_WITH(train::adopt_recorded_recipe(r, m, "w"), Catch::Contains("metadata has no 'lr', 'schedule'"));
  auto refusal = [](const char* key, const char* value) {
    train::Metadata bad = train::run_metadata("net", {}, {});
    bad[key] = value;
    train::Recipe into;
    try {
      train::adopt_recorded_recipe(into, bad, "w.safetensors");
    } catch (const checkpoint::CheckpointError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(refusal("epochs", "0"), Catch::Contains("metadata 'epochs' is '0', expected a whole number above 0"));
  CHECK_THAT(refusal("batch", "x"), Catch::Contains("metadata 'batch' is 'x'"));
  CHECK_THAT(refusal("seed", "-1"), Catch::Contains("metadata 'seed' is '-1'"));
  CHECK_THAT(refusal("lr", "inf"), Catch::Contains("metadata 'lr' is 'inf'"));
  CHECK_THAT(refusal("schedule", "linear"), Catch::Contains("schedule must be constant, cosine or step, not 'linear'"));
  CHECK_THAT(refusal("optimizer", "lion"), Catch::Contains("optimizer must be sgd or adamw, not 'lion'"));
  CHECK_THAT(refusal("nesterov", "yes"), Catch::Contains("metadata 'nesterov' is 'yes', expected true or false"));
}

TEST_CASE("the precision a checkpoint records reads back; none is recorded by older ones") {
  CHECK(train::recorded_precision({{"precision", "bf16"}}, "w") == plan::Precision::Bf16);
  CHECK_FALSE(train::recorded_precision(train::run_metadata("net", {}, {}), "w"));
  CHECK_THROWS_WITH(train::recorded_precision({{"precision", "fp16"}}, "w"),
                    Catch::Contains("metadata 'precision' is 'fp16', expected fp32, tf32 or bf16"));
}
