#include "train/trainer.h"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <utility>
#include <ostream>

#include "compiler/autodiff/training_graph.h"
#include "compiler/ir/compile_error.h"
#include "compiler/ir/random_mask.h"
#include "compiler/plan/kernel_plan.h"
#include "train/batch_feeder.h"
#include "train/data_record.h"
#include "train/distributed.h"
#include "train/evaluator.h"
#include "train/initialize.h"
#include "train/interrupt.h"
#include "train/model_state.h"
#include "train/progress.h"
#include "train/resume_point.h"
#include "train/run_augmentation.h"
#include "train/run_normalization.h"
#include "train/run_record.h"

namespace resnetc::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The epoch's last, short batch: a training plan of its own (a plan's shapes are fixed), whose
// weights and optimizer state are copied in from the main plan before its step and back after.
// Its one batch an epoch is assembled on the host: a second copy of the data set on the GPU
// would cost more than that batch's upload.
struct ShortBatch {
  plan::KernelPlan plan;
  std::unique_ptr<PlanExecutor> exec;
  BatchFeeder feeder;

  ShortBatch(const ir::Graph& forward, const Recipe& r, Backend& backend, const passes::PipelineOptions& optimize,
             const data::Split& split, const data::Normalization& normalization, const data::ImageTransform& transform)
      : plan(passes::optimized_plan(autodiff::make_training_graph(forward, training_options(r)), optimize)),
        exec(backend.compile(plan)),
        feeder(plan, *exec, split, normalization, false, transform) {}
};

}  // namespace

namespace {

// A mean loss this many times a uniform guess's (ln classes) is divergence, not learning: a
// freshly initialized network starts near 1x, and no sound run comes back from 100x.
constexpr double kExplodedLossFactor = 100;

int64_t largest_label(const data::Split& split) {
  int64_t largest = 0;
  for (int32_t l : split.labels) largest = std::max<int64_t>(largest, l);
  return largest;
}

}  // namespace

void check_labels_fit(const ir::Graph& forward, const data::DataSet& data) {
  if (const auto refusal = autodiff::why_not_a_classifier(forward)) throw refusal->error();
  const int64_t classes = forward.shape(forward.output)[1];
  const int64_t largest = std::max(largest_label(data.train), largest_label(data.test));
  if (largest < classes) return;
  const ir::Value& logits = forward.value(forward.output);
  const ir::SourceLoc loc = logits.producer >= 0 ? forward.op(logits.producer).loc : ir::SourceLoc{};
  throw ir::CompileError(ir::CompileError::Phase::Graph, loc,
                         fmt::format("the classifier has {} outputs, but the data set {} has labels up to {} ({} "
                                     "classes): it needs at least {} outputs",
                                     classes, data.name, largest, largest + 1, largest + 1));
}

namespace {

// Every plan of a run, compiled up front (on a GPU, a second run takes them from the kernel
// cache): the training step, evaluation, and the epoch's last short batch.
struct CompiledRun {
  data::Normalization normalization;  // of every batch, trained and evaluated
  data::Augmentation augmentation;    // the training batches' (and the evaluation's center crop)
  data::ImageTransform train_views;   // its views of the training images
  plan::KernelPlan plan;              // the training step
  std::unique_ptr<PlanExecutor> exec;
  Evaluator evaluator;
  std::optional<ShortBatch> short_batch;
  BatchFeeder feeder;

  CompiledRun(plan::KernelPlan training_plan, const ir::Graph& forward, const data::DataSet& data, Backend& backend,
              const TrainOptions& options, data::Normalization norm, data::Augmentation augment,
              data::ImageTransform views)
      : normalization(std::move(norm)),
        augmentation(std::move(augment)),
        train_views(std::move(views)),
        plan(std::move(training_plan)),
        exec(backend.compile(plan)),
        evaluator(passes::optimized_plan(forward, options.optimize), backend, data.test, normalization, augmentation),
        short_batch(compile_short_batch(data.train, backend, options, normalization, train_views)),
        feeder(plan, *exec, data.train, normalization, true, train_views) {}

  size_t kernels() const {
    return plan.kernels.size() + evaluator.plan().kernels.size() + (short_batch ? short_batch->plan.kernels.size() : 0);
  }

