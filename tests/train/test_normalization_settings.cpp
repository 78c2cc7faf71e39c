// The normalization a run asks for: the flags over the train section's mean/std or normalize
// auto, the file's values read, widened and refused at their place.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "compiler/ir/compile_error.h"
#include "dsl/frontend.h"
#include "train/normalization_settings.h"

using namespace resnetc;

namespace {

dsl::TrainingSettings settings(const std::string& train) {
  dsl::SourceManager sources;
  return dsl::compile_source(sources, "t.net", "network n { input 3x8x8\n train { " + train + " } }", {}).training;
}

std::string refusal(const std::string& train, int64_t channels = 3) {
  try {
    train::requested_normalization(settings(train), {}, false, channels);
  } catch (const ir::CompileError& e) {
    return fmt::format("{}:{}: {}", e.diagnostic.loc.line, e.diagnostic.loc.col, e.diagnostic.message);
  }
  return "no error";
}

}  // namespace

TEST_CASE("the train section's normalization, widened to the channels; flags replace it") {
  const dsl::TrainingSettings file = settings("mean \"0.4914,0.4822,0.4465\"; std 0.25");
  const train::NormalizationRequest r = train::requested_normalization(file, {}, false, 3);
  CHECK(r.values == data::Normalization{{0.4914f, 0.4822f, 0.4465f}, {0.25f, 0.25f, 0.25f}});
  CHECK_FALSE(r.compute);
  const data::Normalization flags{{0.1f}, {0.2f}};
  CHECK(train::requested_normalization(file, flags, false, 3).values == flags);  // widened later, with the flag's name
  const train::NormalizationRequest computed = train::requested_normalization(file, {}, true, 3);
  CHECK(computed.compute);
  CHECK(computed.values.empty());

  const dsl::TrainingSettings automatic = settings("normalize auto");
  CHECK(train::requested_normalization(automatic, {}, false, 3).compute);
  const train::NormalizationRequest replaced = train::requested_normalization(automatic, flags, false, 3);
  CHECK_FALSE(replaced.compute);
  CHECK(replaced.values == flags);
  const train::NormalizationRequest none = train::requested_normalization(settings("epochs 1"), {}, false, 3);
  CHECK(none.values.empty());
  CHECK_FALSE(none.compute);
}

TEST_CASE("a malformed normalization in the file is refused at its value") {
  CHECK(refusal("mean \"0.5,x\"; std 0.2") ==
        "2:15: 'mean' expects numbers separated by commas (one a channel, or one for all), got '0.5,x'");
  CHECK(refusal("mean 0.5; std 0") ==
        "2:24: 'std' expects positive numbers separated by commas (one a channel, or one for all), got '0'");
  CHECK(refusal("mean \"0.5,0.4\"; std 0.2") ==
        "2:15: 'mean' has 2 values, but the network's input has 3 channels: give one a channel, or one for all");
  CHECK(refusal("mean 0.5; std \"0.2,0.3,0.4\"", 1) ==
        "2:24: 'std' has 3 values, but the network's input has 1 channel: give one a channel, or one for all");
}
