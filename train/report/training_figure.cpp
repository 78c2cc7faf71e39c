#include "train/report/training_figure.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>

#include "train/report/run_names.h"

namespace resnetc::report {
namespace {

// Tableau's ten, which stay apart for most kinds of color blindness.
constexpr std::array<const char*, 10> kRunColors = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr const char* kLossColor = "#1f77b4";
constexpr const char* kTrainColor = "#9467bd";
constexpr const char* kTestColor = "#2ca02c";
constexpr const char* kKeyColor = "#555555";

Series series_of(const LoggedRun& run, const std::string& name, const char* metric, double train::EpochReport::*value,
                 const std::string& what, const char* color, bool dashed) {
  Series s{name, metric, name.empty() ? what : fmt::format("{}: {}", name, what), color, dashed, {}, {}};
  for (const train::EpochReport& e : run.epochs) {
    s.x.push_back(static_cast<double>(e.epoch));
    s.y.push_back(e.*value);
  }
  return s;
}

// "2026-12-02 13:07 UTC" from the log's "2026-12-02T13:07:44Z".
std::string readable_date(const std::string& date) {
  if (date.size() < 16 || date[10] != 'T') return date;
  return fmt::format("{} {} UTC", date.substr(0, 10), date.substr(11, 5));
}

// "small-fashion.csv, 3 epochs, 2026-12-02 13:07" or "a.csv, b.csv: 3 runs, up to 10 epochs".
std::string subtitle(const std::vector<const LoggedRun*>& runs) {
  std::vector<std::string> files;
  size_t epochs = 0;
  for (const LoggedRun* run : runs) {
    const std::string file = run->file.filename().string();
    if (std::find(files.begin(), files.end(), file) == files.end()) files.push_back(file);
    epochs = std::max(epochs, run->epochs.size());
  }
  if (runs.size() == 1)
    return fmt::format(
        "{}: {} epoch{}{}", files.front(), epochs, epochs == 1 ? "" : "s",
        runs.front()->date.empty() ? "" : fmt::format(", started {}", readable_date(runs.front()->date)));
  return fmt::format("{}: {} runs, up to {} epochs", fmt::join(files, ", "), runs.size(), epochs);
}

}  // namespace

Chart training_chart(const std::vector<const LoggedRun*>& runs) {
  const RunNames names = name_runs(runs);
  Chart c;
  c.title = names.title.empty() ? "training" : names.title;
  c.subtitle = runs.empty() ? "" : subtitle(runs);
  c.x_label = "epoch";
  Panel loss{"training loss", {}, true, 0.0, std::nullopt};
  Panel accuracy{"accuracy", {}, false, 0.0, 1.0};
  const bool one = runs.size() == 1;
  for (size_t k = 0; k < runs.size(); ++k) {
    const LoggedRun& run = *runs[k];
    const std::string& name = names.names[k];
    const char* color = kRunColors[k % kRunColors.size()];
    loss.series.push_back(
        series_of(run, name, kLoss, &train::EpochReport::loss, "train loss", one ? kLossColor : color, false));
    accuracy.series.push_back(
        series_of(run, name, kTrainAcc, &train::EpochReport::train_acc, "train acc", one ? kTrainColor : color, false));
    accuracy.series.push_back(
        series_of(run, name, kTestAcc, &train::EpochReport::test_acc, "test acc", one ? kTestColor : color, true));
    if (!one) c.legend.push_back({name, color, false});
  }
  if (one) {
    c.legend = {{"train loss", kLossColor, false}, {"train acc", kTrainColor, false}, {"test acc", kTestColor, true}};
  } else {
    c.legend.push_back({"solid: train loss, train acc", kKeyColor, false});
    c.legend.push_back({"dashed: test acc", kKeyColor, true});
  }
  c.panels = {loss, accuracy};
  return c;
}

}  // namespace resnetc::report
