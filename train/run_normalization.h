#pragma once
// The normalization a run trains with (docs/data.md, "Normalization"): the values given, or the
// training set's own statistics (on --resume, none asked is the checkpoint's: continue_recipe).
#include <iosfwd>

#include "compiler/plan/kernel_plan.h"
#include "runtime/data/normalize.h"
#include "train/normalization_settings.h"
#include "train/trainer.h"

namespace resnetc::train {

// `asked`'s values (one value for all channels widened to train.channels), or with asked.compute
// data::channel_statistics of `train` resized to the plan's input, printed on `out`.
// Throws TrainingError when the values given are not one a channel or one for all.
data::Normalization run_normalization(const NormalizationRequest& asked, const data::Split& train,
                                      const plan::KernelPlan& plan, std::ostream& out);

}  // namespace resnetc::train
