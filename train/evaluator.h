#pragma once
// The network in evaluation mode over a split: its accuracy, or every image's logits.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "compiler/plan/kernel_plan.h"
#include "runtime/data/dataset.h"
#include "train/batch_feeder.h"
#include "train/executor.h"

namespace resnetc::train {

class DataParallel;

// Correct predictions among the first `count` rows of the logits.
int64_t count_correct(std::span<const float> logits, const std::vector<int32_t>& labels, int64_t count,
                      int64_t classes);

// The network in evaluation mode (BatchNorm with running statistics), fed batches of one split
// (on a GPU, kept there from the first evaluation to the last).
class Evaluator {
 public:
  // `plan`: the forward graph's (passes::optimized_plan); `normalization`: the weights' (empty: none);
  // `augmentation`: the weights' recipe's, whose evaluation view (a center crop) the images get.
  // Throws std::invalid_argument for a center crop larger than the split's images.
  Evaluator(plan::KernelPlan plan, Backend& backend, const data::Split& split, data::Normalization normalization,
            const data::Augmentation& augmentation = {});

  const plan::KernelPlan& plan() const { return plan_; }
  PlanExecutor& executor() { return *exec_; }

  // Over the first `limit` images of the split (0: all of them). Of an MPI job (`dp`), sharded as
  // training batches are: each rank evaluates its slice of every batch of (the plan's batch x
  // ranks) images and the correct counts are summed, so every rank returns the accuracy of the
  // whole split, each image counted once.
  double accuracy(int64_t limit = 0, const DataParallel* dp = nullptr);

  // The logits of every image of the split, image after image (count x classes).
  std::vector<float> logits();

 private:
  // Runs the network on the first `total` images, batch by batch (of an MPI job, on this rank's
  // slices of them), and hands each batch's logits (the batch's rows; the first `count` are the
  // images', from image `first` on) to `use`.
  void for_each_batch(int64_t total, const DataParallel* dp,
                      const std::function<void(std::span<const float> logits, int64_t first, int64_t count)>& use);

  plan::KernelPlan plan_;
  std::unique_ptr<PlanExecutor> exec_;
  const data::Split& split_;
  BatchFeeder feeder_;
};

}  // namespace resnetc::train
