#pragma once
// The augmentation a run trains with (docs/data.md, "Augmentation"): the recipe's, or on --resume
// the checkpoint's; and its record in a checkpoint's metadata, which eval and predict read for
// their center crop.
#include <iosfwd>
#include <optional>
#include <string>

#include "runtime/data/augment_spec.h"
#include "train/run_record.h"
#include "train/trainer.h"

namespace resnetc::train {

// Keys "augment_random_crop", "augment_random_resized_crop", "augment_center_crop" (each the text
// its flag takes) and "augment_flip" ("true"), each only when asked for: a run without
// augmentation writes the metadata it wrote before augmentation existed. With a center crop or a
// recipe's --image-size, also "augment_image_size": the size the training images were kept at,
// as --image-size writes it: `load_size` when the recipe names one, else `images`, their HxW.
void write_augmentation(Metadata& metadata, const data::Augmentation& augmentation, const data::CropSize& images,
                        const std::optional<data::ImageSize>& load_size = std::nullopt);

// What write_augmentation wrote (none when the keys are absent); a CheckpointError naming the key
// when a value is malformed.
data::Augmentation read_augmentation(const Metadata& metadata, const std::string& source);

// The size the training images were kept at (eval loads a folder, predict its files, at it), or
// none: the network's input size.
std::optional<data::ImageSize> read_image_size(const Metadata& metadata, const std::string& source);

// The size a folder's images are kept at in a run: `asked` (the recipe's --image-size); on --resume
// (`resumed`: the checkpoint's metadata, read from `source`) the checkpoint's when none is asked,
// and one that keeps them otherwise (none meaning the input's size, `input`) is refused (a
// TrainingError) unless `allow_change`, then used and noted on `out`.
std::optional<data::ImageSize> run_image_size(const std::optional<data::ImageSize>& asked, const data::CropSize& input,
                                              const Metadata* resumed, const std::string& source, bool allow_change,
                                              std::ostream& out);

// options.recipe.augmentation; on --resume (`resumed`: the checkpoint's metadata) the
// checkpoint's when the recipe asks for none, and one that differs from it is refused (a
// TrainingError) unless options.allow_recipe_change, then used and noted on `out`.
data::Augmentation run_augmentation(const TrainOptions& options, const Metadata* resumed, std::ostream& out);

}  // namespace resnetc::train
