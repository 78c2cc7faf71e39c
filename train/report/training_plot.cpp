#include "train/report/training_plot.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "train/report/figure_file.h"
#include "train/report/training_figure.h"
#include "train/report/training_log.h"

namespace resnetc::report {

size_t plot_training_logs(const std::vector<std::filesystem::path>& logs, const std::filesystem::path& out,
                          bool last_run_only) {
  std::vector<std::vector<LoggedRun>> read;
  for (const std::filesystem::path& log : logs) read.push_back(read_training_log(log));
  std::vector<const LoggedRun*> runs;
  for (const std::vector<LoggedRun>& file : read)
    for (const LoggedRun& run : file)
      if (!run.epochs.empty()) runs.push_back(&run);  // a run stopped before its first epoch has nothing to draw
  if (last_run_only) {
    runs.clear();
    if (!read.back().empty() && !read.back().back().epochs.empty()) runs.push_back(&read.back().back());
  }
  if (runs.empty()) {
    std::vector<std::string> names;
    for (const std::filesystem::path& log : logs) names.push_back(log.string());
    throw LogError(fmt::format("no epoch to draw in {}", fmt::join(names, ", ")));
  }
  write_figure(out, render_svg(training_chart(runs)));
  return runs.size();
}

}  // namespace resnetc::report
