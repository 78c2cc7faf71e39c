#pragma once
// Command-line options of `resnetc`, parsed without side effects so tests can drive them.
#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "compiler/passes/pass.h"
#include "dsl/training_settings.h"
#include "runtime/data/augment_spec.h"
#include "runtime/data/image_storage.h"
#include "train/executor.h"

namespace resnetc::cli {

enum class Command { Compile, Train, Eval, Predict, Bench, Plot, Export };
enum class Emit { Table, Ir, Dot, Plan, Llvm, Cuda };
enum class Format { Text, Json };
enum class Device { Auto, Cpu, Cuda };
enum class ExportFormat { Onnx, PyTorch };

// The recipe's flags (--batch, --epochs, --lr, ..., --random-crop, --image-size) are its
// dsl::RecipeSettings: each replaces the file's `train` section's setting.
struct Options : dsl::RecipeSettings {
  Command command = Command::Compile;
  std::string model;  // the .net file
  // compile
  Emit emit = Emit::Table;
  Format format = Format::Text;
  int depth = 0;       // 0: every layer
  bool train = false;  // --emit the training step instead of the network
  bool collectives = false;  // --collectives: with --emit=plan --train, where data-parallel training all-reduces
  // every command
  std::optional<std::array<int64_t, 3>> input;
  Device device = Device::Auto;
  int threads = 0;  // 0: every core
  std::optional<plan::Precision> precision;  // --precision; unset: the train section's, else the device's default
  std::string cache_dir;  // compiled kernels (CPU objects in cpu/, NVRTC cubins); empty: $XDG_CACHE_HOME/resnetc
  // train
  std::optional<std::string> dataset;  // --dataset NAME, replacing the recipe's
  std::string data_dir;    // empty: the recipe's path, else the data set's Debian location
  bool skip_bad_images = false;  // --skip-bad-images: leave out a folder's files that are not readable images
  data::ImageCache image_cache;        // --image-cache, --image-cache-dir: a folder's images in memory or in a file
  std::optional<double> val_split;     // --val-split F: evaluate on this fraction of the training set
  std::vector<float> mean, std_dev;    // --mean, --std: the pixels' normalization, one a channel or one for all
  bool normalize = false;              // --normalize: the normalization computed from the training set
  std::string checkpoint;  // empty: <model>.safetensors beside the current directory
  std::string log;
  bool overwrite_log = false;        // --overwrite-log: start the log afresh instead of adding a run to it
  bool resume = false, progress = true;
  bool allow_recipe_change = false;  // --allow-recipe-change: --resume with other epochs, lr, schedule, ...
  std::string init;                  // --init FILE: start from these weights (every tensor whose name and shape match)
  bool reset_head = false;           // --reset-head: with --init, initialize the classifier instead of reading it
  std::optional<int64_t> max_steps;  // --max-steps N: stop after N training steps, with a resumable checkpoint
  std::optional<int64_t> nproc;      // --nproc N: train as N ranks of an MPI job on this machine (mpirun)
  double collective_timeout = 60;    // --collective-timeout S: end an MPI job whose rank hangs this long (0: never)
  bool sync_bn = false;              // --sync-bn: BatchNorm's statistics over every rank's examples
  double bucket_mb = 25;             // --bucket-mb MB: the gradients' all-reduce buckets, in MiB
  std::string plot;                  // --plot FILE: the run's figure, redrawn from --log after every epoch
  // eval
  std::string weights;
  std::optional<int64_t> limit;  // --limit N: evaluate the first N test images only
  // predict (with --weights)
  std::vector<std::string> images;  // image files, and folders of them
  int64_t top = 5;                  // --top K: the most probable classes to print
  // plot
  std::vector<std::string> logs;  // the training logs to draw
  std::string output;             // -o FILE: the figure, .svg or .png; export: the ONNX model or state dict
  ExportFormat export_format = ExportFormat::Onnx;  // export --format onnx|pytorch
  // bench
  int64_t steps = 10, warmup = 2;
  bool profile = false;  // also time every kernel (bench)

  // optimization (every command)
  int opt_level = 2;                     // -O0, -O1, -O2
  bool opt_level_given = false;          // -O was given: --emit=dot then draws the optimized graph
  std::vector<std::string> print_after;  // --print-after=PASS (repeatable)
  bool print_after_all = false, verify_each = false, list_passes = false;

  bool help = false, version = false, prelude = false;
  std::optional<Command> help_for;  // with help: the command whose options to list; none: the top level's
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  // `command`: the command in use, whose --help the message points at ("": the top level's).
  UsageError(const std::string& message, std::string command)
      : std::runtime_error(message), command_(std::move(command)) {}
  const std::string& command() const { return command_; }

 private:
  std::string command_;
};

// No command is `compile`: `resnetc MODEL.net` is `resnetc compile MODEL.net`.
Options parse_options(const std::vector<std::string>& args);  // throws UsageError
// -O, --print-after(-all), --verify-each and --precision as the pipeline takes them (printing to
// stderr); under bf16, activations stored in bf16 (plan/storage_precision.h).
passes::PipelineOptions pipeline_options(const Options& o);
// The same with the precision of --precision, else of the model's train section, else the
// device's default (train::Backend::default_precision: tf32 on a GPU, fp32 on the CPU).
passes::PipelineOptions pipeline_options(const Options& o, const dsl::TrainingSettings& training,
                                         const train::Backend& device);
std::string list_passes();
// --help's text: a command's options, or (none) the commands.
std::string usage(std::optional<Command> command = std::nullopt);

}  // namespace resnetc::cli
