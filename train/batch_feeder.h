#pragma once
// Batches of a data set's split written into a plan's input (and labels), for training, evaluation
// and prediction alike, so every path sees the same pixels.
#include <cstdint>
#include <memory>
#include <vector>

#include "compiler/plan/kernel_plan.h"
#include "runtime/data/augment.h"
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
  data::ImageTransform transform;  // the augmentation's views (identity: none)
  std::vector<float> images;
  std::vector<int32_t> labels;
  std::unique_ptr<BatchSource> device;
  uint64_t seed = 0;  // the run and epoch whose views the batches get
  int epoch = 0;

  // `device_data` false: assemble on the host even when the backend could keep the data.
  BatchFeeder(const plan::KernelPlan& p, PlanExecutor& exec, const data::Split& split,
              data::Normalization normalization, bool device_data = true, data::ImageTransform transform = {});

  // data::epoch_order(seed, epoch, split.count), drawn where the data lives; the batches that
  // follow get the views of that epoch.
  std::vector<uint32_t> shuffle(const data::Split& split, uint64_t seed, int epoch);
  // The views of epoch `epoch` for the batches that follow, without a shuffle (the short batch's
  // feeder, given the main one's order).
  void at_epoch(uint64_t run_seed, int run_epoch) {
    seed = run_seed;
    epoch = run_epoch;
  }

  // The examples at positions first .. first + batch - 1 of `order`, the last shuffle()'s.
  void feed_order(PlanExecutor& exec, const data::Split& split, const std::vector<uint32_t>& order, int64_t first);

  // The examples at `indices`; a short batch is padded by repeating its first example.
  void feed(PlanExecutor& exec, const data::Split& split, std::vector<uint32_t> indices);
};

}  // namespace resnetc::train
