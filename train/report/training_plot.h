#pragma once
// `resnetc plot LOG... -o FIGURE` and `resnetc train --plot FIGURE`: the figure of the runs in
// training logs (training_figure.h), written to a file (figure_file.h).
#include <cstddef>
#include <filesystem>
#include <vector>

namespace resnetc::report {

// Draws every run of `logs` that has an epoch, in order (`last_run_only`: the last run of the
// last log, the one a trainer is writing), into `out`, and returns how many. Throws LogError for
// a log (one without any epoch too) and std::runtime_error for the figure.
size_t plot_training_logs(const std::vector<std::filesystem::path>& logs, const std::filesystem::path& out,
                          bool last_run_only = false);

}  // namespace resnetc::report
