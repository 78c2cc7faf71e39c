#include "dsl/training_settings.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <stdexcept>

#include "dsl/diagnostics.h"

namespace resnetc::dsl {
namespace {

const std::vector<std::string_view> kKeys = {"dataset", "epochs", "batch", "seed", "lr",
                                             "momentum", "weight_decay", "schedule", "random_crop",
                                             "random_resized_crop", "center_crop", "flip", "mean", "std",
                                             "normalize", "image_size", "precision", "optimizer",
                                             "nesterov", "beta1", "beta2", "eps", "warmup_epochs", "warmup_start",
                                             "label_smoothing", "decay_bn_bias"};

int64_t integer(const ast::Setting& s, int64_t min) {
  if (s.value.kind != Tok::Int)
    error_at(s.value.loc, fmt::format("'{}' must be an integer, found '{}'", s.key, s.value.text), s.value.length());
  if (s.value.int_value < min)
    error_at(s.value.loc, fmt::format("'{}' must be at least {}, got {}", s.key, min, s.value.int_value),
             s.value.length());
  return s.value.int_value;
}

double number(const ast::Setting& s, double min, double below) {
  double v = s.value.kind == Tok::Int ? static_cast<double>(s.value.int_value) : s.value.float_value;
  if (s.value.kind != Tok::Int && s.value.kind != Tok::Float)
    error_at(s.value.loc, fmt::format("'{}' must be a number, found '{}'", s.key, s.value.text), s.value.length());
  if (!(v >= min && v < below))
    error_at(s.value.loc, fmt::format("'{}' must be in [{}, {}), got {}", s.key, min, below, s.value.text),
             s.value.length());
  return v;
}

std::string word(const ast::Setting& s, const std::vector<std::string_view>& allowed) {
  if (s.value.kind != Tok::Ident && s.value.kind != Tok::String)
    error_at(s.value.loc, fmt::format("'{}' must be a name, found '{}'", s.key, s.value.text), s.value.length());
  std::string v = s.value.text;
  std::replace(v.begin(), v.end(), '_', '-');
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end())
    error_at(s.value.loc,
             fmt::format("unknown {} '{}': expected one of {}{}", s.key, s.value.text,
                         fmt::join(allowed, ", "), did_you_mean(v, allowed)),
             s.value.length());
  return v;
}

// An augmentation's text (docs/data.md): a side alone (`center_crop 24`) or a string with the
// flag's syntax (`random_crop "32,padding=4"`, `center_crop "24x20"`), read by `parse`.
template <class Parse>
auto augmentation(const ast::Setting& s, Parse parse) {
  if (s.value.kind != Tok::Int && s.value.kind != Tok::String)
    error_at(s.value.loc, fmt::format("'{}' must be a whole number or a string, found '{}'", s.key, s.value.text),
             s.value.length());
  try {
    return parse(s.value.text);
  } catch (const std::invalid_argument& e) {
    error_at(s.value.loc, fmt::format("'{}': {}", s.key, e.what()), s.value.length());
  }
}

// `mean` or `std`: a number, or a string of them (the values are read where they are used).
Token values(const ast::Setting& s) {
  if (s.value.kind != Tok::Int && s.value.kind != Tok::Float && s.value.kind != Tok::String)
    error_at(s.value.loc,
             fmt::format("'{}' must be a number, or a string of numbers separated by commas (one a channel), found "
                         "'{}'",
                         s.key, s.value.text),
             s.value.length());
  return s.value;
}

// A number above 0 and below 1, or at most 1 when `one_allowed`: factors where 0 means nothing sensible.
double fraction_above_zero(const ast::Setting& s, bool one_allowed) {
  const double v = number(s, 0, 2);
  if (!(v > 0 && (v < 1 || (one_allowed && v == 1))))
    error_at(s.value.loc,
             fmt::format("'{}' must be above 0 and {} 1, got {}", s.key, one_allowed ? "at most" : "below",
                         s.value.text),
             s.value.length());
  return v;
}

bool boolean(const ast::Setting& s) {
  if (s.value.kind == Tok::Ident && (s.value.text == "true" || s.value.text == "false")) return s.value.text == "true";
  error_at(s.value.loc, fmt::format("'{}' must be true or false, found '{}'", s.key, s.value.text), s.value.length());
}

}  // namespace

