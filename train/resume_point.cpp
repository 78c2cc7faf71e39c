#include "train/resume_point.h"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/checkpoint/error.h"

namespace resnetc::train {

namespace {

// `recipe` continued from the checkpoint's `metadata`, and where it then differs from it.
std::vector<std::string> continue_and_compare(const Metadata& metadata, Recipe& recipe, const plan::KernelPlan& plan,
                                              const std::string& source) {
  continue_recipe(recipe, metadata, source);
  const ir::Dims& input = plan.buffer(plan.input).shape;  // [N, C, H, W]
  std::vector<std::string> changes = recipe_changes(metadata, recipe, {input[2], input[3]}, source);
  const std::optional<plan::Precision> saved = recorded_precision(metadata, source);
  if (saved && *saved != plan.precision)
    changes.push_back(fmt::format("precision {} (the checkpoint's: {})", plan::precision_name(plan.precision),
                                  plan::precision_name(*saved)));
  return changes;
}

// The checkpoint with exactly the plan's tensors; failing that, when the recipe changed, with
// the optimizer's state of another optimizer dropped and this one's starting at zero (refused
// below unless a changed recipe is allowed), else the mismatch.
LoadedCheckpoint load_for_resume(const TrainOptions& options, const plan::KernelPlan& plan) {
  try {
    return load_checkpoint(options.checkpoint, plan, false);
  } catch (const checkpoint::CheckpointError&) {
    LoadedCheckpoint other = load_checkpoint(options.checkpoint, plan, true);
    Recipe continued = options.recipe;
    if (continue_and_compare(other.metadata, continued, plan, options.checkpoint.string()).empty()) throw;
    return other;
  }
}

}  // namespace

ResumePoint read_resume_point(TrainOptions& options, const plan::KernelPlan& plan, const DataRecord& data,
                              std::ostream& out) {
  Recipe& r = options.recipe;
  const std::string source = options.checkpoint.string();
  ResumePoint p{load_for_resume(options, plan), {}};
  p.position = read_position(p.saved.metadata, source);
  const RunPosition& at = p.position;
  std::vector<std::string> changes = continue_and_compare(p.saved.metadata, r, plan, source);
  const std::vector<std::string> data_changed = data_changes(p.saved.metadata, data);
  changes.insert(changes.end(), data_changed.begin(), data_changed.end());
  // Other training images and nothing else (no other data set, --val-split or image size) come from
  // where they are read, not from a setting to leave out.
  const auto images = p.saved.metadata.find("train_images");
  const bool other_images =
      changes.size() == 1 && images != p.saved.metadata.end() && images->second != data.train_images;
  if (!changes.empty() && !options.allow_recipe_change)
    throw std::runtime_error(fmt::format(
        "--resume: {} was written with another recipe: {}; leave these out to resume with the checkpoint's values{}, "
        "or add --allow-recipe-change to continue with these",
        source, fmt::join(changes, ", "),
        other_images ? " (the checkpoint does not record --data: give the directory the run trained on)" : ""));
  const auto saved_value = [&](const char* key) {
    auto it = p.saved.metadata.find(key);
    return it == p.saved.metadata.end() ? std::string() : it->second;
  };
  if (at.step > 0 && (saved_value("batch") != std::to_string(r.batch) || saved_value("seed") != std::to_string(r.seed)))
    throw std::runtime_error(fmt::format(
        "--resume: {} was saved inside epoch {} (after batch {}); its place in the epoch's order needs the same "
        "--batch ({}) and --seed ({})",
        source, at.epoch + 1, at.step, saved_value("batch"), saved_value("seed")));
  if (at.step > 0 && !data_changed.empty())
    throw std::runtime_error(fmt::format(
        "--resume: {} was saved inside epoch {} (after batch {}); its place in the epoch's order needs the same "
        "training images: {}",
        source, at.epoch + 1, at.step, fmt::join(data_changed, ", ")));
  if (!changes.empty()) fmt::print(out, "note: resuming with a changed recipe: {}\n", fmt::join(changes, ", "));
  return p;
}


}  // namespace resnetc::train
