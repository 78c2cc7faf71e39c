#include "train/run_normalization.h"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <ostream>
#include <string>

#include "train/run_record.h"

namespace resnetc::train {
namespace {

std::vector<float> per_channel(const std::vector<float>& values, const char* flag, int64_t channels) {
  if (std::ssize(values) == channels) return values;
  if (values.size() == 1) return std::vector<float>(static_cast<size_t>(channels), values[0]);
  throw TrainingError(fmt::format("{} has {} values, but the data set's images have {} channel{}: give one a channel, "
                                  "or one for all",
                                  flag, values.size(), channels, channels == 1 ? "" : "s"));
}

}  // namespace

data::Normalization run_normalization(const NormalizationRequest& asked, const data::Split& train,
                                      const plan::KernelPlan& plan, std::ostream& out) {
  if (asked.compute) {
    const plan::Buffer& input = plan.buffer(plan.input);
    const data::Normalization computed =
        data::channel_statistics(train, data::Resizer(train.height, train.width, input.shape[2], input.shape[3]));
    fmt::print(out, "normalization computed from the {} training images: {}\n", train.count,
               describe_normalization(computed));
    return computed;
  }
  if (asked.values.empty()) return {};
  return {per_channel(asked.values.mean, "--mean", train.channels), per_channel(asked.values.std, "--std", train.channels)};
}

}  // namespace resnetc::train