 private:
  // None when the batch divides the training set, or when that batch is dropped.
  static std::optional<ShortBatch> compile_short_batch(const data::Split& train, Backend& backend,
                                                       const TrainOptions& options,
                                                       const data::Normalization& normalization,
                                                       const data::ImageTransform& views) {
    const int64_t rest = train.count % options.recipe.batch;
    if (rest == 0 || !options.network_at_batch) return std::nullopt;
    // A rank whose share is empty still runs the step (on one example whose gradient weighs
    // nothing), so that it takes part in the all-reduce and applies the same update.
    const int64_t mine = std::max<int64_t>(1, rank_slice(options.data_parallel, rest).count);
    return std::optional<ShortBatch>(std::in_place, options.network_at_batch(mine), options.recipe, backend,
                                     options.optimize, train, normalization, views);
  }
};

// Start: everything the checkpoint saved, or fresh weights (maybe some from --init). Returns
// where the run starts; the host copy of the saved weights goes with `resume`.
RunPosition start_run(CompiledRun& run, const ir::Graph& training, const TrainOptions& options,
                      std::optional<ResumePoint> resume, const std::optional<InitWeights>& init, std::ostream& out) {
  const Recipe& r = options.recipe;
  RunPosition start;
  if (resume) {
    start = resume->position;
    write_state(*run.exec, run.plan, resume->saved.state);
    if (start.step > 0)
      fmt::print(out, "resuming from {} inside epoch {}, after batch {}\n", options.checkpoint.string(), start.epoch + 1,
                 start.step);
    else
      fmt::print(out, "resuming from {} after epoch {}\n", options.checkpoint.string(), start.epoch);
  } else {
    initialize_persistent(*run.exec, run.plan, training, r.seed);
    if (init) {
      TensorMap state = read_state(*run.exec, run.plan);
      for (const auto& [name, values] : init->taken) state.at(name) = values;
      write_state(*run.exec, run.plan, state);
      fmt::print(out, "initialized from {}{}{}\n", options.init.string(),
                 init->torchvision_names ? " (a PyTorch state dict, read by torchvision's names)" : "",
                 init->not_taken.empty() ? ": every tensor"
                                         : fmt::format(", except:\n  {}", fmt::join(init->not_taken, "\n  ")));
    }
  }
  return start;
}

// The epochs of a run, from where it starts: each one's steps, then its evaluation, log row,
// checkpoint and line of output; a stop asked for (a signal, --max-steps) saves a checkpoint
// where the run stopped. Its fields are what train() kept in locals.
struct EpochLoop {
  const ir::Graph& forward;
  const data::DataSet& data;
  CompiledRun& run;
  const TrainOptions& options;
  std::ostream& out;
  const Recipe& r = options.recipe;
  const RunPosition start;
  const DataRecord& record;  // what the checkpoints say the run trains on
  const int64_t batch = r.batch;
  const int64_t full_steps = data.train.count / batch;
  const int64_t steps = full_steps + (run.short_batch ? 1 : 0);
  const int64_t epoch_examples = run.short_batch ? data.train.count : full_steps * batch;
  const int64_t classes = run.plan.buffer(run.plan.logits).shape[1];
  const double exploded_loss = kExplodedLossFactor * std::log(static_cast<double>(classes));
  std::vector<float> logits = std::vector<float>(static_cast<size_t>(batch * classes));
  std::vector<float> loss = std::vector<float>(1), lr = std::vector<float>(1);
  // AdamW's step count, the steps taken so far (the checkpoint's on a resume); float as its buffer,
  // exact to 2^24 steps.
  float optimizer_steps = saved_optimizer_steps();
  ProgressLine progress{options.progress};
  EpochLog log{options.log, make_run_header(options.resume ? start.epoch : -1), options.overwrite_log};
  InterruptGuard interrupts{};
  double train_seconds = 0;
  int64_t trained_examples = 0, steps_run = 0;
  // The epoch whose end the checkpoint on disk holds; -1 while it holds none of this run's.
  int64_t saved_epoch = options.resume ? start.epoch : -1;
  TrainResult result{};
  // The epoch's running totals (a resumed one's start from the checkpoint's).
  Clock::time_point clock_start{};
  std::vector<uint32_t> order{};  // the epoch's shuffle of the training set
  double loss_sum = 0;          // over examples
  int64_t right = 0, done = 0;

  TrainResult train_epochs() {
    for (int64_t epoch = start.epoch; epoch < r.epochs; ++epoch) {
      if (!train_steps(epoch)) return result;
      end_epoch(epoch);
      if (epoch + 1 < r.epochs && stop_requested()) {
        record_stop();
        break;
      }
    }
    result.examples_per_sec = train_seconds > 0 ? static_cast<double>(trained_examples) / train_seconds : 0;
    return result;
  }

