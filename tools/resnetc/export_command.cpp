// resnetc export: a network and its weights (trained, or initialized from a seed) as an ONNX model,
// or as the PyTorch state dict of the equivalent torchvision ResNet.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "tools/resnetc/commands.h"

#if RESNETC_HAVE_ONNX
#include "compiler/autodiff/training_graph.h"
#include "dsl/frontend.h"
#include "export/inference_graph.h"
#include "export/onnx_model.h"
#include "runtime/checkpoint/atomic_file.h"
#include "runtime/checkpoint/error.h"
#include "tools/resnetc/initial_weights.h"
#include "train/model_state.h"
#include "train/recipe.h"
#include "train/torchvision_export.h"
#endif

namespace resnetc::cli {

#if RESNETC_HAVE_ONNX
namespace {

namespace fs = std::filesystem;

// What a checkpoint says of its images, which a model's user needs to feed and read it.
constexpr const char* kCarriedMetadata[] = {"class_names", "normalize_mean", "normalize_std"};

[[noreturn]] void cannot_write(const fs::path& out, const std::string& why) {
  throw std::runtime_error(fmt::format("cannot write the model {}: {}", out.string(), why));
}

// The file that `out` names: through a link, as the trainer writes its checkpoint.
fs::path output_target(const fs::path& out, const std::vector<fs::path>& inputs) {
  std::error_code ec;
  for (const fs::path& input : inputs)
    if (fs::equivalent(out, input, ec) || out.lexically_normal() == input.lexically_normal())
      cannot_write(out, fmt::format("it is an input ({}); choose another file, outputs never overwrite inputs",
                                    input.string()));
  const fs::path target = fs::is_symlink(fs::symlink_status(out, ec)) ? fs::weakly_canonical(out, ec) : out;
  return target.empty() ? out : target;
}

}  // namespace

int run_export(const Options& o, dsl::SourceManager& sources) {
  const fs::path out = o.output;
  std::vector<fs::path> inputs{o.model};
  if (!o.weights.empty()) inputs.emplace_back(o.weights);
  const fs::path target = output_target(out, inputs);
  // The ONNX model's temporary file is made before anything is computed, so an output that cannot
  // be written fails at once and nothing but the complete model ever appears there; the state
  // dict's writer makes its own, after checking the target here.
  std::optional<checkpoint::AtomicFile> onnx_file;
  try {
    if (o.export_format == ExportFormat::Onnx)
      onnx_file.emplace(target);
    else
      checkpoint::require_regular_or_absent(target);
  } catch (const checkpoint::CheckpointError& e) {
    cannot_write(out, e.problem());
  }

  const dsl::CompiledNetwork net = dsl::compile_file(sources, o.model, {o.input, 1});
  if (const auto refusal = autodiff::why_not_a_classifier(net.graph)) throw refusal->error();
  const train::Recipe recipe = train::recipe_from(net.training);
  exporter::Weights weights;
  exporter::ModelInfo info{RESNETC_VERSION, {}};
  std::string source;
  if (o.weights.empty()) {
    const uint64_t seed = o.seed ? static_cast<uint64_t>(*o.seed) : recipe.seed;
    weights = initial_weights(o, sources, net.graph, recipe, seed);  // a missing one is named by fold_for_inference
    source = fmt::format("initialized from seed {}", seed);
  } else {
    // The checkpoint's tensors are the forward plan's persistent buffers, checked as predict does.
    train::LoadedCheckpoint saved = train::load_checkpoint(o.weights, passes::optimized_plan(net.graph, {}), true);
    weights = std::move(saved.state);
    for (const char* key : kCarriedMetadata)
      if (const auto it = saved.metadata.find(key); it != saved.metadata.end()) info.metadata[key] = it->second;
    // Names that are not one per output name nothing (a data set of another size): predict numbers
    // the classes then, and so does the model by leaving them out.
    if (const auto names = info.metadata.find("class_names"); names != info.metadata.end()) {
      const std::string& s = names->second;  // lines as predict reads them, the last unterminated
      const auto lines = std::count(s.begin(), s.end(), '\n') + (!s.empty() && s.back() != '\n');
      if (lines != net.graph.shape(net.graph.output)[1]) info.metadata.erase(names);
    }
    source = o.weights;
  }
  if (o.export_format == ExportFormat::PyTorch) {
    try {
      train::write_torchvision_state_dict(target, net.graph, weights, info.metadata);
    } catch (const checkpoint::CheckpointError& e) {
      cannot_write(out, e.problem());
    }
    fmt::print("exported {} ({}) to {}: the state dict of the torchvision ResNet of its structure, {} bytes\n",
               net.graph.name, source, out.string(), fs::file_size(target));
    return 0;
  }
  const std::string bytes = exporter::onnx_model(exporter::fold_for_inference(net.graph, weights), info);
  try {
    onnx_file->write(std::as_bytes(std::span(bytes)));
    onnx_file->commit();
  } catch (const checkpoint::CheckpointError& e) {
    cannot_write(out, e.problem());
  }
  const ir::Dims& x = net.graph.shape(net.graph.input);
  fmt::print("exported {} ({}) to {}: ONNX opset {}, input \"{}\" [N, {}, {}, {}], output \"{}\" [N, {}], {} bytes\n",
             net.graph.name, source, out.string(), exporter::kOpset, exporter::kInputName, x[1], x[2], x[3],
             exporter::kOutputName, net.graph.shape(net.graph.output)[1], bytes.size());
  return 0;
}

#else

int run_export(const Options&, dsl::SourceManager&) {
  throw std::runtime_error("this resnetc was built without ONNX (Debian's libonnx-dev and libprotobuf-dev, which "
                           "tools/setup installs): export is unavailable");
}

#endif

}  // namespace resnetc::cli
