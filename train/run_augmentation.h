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
// augmentation writes the metadata it wrote before augmentation existed. With a center crop,
// also "augment_image_size": `image_size`, the training images' HxW the crop is taken from.
void write_augmentation(Metadata& metadata, const data::Augmentation& augmentation, const data::CropSize& image_size);

// What write_augmentation wrote (none when the keys are absent); a CheckpointError naming the key
// when a value is malformed.
data::Augmentation read_augmentation(const Metadata& metadata, const std::string& source);

// The size of the images a center crop was taken from in training (predict loads its files at
// it), or none.
std::optional<data::CropSize> read_image_size(const Metadata& metadata, const std::string& source);

// options.recipe.augmentation; on --resume (`resumed`: the checkpoint's metadata) the
// checkpoint's when the recipe asks for none, and one that differs from it is refused (a
// TrainingError) unless options.allow_recipe_change, then used and noted on `out`.
data::Augmentation run_augmentation(const TrainOptions& options, const Metadata* resumed, std::ostream& out);

}  // namespace resnetc::train
