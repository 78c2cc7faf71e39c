#pragma once
// Names for the runs of a figure, read from their header rows' command lines, so that a reader
// comparing recipes sees what differs: the options in which a run differs from the others
// ("--lr 0.1", "--device cuda"), the model when the models differ, and the date when nothing
// else does. What the runs share (the model, common options) becomes the figure's title. Options
// that only name files or steer the terminal (--log, --checkpoint, --plot, --no-progress, ...)
// are left out. Runs of an older log, without header rows, are named by file (and number).
#include <string>
#include <vector>

#include "train/report/training_log.h"

namespace resnetc::report {

struct RunNames {
  std::string title;               // what every run shares; "" when nothing is
  std::vector<std::string> names;  // one per run, distinct
};

RunNames name_runs(const std::vector<const LoggedRun*>& runs);

// The words of a command line as /bin/sh would split it ('...' quotes, backslash escapes):
// the inverse of how resnetc train writes its command into the log.
std::vector<std::string> shell_words(std::string_view line);

}  // namespace resnetc::report
