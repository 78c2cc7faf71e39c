#pragma once
// The book's figure of a training run (Dive into Deep Learning draws one for every run): the
// training loss in one panel, the train and test accuracy in the other, against the epoch. One
// run is drawn as the book does, a color per metric; several are overlaid, a color per run
// (named by name_runs), the train accuracy solid and the test accuracy dashed.
#include <vector>

#include "train/report/svg_chart.h"
#include "train/report/training_log.h"

namespace resnetc::report {

// The metrics drawn, as the log names them: one series each per run.
inline constexpr const char* kLoss = "loss";
inline constexpr const char* kTrainAcc = "train_acc";
inline constexpr const char* kTestAcc = "test_acc";

Chart training_chart(const std::vector<const LoggedRun*>& runs);

}  // namespace resnetc::report
