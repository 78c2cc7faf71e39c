#include "train/normalization_settings.h"

#include <fmt/format.h>

#include "compiler/ir/compile_error.h"

namespace resnetc::train {
namespace {

std::vector<float> file_values(const dsl::Token& value, const char* key, bool positive, int64_t channels) {
  const auto refuse = [&](const std::string& why) {
    return ir::CompileError(ir::CompileError::Phase::Source, value.loc, fmt::format("'{}' {}", key, why),
                            value.length());
  };
  const std::optional<std::vector<float>> values = data::parse_values(value.text, positive);
  if (!values)
    throw refuse(fmt::format("expects {}numbers separated by commas (one a channel, or one for all), got '{}'",
                             positive ? "positive " : "", value.text));
  if (std::ssize(*values) == channels) return *values;
  if (values->size() == 1) return std::vector<float>(static_cast<size_t>(channels), values->front());
  throw refuse(fmt::format("has {} values, but the network's input has {} channel{}: give one a channel, or one for all",
                           values->size(), channels, channels == 1 ? "" : "s"));
}

}  // namespace

NormalizationRequest requested_normalization(const dsl::TrainingSettings& file, const data::Normalization& flags,
                                             bool compute_flag, int64_t channels) {
  if (compute_flag || !flags.empty()) return {flags, compute_flag};
  if (file.normalize_auto) return {{}, true};
  if (!file.mean) return {};
  return {{file_values(*file.mean, "mean", false, channels), file_values(*file.std_dev, "std", true, channels)}, false};
}

}  // namespace resnetc::train