TrainingSettings read_training_settings(const std::vector<ast::Setting>& settings) {
  TrainingSettings t;
  std::set<std::string> seen;
  for (const ast::Setting& s : settings) {
    if (!seen.insert(s.key).second)
      error_at(s.loc, fmt::format("training setting '{}' is given twice", s.key), static_cast<uint32_t>(s.key.size()));
    if (s.second && s.key != "dataset")
      error_at(s.second->loc, fmt::format("'{}' takes one value; only 'dataset' takes a second, its path", s.key),
               s.second->length());
    if (s.key == "dataset") {
      // The names of runtime/data/catalog.h (the language does not depend on the loaders).
      t.dataset = word(s, {"fashion-mnist", "mnist", "cifar10", "cifar100", "cifar100-coarse", "folder"});
      if (s.second) {
        if (s.second->text.empty()) error_at(s.second->loc, "the data set's path is empty", s.second->length());
        t.data = s.second->text;
      }
    } else if (s.key == "epochs") t.epochs = integer(s, 1);
    else if (s.key == "batch") t.batch = integer(s, 1);
    else if (s.key == "seed") t.seed = integer(s, 0);
    else if (s.key == "lr") t.lr = number(s, 1e-12, 1e6);
    else if (s.key == "momentum") t.momentum = number(s, 0, 1);
    else if (s.key == "weight_decay") t.weight_decay = number(s, 0, 1);
    else if (s.key == "schedule") t.schedule = word(s, {"constant", "cosine", "step"});
    else if (s.key == "random_crop") t.augmentation.random_crop = augmentation(s, data::parse_random_crop);
    else if (s.key == "random_resized_crop")
      t.augmentation.random_resized_crop = augmentation(s, data::parse_random_resized_crop);
    else if (s.key == "center_crop") t.augmentation.center_crop = augmentation(s, data::parse_crop_size);
    else if (s.key == "flip") t.augmentation.flip = word(s, {"true", "false"}) == "true";
    else if (s.key == "image_size") t.image_size = augmentation(s, data::parse_image_size);
    else if (s.key == "mean") t.mean = values(s);
    else if (s.key == "std") t.std_dev = values(s);
    else if (s.key == "precision") t.precision = word(s, {"fp32", "tf32", "bf16"});
    else if (s.key == "normalize") t.normalize_auto = word(s, {"auto"}) == "auto";
    else if (s.key == "optimizer") t.optimizer = word(s, {"sgd", "adamw"});
    else if (s.key == "nesterov") t.nesterov = boolean(s);
    else if (s.key == "beta1") t.beta1 = fraction_above_zero(s, false);
    else if (s.key == "beta2") t.beta2 = fraction_above_zero(s, false);
    else if (s.key == "eps") t.eps = fraction_above_zero(s, false);
    else if (s.key == "warmup_epochs") t.warmup_epochs = integer(s, 0);
    else if (s.key == "warmup_start") t.warmup_start = fraction_above_zero(s, true);
    else if (s.key == "label_smoothing") t.label_smoothing = number(s, 0, 1);
    else if (s.key == "decay_bn_bias") t.decay_bn_bias = boolean(s);
    else
      error_at(s.loc, fmt::format("unknown training setting '{}'{}", s.key, did_you_mean(s.key, kKeys)),
               static_cast<uint32_t>(s.key.size()));
  }
  for (const ast::Setting& s : settings) {
    if ((s.key == "mean" && !t.std_dev) || (s.key == "std" && !t.mean))
      error_at(s.loc, fmt::format("'{}' needs '{}' too: a normalization takes both", s.key,
                                  s.key == "mean" ? "std" : "mean"),
               static_cast<uint32_t>(s.key.size()));
    if (s.key == "normalize" && t.mean)
      error_at(s.loc, "'normalize auto' computes the mean and std from the training set: give it or 'mean' and 'std', "
               "not both", static_cast<uint32_t>(s.key.size()));
  }
  return t;
}

}  // namespace resnetc::dsl
