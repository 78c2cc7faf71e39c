#include "train/run_normalization.h"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <ostream>
#include <string>

namespace resnetc::train {
namespace {

std::vector<float> per_channel(const std::vector<float>& values, const char* flag, int64_t channels) {
  if (std::ssize(values) == channels) return values;
  if (values.size() == 1) return std::vector<float>(static_cast<size_t>(channels), values[0]);
  throw TrainingError(fmt::format("{} has {} values, but the data set's images have {} channel{}: give one a channel, "
                                  "or one for all",
                                  flag, values.size(), channels, channels == 1 ? "" : "s"));
}

std::string describe(const data::Normalization& n) {
  return n.empty() ? std::string("none")
                   : fmt::format("mean {} std {}", data::format_values(n.mean), data::format_values(n.std));
}

}  // namespace

data::Normalization run_normalization(const TrainOptions& options, const data::Split& train,
                                      const plan::KernelPlan& plan, const Metadata* resumed, std::ostream& out) {
  data::Normalization asked;
  if (options.compute_normalization) {
    const plan::Buffer& input = plan.buffer(plan.input);
    asked = data::channel_statistics(train, data::Resizer(train.height, train.width, input.shape[2], input.shape[3]));
    fmt::print(out, "normalization computed from the {} training images: {}\n", train.count, describe(asked));
  } else if (!options.normalization.empty()) {
    asked = {per_channel(options.normalization.mean, "--mean", train.channels),
             per_channel(options.normalization.std, "--std", train.channels)};
  }
  if (!resumed) return asked;
  const std::string source = options.checkpoint.string();
  data::Normalization saved = read_normalization(*resumed, source);
  if (asked.empty() || asked == saved) return saved;
  if (!options.allow_recipe_change)
    throw TrainingError(fmt::format("--resume: {} was trained with normalization {}, not {}; resume without --mean, "
                                    "--std and --normalize to continue with the checkpoint's, or add "
                                    "--allow-recipe-change to continue with these",
                                    source, describe(saved), describe(asked)));
  fmt::print(out, "note: resuming with a changed normalization: {} (the checkpoint's: {})\n", describe(asked),
             describe(saved));
  return asked;
}

}  // namespace resnetc::train