  // The epoch's steps (from the checkpoint's, resumed inside it). False: a stop was asked for
  // inside the epoch, and a checkpoint of where it stopped is saved.
  bool train_steps(int64_t epoch) {
    const bool resumed_inside = epoch == start.epoch && start.step > 0;
    clock_start = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(resumed_inside ? start.seconds : 0));
    order = run.feeder.shuffle(data.train, r.seed, static_cast<int>(epoch));
    loss_sum = resumed_inside ? start.loss_sum : 0;
    right = resumed_inside ? start.correct : 0;
    done = resumed_inside ? start.examples : 0;
    for (int64_t step = resumed_inside ? start.step : 0; step < steps; ++step) {
      if (options.data_parallel) options.data_parallel->at_step(epoch * steps + step + 1);
      if (step < full_steps) {
        const Slice mine = rank_slice(options.data_parallel, batch);
        run.feeder.feed_order(*run.exec, data.train, order, step * batch + mine.first);
        step_on(*run.exec, run.plan, run.feeder, epoch, step, mine.count, batch);
      } else {
        ShortBatch& b = *run.short_batch;
        write_state(*b.exec, b.plan, read_state(*run.exec, run.plan));
        b.feeder.at_epoch(r.seed, static_cast<int>(epoch));
        const int64_t rest = data.train.count - full_steps * batch;
        const Slice mine = rank_slice(options.data_parallel, rest);
        const auto first = order.begin() + full_steps * batch + mine.first;
        b.feeder.feed(*b.exec, data.train, std::vector<uint32_t>(first, first + std::max<int64_t>(mine.count, 1)));
        step_on(*b.exec, b.plan, b.feeder, epoch, full_steps, mine.count, rest);
        write_state(*run.exec, run.plan, read_state(*b.exec, b.plan));
      }
      ++steps_run;
      if (step + 1 < steps && stop_requested()) {
        const RunPosition at{epoch, step + 1, loss_sum, right, done, seconds_since(clock_start)};
        save(read_state(*run.exec, run.plan), at, epoch, step + 1);
        progress.clear();
        record_stop();
        fmt::print(out, "epoch {}/{} stopped after batch {}/{}: loss {:.4f}, train acc {:.3f}\n", epoch + 1, r.epochs,
                   step + 1, steps, loss_sum / static_cast<double>(done), static_cast<double>(right) / static_cast<double>(done));
        return false;
      }
    }
    return true;
  }

  float saved_optimizer_steps() const {
    float t = 0;
    if (const int b = optimizer_step_buffer(run.plan); b >= 0) read_buffer(*run.exec, b, std::span<float>(&t, 1));
    return t;
  }

  // One optimizer step of `p` on the `count` examples its feeder was given, of the step's
  // `step_count` (all ranks').
  void step_on(PlanExecutor& e, const plan::KernelPlan& p, const BatchFeeder& f, int64_t epoch, int64_t step,
               int64_t count, int64_t step_count) {
    lr[0] = static_cast<float>(learning_rate(r, epoch, step, steps));
    write_buffer(e, p.learning_rate, std::span<const float>(lr));
    if (const int b = optimizer_step_buffer(p); b >= 0) {
      optimizer_steps += 1;
      write_buffer(e, b, std::span<const float>(&optimizer_steps, 1));
    }
    if (p.rng >= 0) {  // dropout's masks: a function of the seed and the step, so a resumed run draws the same
      const uint32_t rng[2] = {ir::random_mask::seed_word(r.seed), static_cast<uint32_t>(epoch * steps + step)};
      write_buffer(e, p.rng, std::span<const uint32_t>(rng));
    }
    run_step(options.data_parallel, e, p, static_cast<double>(count) / static_cast<double>(step_count));
    read_buffer(e, p.loss, std::span<float>(loss));
    // The plan's whole batch: a rank's empty share of a short batch runs on one example.
    read_buffer(e, p.logits, std::span<float>(logits.data(), static_cast<size_t>(ir::numel(p.buffer(p.logits).shape))));
    // The step's totals: this process's, or every rank's summed.
    double totals[3] = {loss[0] * static_cast<double>(count),
                        static_cast<double>(count_correct(logits, f.labels, count, classes)),
                        static_cast<double>(count)};
    if (options.data_parallel) {
      options.data_parallel->sum(totals);
      loss[0] = static_cast<float>(totals[0] / totals[2]);
    }
    if (!std::isfinite(loss[0]) || loss[0] > exploded_loss) {
      progress.clear();
      throw TrainingError(fmt::format(
          "the loss became {} at epoch {}, batch {}{}. {}", loss[0], epoch + 1, step + 1,
          std::isfinite(loss[0])
              ? fmt::format(" ({:.0f}x a uniform guess's {:.3f}: training diverged)", loss[0] / std::log(classes),
                            std::log(static_cast<double>(classes)))
              : "",
          last_good()));
    }
    loss_sum += totals[0];
    right += static_cast<int64_t>(totals[1]);
    done += static_cast<int64_t>(totals[2]);
    double elapsed = seconds_since(clock_start);
    double rate = static_cast<double>(done) / elapsed;
    double eta = elapsed / static_cast<double>(step + 1) * static_cast<double>((r.epochs - epoch) * steps - step - 1);
    progress.update(epoch + 1, r.epochs, step + 1, steps, loss_sum / static_cast<double>(done), rate, eta);
  }

