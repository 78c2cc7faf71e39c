#pragma once
// The normalization a run trains with (docs/data.md, "Normalization"): the values given, or the
// training set's own statistics, or on --resume the checkpoint's.
#include <iosfwd>

#include "compiler/plan/kernel_plan.h"
#include "runtime/data/normalize.h"
#include "train/run_record.h"
#include "train/trainer.h"

namespace resnetc::train {

// options.normalization (one value for all channels widened to train.channels), or with
// options.compute_normalization data::channel_statistics of `train` resized to the plan's input.
// `resumed`: the checkpoint's metadata on --resume, whose normalization the run continues with
// when none is asked for; one that differs from it is refused (a TrainingError) unless
// options.allow_recipe_change, then used and noted on `out`. A computed one is printed on `out`.
// Throws TrainingError when the values given are not one a channel or one for all.
data::Normalization run_normalization(const TrainOptions& options, const data::Split& train,
                                      const plan::KernelPlan& plan, const Metadata* resumed, std::ostream& out);

}  // namespace resnetc::train
