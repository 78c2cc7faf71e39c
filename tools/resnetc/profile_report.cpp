#include "tools/resnetc/profile_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <vector>

namespace resnetc::cli {
namespace {

struct Row {
  double seconds = 0;  // per step
  int64_t macs = 0, bytes = 0;
  std::string kind, name;  // by kind: how many kernels
  int kernels = 1;
};

std::string format_row(const Row& r, double step_seconds) {
  const auto rate = [&](double amount) {
    return r.seconds > 0 && amount > 0 ? fmt::format("{:.1f}", amount / r.seconds / 1e9) : std::string("-");
  };
  return fmt::format("  {:9.3f} {:6.1f}% {:>9} {:>8}  {:<26} {}\n", r.seconds * 1e3,
                     step_seconds > 0 ? 100 * r.seconds / step_seconds : 0.0, rate(2.0 * static_cast<double>(r.macs)),
                     rate(static_cast<double>(r.bytes)), r.kind, r.name);
}

}  // namespace

std::string format_profile(const plan::KernelPlan& plan, std::span<const double> seconds, int64_t steps, size_t top) {
  std::vector<Row> kernels;
  std::map<std::string, Row> kinds;
  for (size_t i = 0; i < plan.kernels.size(); ++i) {
    const plan::Kernel& k = plan.kernels[i];
    Row r{seconds[i] / static_cast<double>(steps), plan::kernel_macs(plan, k), plan::bytes_moved(plan, k),
          std::string(ir::op_kind_name(k.kind)), k.name};
    if (k.epilogue_stats >= 0) r.kind += "+stats";
    Row& sum = kinds.try_emplace(r.kind, Row{0, 0, 0, r.kind, "", 0}).first->second;
    sum.seconds += r.seconds, sum.macs += r.macs, sum.bytes += r.bytes, sum.kernels += 1;
    kernels.push_back(std::move(r));
  }
  const double step =
      std::accumulate(kernels.begin(), kernels.end(), 0.0, [](double t, const Row& r) { return t + r.seconds; });
  std::stable_sort(kernels.begin(), kernels.end(), [](const Row& a, const Row& b) { return a.seconds > b.seconds; });
  std::string out = fmt::format("profile: {} kernels, {:.3f} ms per step when run one by one (mean of {} steps)\n",
                                plan.kernels.size(), step * 1e3, steps);
  out += fmt::format("  {:>9} {:>7} {:>9} {:>8}  {:<26} {}\n", "ms/step", "share", "GFLOP/s", "GB/s", "kind", "kernel");
  for (size_t i = 0; i < std::min(top, kernels.size()); ++i) out += format_row(kernels[i], step);
  std::vector<Row> by_kind;
  for (auto& [kind, row] : kinds) {
    row.name = fmt::format("{} kernel{}", row.kernels, row.kernels == 1 ? "" : "s");
    by_kind.push_back(row);
  }
  std::stable_sort(by_kind.begin(), by_kind.end(), [](const Row& a, const Row& b) { return a.seconds > b.seconds; });
  out += "by kind:\n";
  for (const Row& r : by_kind) out += format_row(r, step);
  return out;
}

}  // namespace resnetc::cli