  // After the epoch's steps: its evaluation, log row, checkpoint and line of output.
  void end_epoch(int64_t epoch) {
    double epoch_train_seconds = seconds_since(clock_start);
    train_seconds += epoch_train_seconds;
    trained_examples += epoch_examples;

    TensorMap state = read_state(*run.exec, run.plan);
    EpochReport rep = evaluate_epoch(epoch, state, epoch_train_seconds);
    // The row first: a kill before the checkpoint lands leaves a row that the resumed run,
    // training this epoch again, replaces; the other order could lose it.
    log.write(rep);
    save(state, RunPosition{epoch + 1}, epoch, steps);
    saved_epoch = epoch + 1;
    progress.clear();
    fmt::print(out, "epoch {}/{}: loss {:.4f}, train acc {:.3f}, {} acc {:.3f}, {:.1f} s ({:.1f} examples/sec)\n",
               rep.epoch, r.epochs, rep.loss, rep.train_acc, options.evaluated, rep.test_acc, rep.seconds,
               rep.examples_per_sec);
    out.flush();
    if (options.after_epoch) options.after_epoch(rep);
    result.epochs.push_back(rep);
  }

  // The epoch's report: its training totals, and the test accuracy of `state`, the weights at
  // its end.
  EpochReport evaluate_epoch(int64_t epoch, const TensorMap& state, double epoch_train_seconds) {
    write_state(run.evaluator.executor(), run.evaluator.plan(), state);
    if (options.data_parallel) {  // every rank evaluates its share with the weights the checkpoint holds
      TensorMap evaluated = read_state(run.evaluator.executor(), run.evaluator.plan());
      options.data_parallel->use_rank0_values(evaluated);
      write_state(run.evaluator.executor(), run.evaluator.plan(), evaluated);
    }
    return EpochReport{epoch + 1,
                       loss_sum / static_cast<double>(epoch_examples),
                       static_cast<double>(right) / static_cast<double>(epoch_examples),
                       run.evaluator.accuracy(0, options.data_parallel),
                       seconds_since(clock_start),
                       static_cast<double>(epoch_examples) / epoch_train_seconds,
                       lr[0]};
  }

  // Only finite tensors reach the disk, so the last checkpoint is always a good one.
  void save(const TensorMap& state, const RunPosition& at, int64_t epoch, int64_t step) {
    if (const std::string bad = unsound_tensor(state); !bad.empty()) {
      progress.clear();
      throw TrainingError(fmt::format("after epoch {}, batch {}, {}. {}", epoch + 1, step, bad,
                                      last_good()));
    }
    // Of an MPI job, rank 0 writes it once every rank has finished the step.
    if (options.data_parallel) options.data_parallel->barrier();
    if (!reports()) return;
    Metadata metadata = run_metadata(forward.name, r, at, data.class_names, run.normalization);
    write_augmentation(metadata, run.augmentation, {data.train.height, data.train.width}, r.image_size);
    add_data_record(metadata, record);
    metadata["precision"] = plan::precision_name(run.plan.precision);
    save_checkpoint(options.checkpoint, run.plan, state, metadata);
  }

  std::string last_good() const {
    return saved_epoch >= 0 ? fmt::format("The last good checkpoint, after epoch {}, is {}", saved_epoch,
                                          options.checkpoint.string())
                            : std::string("No checkpoint was written yet. Try a lower --lr");
  }

  // Whether this process writes checkpoints: a single process, or rank 0.
  bool reports() const { return !options.data_parallel || options.data_parallel->rank() == 0; }

