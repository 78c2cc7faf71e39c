// A checkpoint's normalization metadata: written exactly, read back to the same float32 values,
// and refused, naming the field, when malformed.
#include <catch2/catch.hpp>

#include "runtime/checkpoint/error.h"
#include "train/run_record.h"

using namespace resnetc;

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
  CHECK(train::recipe_changes(m, adamw).empty());
  // An older checkpoint (or one of the default recipe) records none: it was plain SGD.
  const train::Metadata plain = train::run_metadata("net", {}, {});
  CHECK(plain.count("optimizer") == 0);
  CHECK(train::recipe_changes(plain, adamw) ==
        std::vector<std::string>{"optimizer adamw (the checkpoint's: sgd)", "label_smoothing 0.1 (the checkpoint's: 0)"});
  CHECK(train::recipe_changes(plain, {}).empty());
}
