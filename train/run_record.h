#pragma once
// What a training checkpoint records besides its tensors: the recipe that wrote it (so that a
// resume continues it, and another recipe is refused unless asked for) and where in the run it was taken:
// an epoch's end, or inside an epoch (Ctrl-C, --max-steps) with that epoch's running totals.
// Everything is validated when read back: a checkpoint is input like any other.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/plan/precision.h"
#include "runtime/data/augment_spec.h"
#include "runtime/data/normalize.h"
#include "train/recipe.h"

namespace resnetc::train {

struct RunPosition {
  int64_t epoch = 0;  // epochs finished
  int64_t step = 0;   // steps finished inside the next epoch (0 at an epoch's end)
  // That partial epoch's totals, so its report equals an uninterrupted run's.
  double loss_sum = 0;  // over examples
  int64_t correct = 0, examples = 0;
  double seconds = 0;
};

using Metadata = std::map<std::string, std::string>;

// The metadata of a checkpoint of `model` trained with `recipe`, at `at`. At an epoch's end it
// holds nothing that differs between two runs of the same recipe (no times, no dates), so an
// interrupted and resumed run ends with the same bytes as one never stopped. `class_names`, the
// data set's (label i's name on line i), are kept under "class_names" for whoever reads the
// weights later; a resume neither needs nor compares them. A normalization the run trains with
// is kept under "normalize_mean" and "normalize_std" (comma-separated, each the shortest text that
// reads back as the same float32), so eval, predict and a resume feed the weights what they learnt on.
Metadata run_metadata(const std::string& model, const Recipe& recipe, const RunPosition& at,
                      const std::vector<std::string>& class_names = {},
                      const data::Normalization& normalization = {});

// "mean 0.5 std 0.25" ("none" when empty), as messages name a normalization.
std::string describe_normalization(const data::Normalization& normalization);

// The normalization a checkpoint's weights were trained with (empty when it records none); a
// CheckpointError naming the field when the values are malformed, of unequal counts, or a std <= 0.
data::Normalization read_normalization(const Metadata& metadata, const std::string& source);

// The position a checkpoint was taken at; a CheckpointError naming the field when a value is
// missing or malformed (`source` is the file, for the message).
RunPosition read_position(const Metadata& metadata, const std::string& source);

// A resumed run's recipe: what `recipe` asks none of continued from the checkpoint's `metadata`
// (read from `source`): its augmentation, a folder's image size (other data sets' images are
// kept as their files hold them) and its normalization.
void continue_recipe(Recipe& recipe, const Metadata& metadata, const std::string& source);

// The fields of the recipe that every checkpoint `resnetc train` writes holds ("epochs", "batch",
// "seed", "lr", "momentum", "weight_decay", "schedule") that `metadata` lacks: empty but for a
// file resnetc train did not write, whose recipe is not known.
std::vector<std::string> unrecorded_recipe(const Metadata& metadata);

// `recipe` with the fields of the run that wrote `metadata` (read from `source`) in their place, so
// that a resume continues the run it was, whatever the .net file's train section says now: those
// unrecorded_recipe names, the modern recipe's (a missing one is its default), the augmentation,
// the normalization (none asked for), the data set's name when recorded (the train section's path
// dropped when it is another's) and a folder's image size. A CheckpointError naming the field
// when a value is missing or malformed.
void adopt_recorded_recipe(Recipe& recipe, const Metadata& metadata, const std::string& source);

// The precision (--precision) the run that wrote `metadata` trained in; none in a checkpoint
// written before it was recorded. A CheckpointError when the value is not a precision's name.
std::optional<plan::Precision> recorded_precision(const Metadata& metadata, const std::string& source);

// The recipe fields in which `recipe` (continued, its normalization's values computed) differs
// from the checkpoint's, "lr 0.1 (the checkpoint's: 0.05)". Fields an older checkpoint did not
// record are not compared, but for the modern recipe's (optimizer, nesterov, beta1, beta2, eps,
// warmup_epochs, warmup_start, label_smoothing, decay_bn_bias), which are written only when not at
// their defaults: a missing one is its default; and for the augmentation, the normalization and a
// folder's image size (none: `input`, the network's input size), whose absence is none.
std::vector<std::string> recipe_changes(const Metadata& metadata, const Recipe& recipe, const data::CropSize& input,
                                        const std::string& source);

}  // namespace resnetc::train
