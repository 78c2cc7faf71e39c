// resnetc plot LOG... -o FIGURE
#include <fmt/format.h>

#include <filesystem>
#include <vector>

#include "train/report/figure_file.h"
#include "train/report/training_plot.h"
#include "tools/resnetc/commands.h"

namespace resnetc::cli {

int run_plot(const Options& o) {
  const std::vector<std::filesystem::path> logs(o.logs.begin(), o.logs.end());
  report::check_figure_output(o.output, logs);
  const size_t runs = report::plot_training_logs(logs, o.output);
  fmt::print("{}: {} run{} drawn\n", o.output, runs, runs == 1 ? "" : "s");
  return 0;
}

}  // namespace resnetc::cli
