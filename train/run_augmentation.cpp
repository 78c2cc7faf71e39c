#include "train/run_augmentation.h"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <ostream>
#include <stdexcept>

#include "runtime/checkpoint/error.h"

namespace resnetc::train {
namespace {

constexpr const char* kRandomCrop = "augment_random_crop";
constexpr const char* kRandomResizedCrop = "augment_random_resized_crop";
constexpr const char* kCenterCrop = "augment_center_crop";
constexpr const char* kFlip = "augment_flip";
constexpr const char* kImageSize = "augment_image_size";

template <class Parse>
auto read_key(const Metadata& m, const char* key, const std::string& source, Parse parse)
    -> std::optional<decltype(parse(std::string_view()))> {
  const auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  try {
    return parse(it->second);
  } catch (const std::invalid_argument& e) {
    throw checkpoint::CheckpointError(source, fmt::format("metadata '{}' is '{}': {}", key, it->second, e.what()));
  }
}

}  // namespace

void write_augmentation(Metadata& m, const data::Augmentation& a, const data::CropSize& images,
                        const std::optional<data::ImageSize>& load_size) {
  if (a.random_crop) m[kRandomCrop] = data::format_random_crop(*a.random_crop);
  if (a.random_resized_crop) m[kRandomResizedCrop] = data::format_random_resized_crop(*a.random_resized_crop);
  if (a.center_crop) m[kCenterCrop] = data::format_crop_size(*a.center_crop);
  if (load_size) m[kImageSize] = data::format_image_size(*load_size);
  else if (a.center_crop) m[kImageSize] = data::format_crop_size(images);
  if (a.flip) m[kFlip] = "true";
}

data::Augmentation read_augmentation(const Metadata& m, const std::string& source) {
  data::Augmentation a;
  a.random_crop = read_key(m, kRandomCrop, source, data::parse_random_crop);
  a.random_resized_crop = read_key(m, kRandomResizedCrop, source, data::parse_random_resized_crop);
  a.center_crop = read_key(m, kCenterCrop, source, data::parse_crop_size);
  if (const auto it = m.find(kFlip); it != m.end()) {
    if (it->second != "true")
      throw checkpoint::CheckpointError(source, fmt::format("metadata '{}' is '{}', expected 'true'", kFlip, it->second));
    a.flip = true;
  }
  return a;
}

std::optional<data::ImageSize> read_image_size(const Metadata& m, const std::string& source) {
  return read_key(m, kImageSize, source, data::parse_image_size);
}

std::optional<data::ImageSize> run_image_size(const std::optional<data::ImageSize>& asked, const data::CropSize& input,
                                              const Metadata* resumed, const std::string& source, bool allow_change,
                                              std::ostream& out) {
  if (!resumed) return asked;
  const std::optional<data::ImageSize> saved = read_image_size(*resumed, source);
  if (!asked) return saved;
  const data::ImageSize as_input{input};  // what none means
  const data::ImageSize now = *asked, before = saved.value_or(as_input);
  if (now == before) return asked;
  const auto describe = [&](const data::ImageSize& s) {
    return s == as_input ? fmt::format("{} (the input's size)", data::format_image_size(s)) : data::format_image_size(s);
  };
  if (!allow_change)
    throw TrainingError(fmt::format("--resume: {} was trained on images kept at --image-size {}, not {}; resume "
                                    "without --image-size to continue with the checkpoint's, or add "
                                    "--allow-recipe-change to continue with this one",
                                    source, describe(before), describe(now)));
  fmt::print(out, "note: resuming with the images kept at another size: {} (the checkpoint's: {})\n", describe(now),
             describe(before));
  return asked;
}

data::Augmentation run_augmentation(const TrainOptions& options, const Metadata* resumed, std::ostream& out) {
  const data::Augmentation& asked = options.recipe.augmentation;
  if (!resumed) return asked;
  const std::string source = options.checkpoint.string();
  const data::Augmentation saved = read_augmentation(*resumed, source);
  if (asked.empty() || asked == saved) return saved;
  if (!options.allow_recipe_change)
    throw TrainingError(fmt::format("--resume: {} was trained with augmentation {}, not {}; resume without the "
                                    "augmentation options to continue with the checkpoint's, or add "
                                    "--allow-recipe-change to continue with these",
                                    source, data::describe(saved), data::describe(asked)));
  fmt::print(out, "note: resuming with a changed augmentation: {} (the checkpoint's: {})\n", data::describe(asked),
             data::describe(saved));
  return asked;
}

}  // namespace resnetc::train
