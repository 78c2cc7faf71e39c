#pragma once
// Batches of a data set's split written into a plan's input (and labels), for training, evaluation
// and prediction alike, so every path sees the same pixels.
#include <cstdint>
#include <memory>
#include <vector>

#include "compiler/plan/kernel_plan.h"
#include "runtime/data/dataset.h"
#include "runtime/data/resize.h"
#include "train/executor.h"

namespace resnetc::train {

// Fills the plan's input and labels with examples of `split`: on the backend's device when it
// keeps the data set there (shuffled there too), else assembled on the host and written.
// `labels` holds the batch's labels either way.
struct BatchFeeder {
  const plan::KernelPlan& plan;
  data::Resizer resizer;
  data::Normalization normalization;
  std::vector<float> images;
  std::vector<int32_t> labels;
  std::unique_ptr<BatchSource> device;

  // `device_data` false: assemble on the host even when the backend could keep the data.
  BatchFeeder(const plan::KernelPlan& p, PlanExecutor& exec, const data::Split& split,
              data::Normalization normalization, bool device_data = true);

  // data::epoch_order(seed, epoch, split.count), drawn where the data lives.
  std::vector<uint32_t> shuffle(const data::Split& split, uint64_t seed, int epoch);

  // The examples at positions first .. first + batch - 1 of `order`, the last shuffle()'s.
  void feed_order(PlanExecutor& exec, const data::Split& split, const std::vector<uint32_t>& order, int64_t first);

  // The examples at `indices`; a short batch is padded by repeating its first example.
  void feed(PlanExecutor& exec, const data::Split& split, std::vector<uint32_t> indices);
};

}  // namespace resnetc::train
