#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <random>

#include "compiler/autodiff/training_graph.h"
#include "compiler/ir/compile_error.h"
#include "compiler/plan/kernel_plan.h"
#include "dsl/frontend.h"
#include "runtime/checkpoint/reader.h"
#include "runtime/cpu/thread_pool.h"
#include "runtime/data/catalog.h"
#include "runtime/data/idx.h"
#include "runtime/data/validation.h"
#include "train/data_fit.h"
#include "train/data_record.h"
#include "train/report/figure_file.h"
#include "train/report/training_plot.h"
#include "train/initialize.h"
#include "train/normalization_settings.h"
#include "train/interrupt.h"
#include "train/run_augmentation.h"
#include "train/run_record.h"
#include "train/model_state.h"
#include "train/run_files.h"
#include "train/trainer.h"
#include "tools/resnetc/backend_choice.h"
#include "tools/resnetc/commands.h"
#include "tools/resnetc/data_parallel_job.h"
#include "tools/resnetc/profile_report.h"

namespace resnetc::cli {
namespace {

struct Model {
  dsl::CompiledNetwork net;
  train::Recipe recipe;
  std::optional<train::Metadata> resumed;  // on --resume, the metadata whose recipe the run continues
};

// --checkpoint, else the network's name + .safetensors in the current directory.
std::filesystem::path checkpoint_path(const Options& o, const std::string& network) {
  return o.checkpoint.empty() ? network + ".safetensors" : o.checkpoint;
}

// On --resume, the recipe the checkpoint records in place of the file's (`file`): a resume continues
// the run it was, and only flags change it. A train section that says otherwise now is noted. A
// missing or foreign checkpoint is left to the checks of the run's files; one that records no
// recipe is refused unless --allow-recipe-change takes the file's and the flags'.
void adopt_checkpoint_recipe(const Options& o, const dsl::CompiledNetwork& file, Model& m) {
  const std::filesystem::path path = checkpoint_path(o, file.graph.name);
  if (!std::filesystem::exists(path)) return;
  train::Metadata metadata = checkpoint::read_safetensors(path).metadata();
  // A foreign file, or a resnetc file that is no training checkpoint, is refused later with its own message.
  if (auto format = metadata.find("format"); format == metadata.end() || format->second != "resnetc") return;
  if (!metadata.contains("epoch")) return;
  if (const std::vector<std::string> missing = train::unrecorded_recipe(metadata); !missing.empty()) {
    if (o.allow_recipe_change) return;
    throw std::runtime_error(fmt::format(
        "--resume: {} records no recipe (its metadata has no '{}'), so the run it continues is not known: give "
        "that run's settings as flags and add --allow-recipe-change to resume with the train section's and theirs",
        path.string(), fmt::join(missing, "', '")));
  }
  train::adopt_recorded_recipe(m.recipe, metadata, path.string());
  train::Recipe file_says = m.recipe;
  train::overlay_recipe(file_says, file.training);
  const ir::Dims& input = file.graph.shape(file.graph.input);
  std::vector<std::string> differ = train::recipe_changes(metadata, file_says, {input[2], input[3]}, path.string());
  if (auto dataset = metadata.find("dataset");
      dataset != metadata.end() && file.training.dataset && *file.training.dataset != dataset->second)
    differ.push_back(fmt::format("dataset {} (the checkpoint's: {})", *file.training.dataset, dataset->second));
  const std::optional<plan::Precision> saved = train::recorded_precision(metadata, path.string());
  if (saved && file.training.precision && *file.training.precision != plan::precision_name(*saved))
    differ.push_back(fmt::format("precision {} (the checkpoint's: {})", *file.training.precision,
                                 plan::precision_name(*saved)));
  if (!differ.empty())
    fmt::print("note: the train section of {} differs from the recipe {} records, which the resumed run "
               "continues: {} (a flag with --allow-recipe-change changes one)\n",
               o.model, path.string(), fmt::join(differ, ", "));
  m.resumed = std::move(metadata);
}

// The network at the batch the recipe trains with (each of `ranks` processes its share of
// it), and the recipe with the flags applied (on --resume, to the checkpoint's).
void load_model(const Options& o, dsl::SourceManager& sources, Model& m, int ranks = 1) {
  dsl::CompiledNetwork file = dsl::compile_file(sources, o.model, {o.input, 1});
  m.recipe = train::recipe_from(file.training);
  train::Recipe& r = m.recipe;
  if (o.resume) adopt_checkpoint_recipe(o, file, m);
  // The flags' augmentation replaces a resumed run's whole, so that a resume can leave a part out.
  if (m.resumed && !o.augmentation.empty()) r.augmentation = {};
  if (o.dataset && *o.dataset != r.dataset) {
    r.dataset = *o.dataset;
    r.data.clear();  // the file's path is its own data set's
    if (r.dataset != "folder") r.image_size.reset();  // the file's image size is a folder's
  }
  train::overlay_recipe(r, o);
  if (const std::string problem = train::recipe_problem(r); !problem.empty())
    throw std::runtime_error("the recipe: " + problem);
  if (r.batch % ranks != 0)
    throw std::runtime_error(fmt::format("batch {} does not divide among {} processes: the batch is the global one, "
                                         "each process trains an equal share of it",
                                         r.batch, ranks));
  m.net = dsl::compile_file(sources, o.model, {o.input, r.batch / ranks});
}

// --data, else the train section's path (relative to the .net file), else the data set's default.
std::filesystem::path data_dir(const Options& o, const train::Recipe& r) {
  if (!o.data_dir.empty()) return o.data_dir;
  if (!r.data.empty()) return std::filesystem::path(o.model).parent_path() / r.data;
  std::filesystem::path dir = data::default_data_dir(r.dataset);
  if (dir.empty())
    throw data::DataError(fmt::format("{} has no default directory: give --data DIR, or `dataset {} \"DIR\"` in the "
                                      "train section of {}",
                                      r.dataset, r.dataset, o.model));
  return dir;
}

// The data set, its images' channels checked against the network's before anything is compiled; a
// folder's images kept at `image_size` (none: the input's size), decoded on --threads threads.
data::DataSet load_data(const Options& o, const Model& m, const std::optional<data::ImageSize>& image_size) {
  const ir::Dims& input = m.net.graph.shape(m.net.graph.input);  // [N, C, H, W]
  cpu::ThreadPool pool(cpu::ThreadPool::Options{o.threads, 0});
  data::DataSet data = data::load_dataset(
      m.recipe.dataset, data_dir(o, m.recipe), {input[1], input[2], input[3]},
      {o.skip_bad_images ? data::BadImages::Skip : data::BadImages::Refuse, image_size, &pool, o.image_cache, &std::cout});
  print_skipped(data.skipped);
  train::check_channels_fit(m.net.graph, data, m.net.input_loc);
  return data;
}

// An image size is a folder's: other data sets' images are kept as their files hold them.
void check_image_size(const train::Recipe& r) {
  if (r.dataset != "folder" && r.image_size)
    throw data::DataError(fmt::format("--image-size (or the train section's image_size) is the size a folder's "
                                      "images are kept at; {}'s are kept as its files hold them: crop them with "
                                      "--random-crop or --center-crop",
                                      r.dataset));
}

// Every file a training run reads, which its outputs must not replace: the model, the data
// set's files (whatever their names) and the weights it starts from.
std::vector<std::filesystem::path> run_inputs(const Options& o, const train::Recipe& r) {
  std::vector<std::filesystem::path> inputs{o.model};
  if (!o.init.empty()) inputs.push_back(o.init);
  std::error_code ec;
  if (r.dataset == "folder") {  // the images are in class folders, below train/ and val/
    for (const auto& entry : std::filesystem::recursive_directory_iterator(
             data_dir(o, r), std::filesystem::directory_options::follow_directory_symlink, ec))
      if (entry.is_regular_file(ec)) inputs.push_back(entry.path());
    return inputs;
  }
  for (const auto& entry : std::filesystem::directory_iterator(data_dir(o, r), ec))
    if (entry.is_regular_file(ec)) inputs.push_back(entry.path());
  return inputs;
}

// The run's files as train() needs them: RunFiles' answers where they are written; on the
// other ranks of an MPI job, the checkpoint that --resume reads and no log.
struct RunPaths {
  std::filesystem::path checkpoint_path, log_path;
  bool exists = false;
  const std::filesystem::path& checkpoint() const { return checkpoint_path; }
  const std::filesystem::path& log() const { return log_path; }
  bool checkpoint_exists() const { return exists; }
};

// ", tf32": the precision a run's plans have, for its summary line. Said on a device whose default
// is not fp32 (a GPU) even for fp32, so that what ran there is never left to be guessed.
std::string precision_note(plan::Precision ran, const train::Backend& backend) {
  if (ran == plan::Precision::Fp32 && backend.default_precision() == plan::Precision::Fp32) return "";
  return fmt::format(", {}", plan::precision_name(ran));
}

}  // namespace

int run_train(const Options& o, dsl::SourceManager& sources) {
  train::DataParallel* const job = join_job(o);
  Model m;
  load_model(o, sources, m, job ? job->size() : 1);
  const train::Recipe& r = m.recipe;
  // A network that has no training step is refused at the user's line before anything else.
  if (const auto refusal = autodiff::why_untrainable(m.net.graph)) throw refusal->error();
  // A resumed run's is the checkpoint's unless flags ask for one.
  if (!m.resumed || !o.mean.empty() || !o.std_dev.empty() || o.normalize)
    m.recipe.normalization = train::requested_normalization(m.net.training, {o.mean, o.std_dev}, o.normalize,
                                                            m.net.graph.shape(m.net.graph.input)[1]);
  // The outputs are checked (and the checkpoint locked) before the data is read or anything
  // compiled. Of an MPI job, rank 0 alone writes them; the other ranks read the checkpoint to resume.
  const std::filesystem::path checkpoint = checkpoint_path(o, m.net.graph.name);
  std::optional<train::RunFiles> writes;
  if (!job || job->rank() == 0) writes.emplace(checkpoint, o.log, run_inputs(o, r));
  const RunPaths files = writes ? RunPaths{writes->checkpoint(), writes->log(), writes->checkpoint_exists()}
                                : RunPaths{checkpoint, {}, std::filesystem::exists(checkpoint)};
  if (!o.plot.empty() && writes) {
    std::vector<std::filesystem::path> taken = run_inputs(o, r);
    taken.insert(taken.end(), {files.checkpoint(), files.log()});
    report::check_figure_output(o.plot, taken);
  }
  if (o.resume && !files.checkpoint_exists())
    throw std::runtime_error(fmt::format("--resume: there is no checkpoint {} to continue from", files.checkpoint().string()));
  check_image_size(r);
  // The trainer refuses a recipe or data that differ from the checkpoint's unless --allow-recipe-change.
  const std::optional<double> val_split =
      o.val_split || !m.resumed ? o.val_split : train::recorded_val_split(*m.resumed, files.checkpoint().string());
  data::DataSet data = load_data(o, m, r.image_size);
  std::string images = fmt::format("{} train / {} test images", data.train.count, data.test.count);
  if (val_split) {
    data::CarvedSplits carved = data::carve_validation(data.train, *val_split, r.seed);
    data.train = std::move(carved.train);
    data.test = std::move(carved.validation);
    images = fmt::format("{} train / {} validation images, --val-split {} of the training set drawn from seed {}, "
                         "evaluated instead of the test set",
                         data.train.count, data.test.count, *val_split, r.seed);
  }
  if (r.image_size) images += ", kept at --image-size " + data::format_image_size(*r.image_size);
  auto backend = make_backend(for_rank(o, job));
  const DeviceReduction on_device(job, *backend);

  train::TrainOptions t;
  if (val_split) t.evaluated = "val";
  t.val_split = val_split;
  t.recipe = r;
  t.checkpoint = files.checkpoint();
  t.resume = o.resume;
  t.allow_recipe_change = o.allow_recipe_change;
  t.init = o.init;
  t.reset_head = o.reset_head;
  t.max_steps = o.max_steps;
  t.log = files.log();
  t.overwrite_log = o.overwrite_log;
  t.progress = o.progress && writes;
  t.data_parallel = job;
  t.optimize = pipeline_options(o, m.net.training, *backend);
  if (m.resumed && !o.precision)
    if (const auto saved = train::recorded_precision(*m.resumed, files.checkpoint().string())) {
      if (*saved != t.optimize.precision)
        fmt::print("note: {} was trained in {}; the resumed run continues in it\n", t.checkpoint.string(),
                   plan::precision_name(*saved));
      t.optimize.precision = *saved;
    }
  t.network_at_batch = [&](int64_t batch) { return dsl::compile_file(sources, o.model, {o.input, batch}).graph; };
  // The figure is drawn from the log, so it shows the epochs before a --resume too. A figure that
  // cannot be drawn (a full disk) is worth a warning, not the run.
  if (!o.plot.empty() && writes)
    t.after_epoch = [&](const train::EpochReport&) {
      try {
        report::plot_training_logs({files.log()}, o.plot, true);
      } catch (const std::exception& e) {
        fmt::print(stderr, "resnetc: warning: {} was not redrawn: {}\n", o.plot, e.what());
      }
    };
  fmt::print("training {} on {} ({}) on {}: {} epochs, batch {}, lr {}, momentum {}, "
             "weight decay {}, {} schedule, seed {}{}{}{}\n",
             m.net.graph.name, r.dataset, images, backend->device_name(), r.epochs, r.batch,
             r.lr, r.momentum, r.weight_decay, train::schedule_name(r.schedule), r.seed,
             precision_note(t.optimize.precision, *backend), train::describe_modern(r),
             r.augmentation.empty() ? "" : ", augmentation: " + data::describe(r.augmentation));
  if (job)
    fmt::print("data-parallel: {} processes (MPI), each training {} examples of every batch of {}\n", job->size(),
               r.batch / job->size(), r.batch);
  std::fflush(stdout);
  if (files.checkpoint_exists() && !o.resume)
    fmt::print("note: {} holds an earlier run; this one replaces it after its first epoch (--resume continues that "
               "run instead)\n",
               t.checkpoint.string());
  std::fflush(stdout);
  train::TrainResult result = train::train(m.net.graph, data, *backend, t, std::cout);
  if (result.already_finished) return 0;
  if (result.stopped_by_signal != 0 || result.stopped_at_max_steps) {
    fmt::print("{}: saved {}; `resnetc train {} --resume` continues where this run stopped\n",
               result.stopped_by_signal ? fmt::format("stopped by {}", train::signal_name(result.stopped_by_signal))
                                        : fmt::format("stopped after {} training steps (--max-steps)", *o.max_steps),
               t.checkpoint.string(), o.model);
    return result.stopped_by_signal ? 128 + result.stopped_by_signal : 0;
  }
  if (!result.epochs.empty()) {
    const train::EpochReport& last = result.epochs.back();
    fmt::print("loss {:.3f}, train acc {:.3f}, {} acc {:.3f}\n", last.loss, last.train_acc, t.evaluated,
               last.test_acc);
    fmt::print("{:.1f} examples/sec on {}\n", result.examples_per_sec, backend->device_name());
    if (job && job->step_seconds() > 0)
      fmt::print("all-reduce: rank 0 waited {:.1f}% of its training steps' time for it\n",
                 100 * job->waiting_seconds() / job->step_seconds());
  }
  fmt::print("checkpoint: {}\n", t.checkpoint.string());
  return 0;
}

int run_eval(const Options& o, dsl::SourceManager& sources) {
  train::DataParallel* const job = join_job(o);  // under mpirun: each rank evaluates its share
  Model m;
  load_model(o, sources, m, job ? job->size() : 1);
  if (const auto refusal = autodiff::why_not_a_classifier(m.net.graph)) throw refusal->error();
  // A folder's images at the size the weights were trained on.
  const std::optional<data::ImageSize> image_size =
      m.recipe.dataset == "folder"
          ? train::read_image_size(checkpoint::read_safetensors(o.weights).metadata(), o.weights)
          : std::nullopt;
  data::DataSet data = load_data(o, m, image_size);
  auto backend = make_backend(for_rank(o, job));
  const int64_t images = o.limit ? std::min(*o.limit, data.test.count) : data.test.count;
  const passes::PipelineOptions optimize = pipeline_options(o, m.net.training, *backend);
  double acc = train::evaluate(m.net.graph, data, *backend, o.weights, optimize, images, job);
  fmt::print("test acc {:.4f} ({} images, {} on {}{})\n", acc, images, o.weights, backend->device_name(),
             precision_note(optimize.precision, *backend));
  return 0;
}

int run_bench(const Options& o, dsl::SourceManager& sources) {
  if (!o.data_dir.empty()) return run_input_bench(o, sources);
  Model m;
  load_model(o, sources, m);
  auto backend = make_backend(o);
  const ir::Graph training = autodiff::make_training_graph(m.net.graph, train::training_options(m.recipe));
  const plan::KernelPlan plan =
      passes::optimized_plan(training, pipeline_options(o, m.net.training, *backend));
  auto start = std::chrono::steady_clock::now();
  auto exec = backend->compile(plan);
  double compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Synthetic data: uniform images, random labels; real weights from the initializer.
  std::mt19937 rng(1);
  train::initialize_persistent(*exec, plan, training, 0);
  std::vector<float> images(static_cast<size_t>(ir::numel(plan.buffer(plan.input).shape)));
  std::uniform_real_distribution<float> pixel(0, 1);
  for (float& v : images) v = pixel(rng);
  const int64_t batch = plan.buffer(plan.input).shape[0], classes = plan.buffer(plan.logits).shape[1];
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  for (int32_t& l : labels) l = static_cast<int32_t>(rng() % static_cast<unsigned>(classes));
  std::vector<float> lr{static_cast<float>(m.recipe.lr)};
  train::write_buffer(*exec, plan.input, std::span<const float>(images));
  train::write_buffer(*exec, plan.labels, std::span<const int32_t>(labels));
  train::write_buffer(*exec, plan.learning_rate, std::span<const float>(lr));
  if (const int step = train::optimizer_step_buffer(plan); step >= 0) {  // AdamW's step count: the first step's
    const float first = 1;
    train::write_buffer(*exec, step, std::span<const float>(&first, 1));
  }
  if (plan.rng >= 0) {  // dropout's masks: seed 0, step 0 for every step (the timing does not depend on them)
    const uint32_t seed_step[2] = {0, 0};
    train::write_buffer(*exec, plan.rng, std::span<const uint32_t>(seed_step));
  }

  // Reading the loss waits for a device's queued kernels, so the clock stops when they finish.
  std::vector<float> loss(1);
  for (int64_t i = 0; i < o.warmup; ++i) exec->run();
  train::read_buffer(*exec, plan.loss, std::span<float>(loss));
  start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.steps; ++i) exec->run();
  train::read_buffer(*exec, plan.loss, std::span<float>(loss));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!std::isfinite(loss[0])) throw std::runtime_error(fmt::format("the loss became {} during the benchmark", loss[0]));
  const std::string precision = precision_note(plan.precision, *backend);
  fmt::print("{} at {} batch {}, -O{}{} ({} kernels): {} training steps in {:.3f} s (compile {:.2f} s)\n",
             m.net.graph.name, ir::format_dims(plan.buffer(plan.input).shape), batch, o.opt_level, precision,
             plan.kernels.size(), o.steps, seconds, compile_s);
  fmt::print("{:.1f} examples/sec on {}\n", static_cast<double>(batch * o.steps) / seconds, backend->device_name());
  if (o.profile) {
    std::vector<double> kernel_seconds(plan.kernels.size());
    for (int64_t i = 0; i < o.steps; ++i) exec->run_timed(kernel_seconds);
    fmt::print("{}", format_profile(plan, kernel_seconds, o.steps, 15));
  }
  return 0;
}

}  // namespace resnetc::cli
