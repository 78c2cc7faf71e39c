#include "train/run_record.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <vector>

#include "runtime/checkpoint/error.h"
#include "runtime/data/normalize.h"
#include "train/run_augmentation.h"

namespace resnetc::train {
namespace {

constexpr int64_t kMaxCount = int64_t{1} << 50;  // far above any epoch, step or example count
// What every checkpoint of `resnetc train` records, whatever the values.
constexpr const char* kRecordedRecipe[] = {"epochs", "batch", "seed", "lr", "momentum", "weight_decay", "schedule"};

const std::string* find(const Metadata& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

int64_t whole_field(const Metadata& m, const char* key, const std::string& source, int64_t fallback) {
  const std::string* text = find(m, key);
  if (!text) return fallback;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size() || v < 0 || v > kMaxCount)
    throw checkpoint::CheckpointError(
        source, fmt::format("metadata '{}' is '{}', expected a whole number from 0 to {}", key, *text, kMaxCount));
  return v;
}

double number_field(const Metadata& m, const char* key, const std::string& source) {
  const std::string* text = find(m, key);
  if (!text) return 0;
  char* end = nullptr;
  const double v = std::strtod(text->c_str(), &end);
  if (text->empty() || *end != '\0' || !std::isfinite(v) || v < 0)
    throw checkpoint::CheckpointError(source,
                                      fmt::format("metadata '{}' is '{}', expected a finite number >= 0", key, *text));
  return v;
}

// "a,b,c" as float32 values, each finite (and > 0 when `positive`).
std::vector<float> float_list(const Metadata& m, const char* key, const std::string& source, bool positive) {
  const std::string& text = *find(m, key);
  if (std::optional<std::vector<float>> values = data::parse_values(text, positive)) return *values;
  throw checkpoint::CheckpointError(source, fmt::format("metadata '{}' is '{}', expected comma-separated finite numbers{}",
                                                        key, text, positive ? " above 0" : ""));
}

// The recipe fields beyond the book's SGD, each with its text and the text of its default: only
// those that differ from the default are written, so a checkpoint of the default recipe keeps
// its bytes, and a missing one reads as the default.
struct RecipeField {
  const char* key;
  std::string value, fallback;
};
std::vector<RecipeField> modern_fields(const Recipe& r) {
  const Recipe d;
  const bool adamw = r.optimizer == Optimizer::AdamW;
  auto number = [](double v) { return fmt::format("{}", v); };
  auto flag = [](bool v) { return std::string(v ? "true" : "false"); };
  std::vector<RecipeField> fields{
      {"optimizer", std::string(optimizer_name(r.optimizer)), std::string(optimizer_name(d.optimizer))},
      {"nesterov", flag(r.nesterov), flag(d.nesterov)},
      // AdamW's hyperparameters mean nothing to SGD: compared only when it is AdamW.
      {"beta1", adamw ? number(r.beta1) : number(d.beta1), number(d.beta1)},
      {"beta2", adamw ? number(r.beta2) : number(d.beta2), number(d.beta2)},
      {"eps", adamw ? number(r.eps) : number(d.eps), number(d.eps)},
      {"warmup_epochs", std::to_string(r.warmup_epochs), std::to_string(d.warmup_epochs)},
      {"warmup_start", r.warmup_epochs > 0 ? number(r.warmup_start) : number(d.warmup_start), number(d.warmup_start)},
      {"label_smoothing", number(r.label_smoothing), number(d.label_smoothing)},
      {"decay_bn_bias", flag(r.decay_bn_bias), flag(d.decay_bn_bias)}};
  return fields;
}

Metadata modern_recipe(const Recipe& r) {
  Metadata m;
  for (const RecipeField& f : modern_fields(r))
    if (f.value != f.fallback) m[f.key] = f.value;
  return m;
}

// "40", or "32x32 (the input's size)" for `input`'s: what a folder's images were kept at.
std::string describe_image_size(const data::ImageSize& size, const data::CropSize& input) {
  const std::string text = data::format_image_size(size);
  return size == data::ImageSize{input} ? text + " (the input's size)" : text;
}

}  // namespace

std::string describe_normalization(const data::Normalization& n) {
  return n.empty() ? std::string("none")
                   : fmt::format("mean {} std {}", data::format_values(n.mean), data::format_values(n.std));
}

data::Normalization read_normalization(const Metadata& m, const std::string& source) {
  const bool has_mean = find(m, "normalize_mean") != nullptr, has_std = find(m, "normalize_std") != nullptr;
  if (!has_mean && !has_std) return {};
  if (has_mean != has_std)
    throw checkpoint::CheckpointError(source, fmt::format("metadata has '{}' but no '{}'",
                                                          has_mean ? "normalize_mean" : "normalize_std",
                                                          has_mean ? "normalize_std" : "normalize_mean"));
  data::Normalization n{float_list(m, "normalize_mean", source, false), float_list(m, "normalize_std", source, true)};
  if (n.mean.size() != n.std.size())
    throw checkpoint::CheckpointError(source, fmt::format("metadata 'normalize_mean' has {} values but 'normalize_std' {}",
                                                          n.mean.size(), n.std.size()));
  return n;
}

Metadata run_metadata(const std::string& model, const Recipe& r, const RunPosition& at,
                      const std::vector<std::string>& class_names, const data::Normalization& normalization) {
  Metadata m{{"model", model},
             {"epoch", std::to_string(at.epoch)},
             {"epochs", std::to_string(r.epochs)},
             {"batch", std::to_string(r.batch)},
             {"seed", std::to_string(r.seed)},
             {"lr", fmt::format("{}", r.lr)},
             {"momentum", fmt::format("{}", r.momentum)},
             {"weight_decay", fmt::format("{}", r.weight_decay)},
             {"schedule", std::string(schedule_name(r.schedule))}};
  for (const auto& [key, value] : modern_recipe(r)) m[key] = value;
  // One a line: a data set's class names hold no line breaks (they are read a line each).
  if (!class_names.empty()) m["class_names"] = fmt::format("{}", fmt::join(class_names, "\n"));
  if (!normalization.empty()) {
    m["normalize_mean"] = data::format_values(normalization.mean);
    m["normalize_std"] = data::format_values(normalization.std);
  }
  if (at.step > 0) {
    m["step"] = std::to_string(at.step);
    m["epoch_loss_sum"] = fmt::format("{:a}", at.loss_sum);  // hexadecimal: every bit kept
    m["epoch_correct"] = std::to_string(at.correct);
    m["epoch_examples"] = std::to_string(at.examples);
    m["epoch_seconds"] = fmt::format("{:a}", at.seconds);
  }
  return m;
}

RunPosition read_position(const Metadata& m, const std::string& source) {
  if (!find(m, "epoch"))
    throw checkpoint::CheckpointError(source, "not a resnetc training checkpoint (its metadata has no 'epoch')");
  RunPosition p;
  p.epoch = whole_field(m, "epoch", source, 0);
  p.step = whole_field(m, "step", source, 0);
  if (p.step > 0) {
    p.loss_sum = number_field(m, "epoch_loss_sum", source);
    p.correct = whole_field(m, "epoch_correct", source, 0);
    p.examples = whole_field(m, "epoch_examples", source, 0);
    p.seconds = number_field(m, "epoch_seconds", source);
    if (p.correct > p.examples)
      throw checkpoint::CheckpointError(
          source, fmt::format("metadata 'epoch_correct' ({}) exceeds 'epoch_examples' ({})", p.correct, p.examples));
  }
  return p;
}

void continue_recipe(Recipe& r, const Metadata& m, const std::string& source) {
  if (r.augmentation.empty()) r.augmentation = read_augmentation(m, source);
  if (!r.image_size && r.dataset == "folder") r.image_size = read_image_size(m, source);
  if (r.normalization.values.empty() && !r.normalization.compute) r.normalization.values = read_normalization(m, source);
}

std::vector<std::string> unrecorded_recipe(const Metadata& m) {
  std::vector<std::string> missing;
  for (const char* key : kRecordedRecipe)
    if (!find(m, key)) missing.emplace_back(key);
  return missing;
}

void adopt_recorded_recipe(Recipe& r, const Metadata& m, const std::string& source) {
  if (const std::vector<std::string> missing = unrecorded_recipe(m); !missing.empty())
    throw checkpoint::CheckpointError(source, fmt::format("metadata has no '{}'", fmt::join(missing, "', '")));
  auto malformed = [&](const char* key, const std::string& expected) {
    return checkpoint::CheckpointError(source, fmt::format("metadata '{}' is '{}', expected {}", key, *find(m, key),
                                                           expected));
  };
  auto positive = [&](const char* key) {
    const int64_t v = whole_field(m, key, source, 0);
    if (v == 0) throw malformed(key, "a whole number above 0");
    return v;
  };
  auto flag = [&](const char* key, bool fallback) {
    const std::string* text = find(m, key);
    if (!text) return fallback;
    if (*text != "true" && *text != "false") throw malformed(key, "true or false");
    return *text == "true";
  };
  // A modern field missing is its default (written only when not at it).
  auto number = [&](const char* key, double fallback) {
    return find(m, key) ? number_field(m, key, source) : fallback;
  };
  r.epochs = positive("epochs");
  r.batch = positive("batch");
  const std::string& seed = *find(m, "seed");
  auto [end, ec] = std::from_chars(seed.data(), seed.data() + seed.size(), r.seed);
  if (seed.empty() || ec != std::errc() || end != seed.data() + seed.size())
    throw malformed("seed", "a whole number from 0");
  r.lr = number_field(m, "lr", source);
  r.momentum = number_field(m, "momentum", source);
  r.weight_decay = number_field(m, "weight_decay", source);
  const Recipe d;
  try {
    r.schedule = parse_schedule(*find(m, "schedule"));
    r.optimizer = find(m, "optimizer") ? parse_optimizer(*find(m, "optimizer")) : d.optimizer;
  } catch (const std::invalid_argument& e) {
    throw checkpoint::CheckpointError(source, fmt::format("metadata: {}", e.what()));
  }
  r.nesterov = flag("nesterov", d.nesterov);
  r.beta1 = number("beta1", d.beta1);
  r.beta2 = number("beta2", d.beta2);
  r.eps = number("eps", d.eps);
  r.warmup_epochs = whole_field(m, "warmup_epochs", source, d.warmup_epochs);
  r.warmup_start = number("warmup_start", d.warmup_start);
  r.label_smoothing = number("label_smoothing", d.label_smoothing);
  r.decay_bn_bias = flag("decay_bn_bias", d.decay_bn_bias);
  r.augmentation = read_augmentation(m, source);
  r.normalization = {read_normalization(m, source), false};
  if (const std::string* dataset = find(m, "dataset"); dataset && *dataset != r.dataset) {
    r.dataset = *dataset;
    r.data.clear();  // the train section's path is its own data set's
  }
  r.image_size = r.dataset == "folder" ? read_image_size(m, source) : std::nullopt;
}

std::optional<plan::Precision> recorded_precision(const Metadata& m, const std::string& source) {
  const std::string* text = find(m, "precision");
  if (!text) return std::nullopt;
  if (std::optional<plan::Precision> p = plan::parse_precision(*text)) return p;
  throw checkpoint::CheckpointError(source,
                                    fmt::format("metadata 'precision' is '{}', expected fp32, tf32 or bf16", *text));
}

std::vector<std::string> recipe_changes(const Metadata& m, const Recipe& r, const data::CropSize& input,
                                        const std::string& source) {
  std::vector<std::string> changes;
  auto note = [&](const char* key, bool same, const std::string& now, const std::string& saved) {
    if (!same) changes.push_back(fmt::format("{} {} (the checkpoint's: {})", key, now, saved));
  };
  auto compare = [&](const char* key, const std::string& now, const std::string* fallback = nullptr) {
    const std::string* saved = find(m, key);
    if (!saved) saved = fallback;
    if (!saved) return;
    bool same = *saved == now;
    // Numbers compare by value: "0.10" and "0.1" are one learning rate.
    char* end_saved = nullptr;
    char* end_now = nullptr;
    const double a = std::strtod(saved->c_str(), &end_saved), b = std::strtod(now.c_str(), &end_now);
    if (!saved->empty() && *end_saved == '\0' && *end_now == '\0') same = a == b;
    note(key, same, now, *saved);
  };
  compare("epochs", std::to_string(r.epochs));
  compare("batch", std::to_string(r.batch));
  compare("seed", std::to_string(r.seed));
  compare("lr", fmt::format("{}", r.lr));
  compare("momentum", fmt::format("{}", r.momentum));
  compare("weight_decay", fmt::format("{}", r.weight_decay));
  compare("schedule", std::string(schedule_name(r.schedule)));
  for (const RecipeField& f : modern_fields(r)) compare(f.key, f.value, &f.fallback);
  const data::Augmentation augmentation = read_augmentation(m, source);
  note("augmentation", r.augmentation == augmentation, data::describe(r.augmentation), data::describe(augmentation));
  if (r.dataset == "folder") {
    const data::ImageSize now = r.image_size.value_or(data::ImageSize{input});
    const data::ImageSize saved = read_image_size(m, source).value_or(data::ImageSize{input});
    note("image_size", now == saved, describe_image_size(now, input), describe_image_size(saved, input));
  }
  const data::Normalization normalization = read_normalization(m, source);
  note("normalization", r.normalization.values == normalization, describe_normalization(r.normalization.values),
       describe_normalization(normalization));
  return changes;
}

}  // namespace resnetc::train
