#include "train/batch_feeder.h"

#include <fmt/format.h>

#include <span>
#include <stdexcept>
#include <utility>

#include "runtime/data/sampler.h"

namespace resnetc::train {

BatchFeeder::BatchFeeder(const plan::KernelPlan& p, PlanExecutor& exec, const data::Split& split,
                         data::Normalization norm, bool device_data, data::ImageTransform image_transform)
    : plan(p),
      resizer(split.height, split.width, p.buffer(p.input).shape[2], p.buffer(p.input).shape[3]),
      normalization(std::move(norm)),
      transform(std::move(image_transform)),
      labels(static_cast<size_t>(p.buffer(p.input).shape[0])) {
  if (p.buffer(p.input).shape[1] != split.channels)
    throw std::runtime_error(fmt::format("the network takes {} input channels, but the data set's images have {}",
                                         p.buffer(p.input).shape[1], split.channels));
  if (!normalization.empty() && (std::ssize(normalization.mean) != split.channels ||
                                 std::ssize(normalization.std) != split.channels))
    throw std::runtime_error(fmt::format("the normalization has {} means and {} stds, but the images have {} channels",
                                         normalization.mean.size(), normalization.std.size(), split.channels));
  if (device_data) device = exec.batch_source(split, normalization, transform);
  if (!device) images.resize(static_cast<size_t>(ir::numel(p.buffer(p.input).shape)));
}

std::vector<uint32_t> BatchFeeder::shuffle(const data::Split& split, uint64_t run_seed, int run_epoch) {
  at_epoch(run_seed, run_epoch);
  return device ? device->shuffle(run_seed, run_epoch)
                : data::epoch_order(run_seed, run_epoch, static_cast<uint32_t>(split.count));
}

void BatchFeeder::feed_order(PlanExecutor& exec, const data::Split& split, const std::vector<uint32_t>& order,
                             int64_t first) {
  const auto begin = order.begin() + first;
  if (!device) {
    feed(exec, split, std::vector<uint32_t>(begin, begin + static_cast<int64_t>(labels.size())));
    return;
  }
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = split.labels.at(begin[static_cast<int64_t>(i)]);
  device->feed_order(first);
}

void BatchFeeder::feed(PlanExecutor& exec, const data::Split& split, std::vector<uint32_t> indices) {
  while (indices.size() < labels.size()) indices.push_back(indices.front());
  if (device) {
    for (size_t i = 0; i < indices.size(); ++i) labels[i] = split.labels.at(indices[i]);
    device->feed(indices);
    return;
  }
  if (transform.identity()) {
    data::fill_batch(split, indices, resizer, images.data(), labels.data(), normalization);
  } else {
    std::vector<data::View> views;
    for (const uint32_t index : indices) views.push_back(transform.view(seed, epoch, index));
    data::fill_view_batch(split, indices, views, resizer.out_height(), resizer.out_width(), images.data(),
                          labels.data(), normalization);
  }
  write_buffer(exec, plan.input, std::span<const float>(images));
  if (plan.labels >= 0) write_buffer(exec, plan.labels, std::span<const int32_t>(labels));
}

}  // namespace resnetc::train
