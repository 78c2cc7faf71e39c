#include "compiler/plan/collectives.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <stdexcept>

namespace resnetc::plan {
namespace {

bool overlap(const Buffer& a, const Buffer& b) {
  return a.storage == b.storage && a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
}

// The arena buffers a kernel writes: its output and a conv2d's epilogue statistics (an update
// writes into its inputs, and comes after every stop).
std::vector<int> written(const Kernel& k) {
  std::vector<int> w;
  for (int b : {k.output, k.epilogue_stats})
    if (b >= 0) w.push_back(b);
  return w;
}

// The stop after the last kernel before `end` that writes bytes of `buffer`: then it is final.
size_t final_after(const KernelPlan& plan, int buffer, size_t end) {
  for (size_t k = end; k-- > 0;)
    for (int w : written(plan.kernels[k]))
      if (overlap(plan.buffer(w), plan.buffer(buffer))) return k + 1;
  return 0;
}

void expect_f32(const Buffer& b) {
  if (b.dtype != ir::DType::F32) throw std::logic_error(fmt::format("collective's buffer '{}' is not F32", b.name));
}

std::vector<Collective> gradient_buckets(const KernelPlan& plan, int64_t bucket_bytes) {
  const GradientBuffers g = gradient_buffers(plan);
  std::vector<std::pair<size_t, int>> ready;  // (stop, buffer): the order the backward finishes them
  for (int b : g.buffers) ready.emplace_back(final_after(plan, b, g.first_update), b);
  std::stable_sort(ready.begin(), ready.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<Collective> buckets;
  int64_t bytes = 0;
  for (const auto& [at, b] : ready) {
    const int64_t n = ir::numel(plan.buffer(b).shape);
    if (buckets.empty() || bytes + n * 4 > bucket_bytes) {
      buckets.push_back({CollectiveKind::Gradients, at, {}, 0});
      bytes = 0;
    }
    Collective& c = buckets.back();
    c.at = at;  // the largest so far: ready is sorted
    c.buffers.push_back(b);
    c.floats += n;
    bytes += n * 4;
  }
  return buckets;
}

// BatchNorm's [2, C] statistics (a conv2d's epilogue or a bn_stats kernel) and the backward's
// [2, C] sums (the fused reduction that reads the statistics and writes [2, C]), each placed
// right after the kernel computing it.
std::vector<Collective> batchnorm_syncs(const KernelPlan& plan, size_t first_update) {
  std::vector<Collective> syncs;
  std::set<int> stats;
  for (size_t k = 0; k < first_update; ++k) {
    const Kernel& kernel = plan.kernels[k];
    if (kernel.kind == ir::OpKind::BnGradInput)
      throw std::invalid_argument(fmt::format(
          "--sync-bn: plan {} computes BatchNorm's input gradient '{}' in one kernel, which sums over the batch "
          "inside it; --sync-bn needs the fused BatchNorm backward of the optimized plan (not -O0)",
          plan.name, kernel.name));
    const int s = kernel.epilogue_stats >= 0 ? kernel.epilogue_stats
                  : kernel.kind == ir::OpKind::BnStats ? kernel.output
                                                        : -1;
    if (s >= 0) {
      expect_f32(plan.buffer(s));
      stats.insert(s);
      const int of = kernel.epilogue_stats >= 0 ? kernel.output : kernel.inputs.at(0);
      syncs.push_back({CollectiveKind::BatchNormForward, k + 1, {s}, ir::numel(plan.buffer(s).shape), of});
      continue;
    }
    const bool reads_stats =
        std::any_of(kernel.inputs.begin(), kernel.inputs.end(), [&](int b) { return stats.count(b) > 0; });
    if (kernel.kind == ir::OpKind::Fused && reads_stats && kernel.output >= 0 &&
        plan.buffer(kernel.output).shape.size() == 2 && plan.buffer(kernel.output).shape[0] == 2) {
      expect_f32(plan.buffer(kernel.output));
      syncs.push_back(
          {CollectiveKind::BatchNormBackward, k + 1, {kernel.output}, ir::numel(plan.buffer(kernel.output).shape)});
    }
  }
  return syncs;
}

std::string_view kind_name(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::Gradients: return "gradients";
    case CollectiveKind::BatchNormForward: return "batchnorm_statistics";
    case CollectiveKind::BatchNormBackward: return "batchnorm_gradient_sums";
  }
  return "?";
}

}  // namespace

GradientBuffers gradient_buffers(const KernelPlan& plan) {
  GradientBuffers g;
  const auto first = std::find_if(plan.kernels.begin(), plan.kernels.end(),
                                  [](const Kernel& k) { return ir::is_update(k.kind); });
  g.first_update = static_cast<size_t>(first - plan.kernels.begin());
  for (auto k = first; k != plan.kernels.end(); ++k) {
    // A gradient must be final before it is averaged: after the first update only updates may run.
    if (!ir::is_update(k->kind))
      throw std::logic_error(fmt::format("plan {}: kernel '{}' runs among the updates; the gradients cannot be "
                                         "averaged before them",
                                         plan.name, k->name));
    // An optimizer's update reads its parameters' gradients from the step's arena; the other
    // updates (BatchNorm's running statistics) keep per-rank values, as PyTorch DDP does.
    const bool updates_parameters = std::any_of(k->inputs.begin(), k->inputs.end(), [&](int b) {
      return plan.buffer(b).role == ir::ValueRole::Parameter;
    });
    if (!updates_parameters) continue;
    for (int b : k->inputs) {
      const Buffer& buffer = plan.buffer(b);
      if (buffer.storage != Storage::Arena) continue;
      // Each gradient's bytes are reduced once: a buffer (or a view) over bytes already taken is skipped.
      const auto same_bytes = [&](int taken) {
        const Buffer& t = plan.buffer(taken);
        if (t.offset == buffer.offset && t.bytes == buffer.bytes) return true;
        if (overlap(t, buffer)) throw std::logic_error(fmt::format("gradients '{}' and '{}' overlap", t.name, buffer.name));
        return false;
      };
      if (std::any_of(g.buffers.begin(), g.buffers.end(), same_bytes)) continue;
      if (buffer.dtype != ir::DType::F32) throw std::logic_error(fmt::format("gradient '{}' is not F32", buffer.name));
      g.buffers.push_back(b);
      g.floats += ir::numel(buffer.shape);
    }
  }
  return g;
}

std::vector<Collective> place_collectives(const KernelPlan& plan, const CollectiveOptions& options) {
  std::vector<Collective> all = gradient_buckets(plan, options.bucket_bytes);
  if (options.sync_batchnorm) {
    std::vector<Collective> syncs = batchnorm_syncs(plan, gradient_buffers(plan).first_update);
    all.insert(all.begin(), syncs.begin(), syncs.end());  // before the buckets: stable_sort keeps them first
  }
  std::stable_sort(all.begin(), all.end(), [](const Collective& a, const Collective& b) { return a.at < b.at; });
  return all;
}

std::string print_collectives(const KernelPlan& plan, const std::vector<Collective>& collectives) {
  std::string out = fmt::format("collectives of plan {} {{\n", plan.name);
  for (const Collective& c : collectives) {
    std::string names;
    for (int b : c.buffers) names += fmt::format("{}%{}", names.empty() ? "" : ", ", plan.buffer(b).name);
    out += fmt::format("  before k{}: all_reduce {} {:.1f} KiB ({})\n", c.at, kind_name(c.kind),
                       static_cast<double>(c.floats) * 4 / 1024, names);
  }
  return out + "}\n";
}

}  // namespace resnetc::plan
