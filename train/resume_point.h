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

// Reads options.checkpoint for `plan`; notes a changed recipe or other training data (`data`, allowed
// by options.allow_recipe_change) on `out`.
ResumePoint read_resume_point(const TrainOptions& options, const plan::KernelPlan& plan, const DataRecord& data,
                              std::ostream& out);

}  // namespace resnetc::train