  // A signal any rank received stops every rank at the same step.
  int signal_requested() const {
    return static_cast<int>(agreed_max(options.data_parallel, InterruptGuard::requested()));
  }

  bool stop_requested() const {
    return signal_requested() != 0 || (options.max_steps && steps_run >= *options.max_steps);
  }

  void record_stop() {
    result.stopped_by_signal = signal_requested();
    result.stopped_at_max_steps = result.stopped_by_signal == 0;
  }
};

// The training images' views, the augmentation checked against the images and the network's
// input before anything is compiled (a TrainingError saying why it does not fit).
data::ImageTransform augmentation_views(const data::Augmentation& augmentation, const data::DataSet& data,
                                        const plan::KernelPlan& plan) {
  const ir::Dims& input = plan.buffer(plan.input).shape;
  try {
    data::ImageTransform::evaluation(augmentation, data.test.height, data.test.width);
    return data::ImageTransform::training(augmentation, data.train.height, data.train.width, input[2], input[3]);
  } catch (const std::invalid_argument& e) {
    throw TrainingError(fmt::format("augmentation: {}", e.what()));
  }
}

}  // namespace

TrainResult train(const ir::Graph& forward, const data::DataSet& data, Backend& backend, const TrainOptions& asked,
                  std::ostream& out) {
  // The recipe as the run trains with it: its normalization's values (computed when asked, below)
  // and on --resume what it asks none of continued from the checkpoint (read_resume_point).
  TrainOptions options = asked;
  Recipe& r = options.recipe;
  const ir::Graph training = autodiff::make_training_graph(forward, training_options(r));
  check_labels_fit(forward, data);
  plan::KernelPlan plan = passes::optimized_plan(training, options.optimize);
  if (data.train.count / r.batch == 0)
    throw std::runtime_error(fmt::format("batch {} is larger than the training set ({})", r.batch, data.train.count));
  if (options.data_parallel) options.data_parallel->check_same_run(plan, r, data.train.count, data.test.count);

  r.normalization = {run_normalization(r.normalization, data.train, plan, out)};
  // A resumed run is checked before the (slow) compile: another recipe or a finished run.
  const DataRecord record = data_record(r.dataset, options.val_split, data.train);
  std::optional<ResumePoint> resume;
  if (options.resume) {
    resume = read_resume_point(options, plan, record, out);
    if (resume->position.epoch >= r.epochs) {
      fmt::print(out, "{} is a finished run: {} of {} epochs trained, nothing to do (to train longer: --epochs N "
                      "--allow-recipe-change)\n",
                 options.checkpoint.string(), resume->position.epoch, r.epochs);
      TrainResult result;
      result.already_finished = true;
      return result;
    }
  }

  // So are the weights of --init: a file that cannot be used is refused at once.
  std::optional<InitWeights> init;
  if (!options.init.empty()) init = read_init_weights(options.init, forward, plan, options.reset_head);

  data::ImageTransform train_views = augmentation_views(r.augmentation, data, plan);
  const Clock::time_point compile_start = Clock::now();
  CompiledRun run(std::move(plan), forward, data, backend, options, r.normalization.values, r.augmentation,
                  std::move(train_views));
  fmt::print(out, "compiled {} kernels in {:.2f} s (the training step{}, evaluation)\n", run.kernels(),
             seconds_since(compile_start), run.short_batch ? ", the last short batch" : "");
  const RunPosition start = start_run(run, training, options, std::move(resume), init, out);
  if (options.data_parallel) options.data_parallel->check_same_weights(read_state(*run.exec, run.plan));
  return EpochLoop{.forward = forward, .data = data, .run = run, .options = options, .out = out, .start = start,
                   .record = record}
      .train_epochs();
}

double evaluate(const ir::Graph& forward, const data::DataSet& data, Backend& backend,
                const std::filesystem::path& weights, const passes::PipelineOptions& optimize, int64_t limit,
                const DataParallel* data_parallel) {
  check_labels_fit(forward, data);
  plan::KernelPlan plan = passes::optimized_plan(forward, optimize);
  const LoadedCheckpoint saved = load_checkpoint(weights, plan, true);  // refused before the compile
  Evaluator evaluator(std::move(plan), backend, data.test, read_normalization(saved.metadata, weights.string()),
                      read_augmentation(saved.metadata, weights.string()));
  write_state(evaluator.executor(), evaluator.plan(), saved.state);
  return evaluator.accuracy(limit, data_parallel);
}

}  // namespace resnetc::train
