// What a checkpoint records of the data a run trains on, and the differences a --resume is
// refused for: another data set, --val-split or training images.
#include <catch2/catch.hpp>

#include "train/data_record.h"

using namespace resnetc;

namespace {

data::Split split_of(int64_t count) {
  data::Split s{count, 2, 3, {}, {}};
  for (int64_t i = 0; i < count * 6; ++i) s.images.push_back(static_cast<uint8_t>(i * 37));
  for (int64_t i = 0; i < count; ++i) s.labels.push_back(static_cast<int32_t>(i % 3));
  return s;
}

}  // namespace

TEST_CASE("the training set's record changes with any pixel, label or shape, not with where it was read") {
  const data::Split base = split_of(5);
  const train::DataRecord a = train::data_record("folder", std::nullopt, base);
  CHECK(a.train_images.starts_with("5 images 1x2x3, fingerprint "));
  CHECK(train::data_record("folder", std::nullopt, split_of(5)).train_images == a.train_images);
  data::Split pixel = base;
  pixel.images[17] ^= 1;
  CHECK(train::data_record("folder", std::nullopt, pixel).train_images != a.train_images);
  data::Split label = base;
  label.labels[4] = 300;
  CHECK(train::data_record("folder", std::nullopt, label).train_images != a.train_images);
  data::Split shape = base;
  shape.height = 3, shape.width = 2;
  CHECK(train::data_record("folder", std::nullopt, shape).train_images != a.train_images);
}

TEST_CASE("a resume is compared with the checkpoint's data set, --val-split and training images") {
  const train::DataRecord saved = train::data_record("fashion-mnist", std::nullopt, split_of(5));
  train::Metadata m;
  train::add_data_record(m, saved);
  CHECK(m.at("dataset") == "fashion-mnist");
  CHECK(m.count("val_split") == 0);
  CHECK(train::data_changes(m, saved).empty());

  const train::DataRecord carved = train::data_record("mnist", 0.25, split_of(4));
  const std::vector<std::string> changes = train::data_changes(m, carved);
  REQUIRE(changes.size() == 3);
  CHECK(changes[0] == "dataset mnist (the checkpoint's: fashion-mnist)");
  CHECK(changes[1] == "--val-split 0.25 (the checkpoint's: none)");
  CHECK_THAT(changes[2], Catch::StartsWith("training set of 4 images 1x2x3, fingerprint ") &&
                             Catch::Contains("(the checkpoint's: 5 images 1x2x3, fingerprint "));
  train::Metadata with_split;
  train::add_data_record(with_split, carved);
  CHECK(with_split.at("val_split") == "0.25");
  CHECK(train::data_changes(with_split, carved).empty());
  const std::vector<std::string> back = train::data_changes(with_split, train::data_record("mnist", std::nullopt, split_of(4)));
  REQUIRE(back.size() == 1);
  CHECK(back[0] == "--val-split none (the checkpoint's: 0.25)");

  // A checkpoint written before data were recorded: nothing to compare.
  CHECK(train::data_changes({{"epoch", "1"}}, carved).empty());
}

TEST_CASE("a resume reads the checkpoint's --val-split back, and refuses one that is not a fraction") {
  train::Metadata m;
  train::add_data_record(m, train::data_record("mnist", 0.25, split_of(4)));
  CHECK(train::recorded_val_split(m, "w") == 0.25);
  CHECK_FALSE(train::recorded_val_split({{"epoch", "1"}}, "w"));  // evaluated on the test set
  for (const char* bad : {"", "1", "0", "0.2x", "nan"})
    CHECK_THROWS_WITH(train::recorded_val_split({{"val_split", bad}}, "w.safetensors"),
                      Catch::Contains("w.safetensors") && Catch::Contains("metadata 'val_split' is '" +
                                                                          std::string(bad) + "', expected a fraction"));
}
