#include "train/evaluator.h"

#include <algorithm>
#include <utility>

#include "train/distributed.h"

namespace resnetc::train {

int64_t count_correct(std::span<const float> logits, const std::vector<int32_t>& labels, int64_t count,
                      int64_t classes) {
  int64_t right = 0;
  for (int64_t i = 0; i < count; ++i) {
    const float* row = logits.data() + i * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (row[c] > row[best]) best = c;
    right += best == labels[static_cast<size_t>(i)];
  }
  return right;
}

Evaluator::Evaluator(plan::KernelPlan plan, Backend& backend, const data::Split& split,
                     data::Normalization normalization, const data::Augmentation& augmentation)
    : plan_(std::move(plan)),
      exec_(backend.compile(plan_)),
      split_(split),
      feeder_(plan_, *exec_, split, std::move(normalization), true,
              data::ImageTransform::evaluation(augmentation, split.height, split.width)) {}

void Evaluator::for_each_batch(int64_t total, const DataParallel* dp,
                               const std::function<void(std::span<const float>, int64_t, int64_t)>& use) {
  const int64_t batch = plan_.buffer(plan_.input).shape[0];
  const int64_t classes = plan_.buffer(plan_.logits).shape[1];
  const int64_t global_batch = batch * (dp ? dp->size() : 1);
  std::vector<float> logits(static_cast<size_t>(batch * classes));
  for (int64_t start = 0; start < total; start += global_batch) {
    const Slice mine = rank_slice(dp, std::min(global_batch, total - start));
    if (mine.count == 0) continue;  // the last batch's share of a later rank
    std::vector<uint32_t> indices;
    for (int64_t i = 0; i < mine.count; ++i) indices.push_back(static_cast<uint32_t>(start + mine.first + i));
    feeder_.feed(*exec_, split_, indices);
    exec_->run();
    read_buffer(*exec_, plan_.logits, std::span<float>(logits));
    use(logits, start + mine.first, mine.count);
  }
}

double Evaluator::accuracy(int64_t limit, const DataParallel* dp) {
  const int64_t classes = plan_.buffer(plan_.logits).shape[1];
  const int64_t total = limit > 0 ? std::min(limit, split_.count) : split_.count;
  int64_t right = 0;
  for_each_batch(total, dp, [&](std::span<const float> logits, int64_t, int64_t count) {
    right += count_correct(logits, feeder_.labels, count, classes);
  });
  if (dp) {
    double sum[1] = {static_cast<double>(right)};
    dp->sum(sum);
    right = static_cast<int64_t>(sum[0]);
  }
  return static_cast<double>(right) / static_cast<double>(total);
}

std::vector<float> Evaluator::logits() {
  const int64_t classes = plan_.buffer(plan_.logits).shape[1];
  std::vector<float> all(static_cast<size_t>(split_.count * classes));
  for_each_batch(split_.count, nullptr, [&](std::span<const float> logits, int64_t first, int64_t count) {
    std::copy_n(logits.begin(), count * classes, all.begin() + first * classes);
  });
  return all;
}

}  // namespace resnetc::train
