#pragma once
// A run's augmentation (docs/data.md, "Augmentation") and image size as a checkpoint's metadata
// records them: a resume continues with them (continue_recipe), eval and predict read them for
// their center crop and their images' size.
#include <optional>
#include <string>

#include "runtime/data/augment_spec.h"
#include "train/run_record.h"

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

}  // namespace resnetc::train
