#include "train/predict.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "train/evaluator.h"
#include "train/model_state.h"
#include "train/run_augmentation.h"
#include "train/run_record.h"

namespace resnetc::train {
namespace {

std::vector<std::string> class_names(const std::map<std::string, std::string>& metadata, int64_t classes) {
  std::vector<std::string> names;
  if (const auto it = metadata.find("class_names"); it != metadata.end()) {
    std::istringstream lines(it->second);
    for (std::string line; std::getline(lines, line);) names.push_back(line);
  }
  if (static_cast<int64_t>(names.size()) == classes) return names;
  names.clear();  // none saved (an older checkpoint), or not one per output: number them
  for (int64_t i = 0; i < classes; ++i) names.push_back(std::to_string(i));
  return names;
}

// The softmax of one row in double, its `top` largest entries first.
std::vector<ClassProbability> top_classes(const float* logits, int64_t classes, int64_t top) {
  const double largest = *std::max_element(logits, logits + classes);
  std::vector<ClassProbability> all(static_cast<size_t>(classes));
  double sum = 0;
  for (int64_t c = 0; c < classes; ++c) {
    all[static_cast<size_t>(c)] = {c, std::exp(static_cast<double>(logits[c]) - largest)};
    sum += all[static_cast<size_t>(c)].probability;
  }
  for (ClassProbability& p : all) p.probability /= sum;
  const auto keep = std::min<int64_t>(top, classes);
  std::partial_sort(all.begin(), all.begin() + keep, all.end(), [](const ClassProbability& a, const ClassProbability& b) {
    return a.probability != b.probability ? a.probability > b.probability : a.label < b.label;
  });
  all.resize(static_cast<size_t>(keep));
  return all;
}

}  // namespace

Predictions predict(plan::KernelPlan plan, const data::Split& images, Backend& backend, const LoadedCheckpoint& weights,
                    const std::string& weights_name, int64_t top) {
  const int64_t classes = plan.buffer(plan.logits).shape[1];
  Evaluator evaluator(std::move(plan), backend, images, read_normalization(weights.metadata, weights_name),
                      read_augmentation(weights.metadata, weights_name));
  write_state(evaluator.executor(), evaluator.plan(), weights.state);
  const std::vector<float> logits = evaluator.logits();
  Predictions out{class_names(weights.metadata, classes), {}};
  for (int64_t i = 0; i < images.count; ++i) out.top.push_back(top_classes(logits.data() + i * classes, classes, top));
  return out;
}

}  // namespace resnetc::train
