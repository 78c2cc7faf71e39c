// resnetc predict: each image's most probable classes under a model's trained weights (or its
// initialized ones, as export writes them).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "compiler/autodiff/training_graph.h"
#include "compiler/passes/pass.h"
#include "dsl/frontend.h"
#include "runtime/checkpoint/header.h"
#include "runtime/checkpoint/reader.h"
#include "runtime/cpu/thread_pool.h"
#include "runtime/data/idx.h"
#include "runtime/data/image_folder.h"
#include "tools/resnetc/backend_choice.h"
#include "tools/resnetc/commands.h"
#include "tools/resnetc/initial_weights.h"
#include "train/model_state.h"
#include "train/predict.h"
#include "train/recipe.h"
#include "train/run_augmentation.h"

namespace resnetc::cli {
namespace {

namespace fs = std::filesystem;

// A batch large enough to keep the cores busy, small enough to compile quickly.
constexpr int64_t kLargestBatch = 64;

// The files named, with each folder replaced by the images below it, in the order given.
std::vector<fs::path> image_files(const std::vector<std::string>& names) {
  std::vector<fs::path> files;
  for (const std::string& name : names) {
    std::error_code e;
    if (!fs::is_directory(name, e)) {
      files.emplace_back(name);
      continue;
    }
    std::vector<fs::path> below = data::images_below(name);
    if (below.empty()) throw data::DataError(fmt::format("{}: no PNG or JPEG image in this folder", name));
    files.insert(files.end(), below.begin(), below.end());
  }
  return files;
}

void print_text(const std::vector<fs::path>& files, const train::Predictions& p) {
  for (size_t i = 0; i < files.size(); ++i) {
    fmt::print("{}\n", files[i].string());
    for (const train::ClassProbability& c : p.top[i])
      fmt::print("  {:.4f}  {}\n", c.probability, p.class_names[static_cast<size_t>(c.label)]);
  }
}

void print_json(const std::vector<fs::path>& files, const train::Predictions& p) {
  std::string out = "[";
  for (size_t i = 0; i < files.size(); ++i) {
    out += i == 0 ? "\n  {\"file\": " : ",\n  {\"file\": ";
    checkpoint::append_json_string(out, files[i].string());
    out += ", \"top\": [";
    for (size_t k = 0; k < p.top[i].size(); ++k) {
      out += k == 0 ? "{\"class\": " : ", {\"class\": ";
      checkpoint::append_json_string(out, p.class_names[static_cast<size_t>(p.top[i][k].label)]);
      out += fmt::format(", \"prob\": {}}}", p.top[i][k].probability);
    }
    out += "]}";
  }
  fmt::print("{}\n]\n", out);
}

}  // namespace

int run_predict(const Options& o, dsl::SourceManager& sources) {
  const dsl::CompiledNetwork probe = dsl::compile_file(sources, o.model, {o.input, 1});
  if (const auto refusal = autodiff::why_not_a_classifier(probe.graph)) throw refusal->error();
  const std::vector<fs::path> files = image_files(o.images);
  const ir::Dims& input = probe.graph.shape(probe.graph.input);  // [1, C, H, W]
  // At the size the training images were kept at (--image-size, or the one a center crop was taken
  // from), then cropped and resized to the input as evaluation does; else at the input's.
  const std::optional<data::ImageSize> size =
      o.weights.empty() ? std::nullopt
                        : train::read_image_size(checkpoint::read_safetensors(o.weights).metadata(), o.weights);
  cpu::ThreadPool decoders(cpu::ThreadPool::Options{o.threads, 0});  // --threads, as train and eval
  data::Split images =
      data::load_images(files, input[1], size.value_or(data::ImageSize{{input[2], input[3]}}), decoders);
  images.labels.assign(files.size(), 0);  // unused: what the batches carry beside the images
  const int64_t batch = o.batch.value_or(std::min(images.count, kLargestBatch));
  const dsl::CompiledNetwork net = batch == 1 ? probe : dsl::compile_file(sources, o.model, {o.input, batch});
  auto backend = make_backend(o);
  plan::KernelPlan plan =
      passes::optimized_plan(net.graph, pipeline_options(o, net.training, *backend));
  train::LoadedCheckpoint weights;
  std::string weights_name = o.weights;
  if (o.weights.empty()) {
    const train::Recipe recipe = train::recipe_from(net.training);
    const uint64_t seed = o.seed ? static_cast<uint64_t>(*o.seed) : recipe.seed;
    weights.state = initial_weights(o, sources, net.graph, recipe, seed);
    weights_name = fmt::format("the initialized network (seed {})", seed);
    fmt::print(stderr, "resnetc: no --weights: predicting with {}, untrained\n", weights_name);
  } else {
    // Refused before anything is compiled: the tensors the forward plan expects.
    weights = train::load_checkpoint(o.weights, plan, true);
  }
  const train::Predictions p = train::predict(std::move(plan), images, *backend, weights, weights_name, o.top);
  if (o.format == Format::Json) print_json(files, p);
  else print_text(files, p);
  return 0;
}

}  // namespace resnetc::cli
