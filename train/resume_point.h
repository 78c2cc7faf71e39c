#pragma once
// `resnetc train --resume`: where a run continues from its checkpoint, read and checked before
// anything is compiled (a checkpoint of another recipe is refused unless asked for, and one
// saved inside an epoch needs that epoch's order: the same batch and seed).
#include <iosfwd>

#include "compiler/plan/kernel_plan.h"
#include "train/data_record.h"
#include "train/model_state.h"
#include "train/run_record.h"
#include "train/trainer.h"

namespace resnetc::train {

struct ResumePoint {
  LoadedCheckpoint saved;
  RunPosition position;
};

// Reads options.checkpoint for `plan` and continues options.recipe (its normalization's values
// computed) from it (continue_recipe); a changed recipe or other training data (`data`) is
// refused unless options.allow_recipe_change, then noted on `out`.
ResumePoint read_resume_point(TrainOptions& options, const plan::KernelPlan& plan, const DataRecord& data,
                              std::ostream& out);

}  // namespace resnetc::train
