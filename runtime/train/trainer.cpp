#include "runtime/train/trainer.h"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>
#include <ostream>

#include "compiler/autodiff/training_graph.h"
#include "compiler/plan/kernel_plan.h"
#include "runtime/data/resize.h"
#include "runtime/data/sampler.h"
#include "runtime/train/initialize.h"
#include "runtime/train/model_state.h"
#include "runtime/train/progress.h"

namespace resnetc::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Fills the plan's input and labels with examples of `split`: on the backend's device when it
// keeps the data set there (shuffled there too), else assembled on the host and written.
// `labels` holds the batch's labels either way.
struct BatchFeeder {
  const plan::KernelPlan& plan;
  data::Resizer resizer;
  std::vector<float> images;
  std::vector<int32_t> labels;
  std::unique_ptr<BatchSource> device;

  // `device_data` false: assemble on the host even when the backend could keep the data.
  BatchFeeder(const plan::KernelPlan& p, PlanExecutor& exec, const data::Split& split, bool device_data = true)
      : plan(p),
        resizer(split.height, split.width, p.buffer(p.input).shape[2], p.buffer(p.input).shape[3]),
        labels(static_cast<size_t>(p.buffer(p.input).shape[0])) {
    if (p.buffer(p.input).shape[1] != 1)
      throw TrainingError(fmt::format("the network takes {} input channels, but the data set's images have 1",
                                      p.buffer(p.input).shape[1]));
    if (device_data) device = exec.batch_source(split);
    if (!device) images.resize(static_cast<size_t>(ir::numel(p.buffer(p.input).shape)));
  }

  // data::epoch_order(seed, epoch, split.count), drawn where the data lives.
  std::vector<uint32_t> shuffle(const data::Split& split, uint64_t seed, int epoch) {
    return device ? device->shuffle(seed, epoch) : data::epoch_order(seed, epoch, static_cast<uint32_t>(split.count));
  }

  // The examples at positions first .. first + batch - 1 of `order`, the last shuffle()'s.
  void feed_order(PlanExecutor& exec, const data::Split& split, const std::vector<uint32_t>& order, int64_t first) {
    const auto begin = order.begin() + first;
    if (!device) {
      feed(exec, split, std::vector<uint32_t>(begin, begin + static_cast<int64_t>(labels.size())));
      return;
    }
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = split.labels.at(begin[static_cast<int64_t>(i)]);
    device->feed_order(first);
  }

  // The examples at `indices`; a short batch is padded by repeating its first example.
  void feed(PlanExecutor& exec, const data::Split& split, std::vector<uint32_t> indices) {
    while (indices.size() < labels.size()) indices.push_back(indices.front());
    if (device) {
      for (size_t i = 0; i < indices.size(); ++i) labels[i] = split.labels.at(indices[i]);
      device->feed(indices);
      return;
    }
    data::fill_batch(split, indices, resizer, images.data(), labels.data());
    write_buffer(exec, plan.input, std::span<const float>(images));
    if (plan.labels >= 0) write_buffer(exec, plan.labels, std::span<const int32_t>(labels));
  }
};

// The epoch's last, short batch: a training plan of its own (a plan's shapes are fixed), whose
// weights and optimizer state are copied in from the main plan before its step and back after.
// Its one batch an epoch is assembled on the host: a second copy of the data set on the GPU
// would cost more than that batch's upload.
struct ShortBatch {
  plan::KernelPlan plan;
  std::unique_ptr<PlanExecutor> exec;
  BatchFeeder feeder;

  ShortBatch(const ir::Graph& forward, const Recipe& r, Backend& backend, const passes::PipelineOptions& optimize,
             const data::Split& split)
      : plan(passes::optimized_plan(autodiff::make_training_graph(forward, {r.momentum, r.weight_decay}), optimize)),
        exec(backend.compile(plan)),
        feeder(plan, *exec, split, false) {}
};

// Correct predictions among the first `count` rows of the logits.
int64_t correct(const std::vector<float>& logits, const std::vector<int32_t>& labels, int64_t count, int64_t classes) {
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

class EpochLog {
 public:
  explicit EpochLog(const std::filesystem::path& path) : csv_(path.extension() == ".csv") {
    if (path.empty()) return;
    file_.open(path, std::ios::app);
    if (!file_) throw TrainingError(fmt::format("cannot open the log file {}", path.string()));
    if (csv_ && std::filesystem::file_size(path) == 0) file_ << "epoch,loss,train_acc,test_acc,seconds,examples_per_sec,lr\n";
  }
  void write(const EpochReport& r) {
    if (!file_.is_open()) return;
    if (csv_)
      fmt::print(file_, "{},{:.6f},{:.6f},{:.6f},{:.3f},{:.1f},{:.6g}\n", r.epoch, r.loss, r.train_acc, r.test_acc,
                 r.seconds, r.examples_per_sec, r.lr);
    else
      fmt::print(file_,
                 "{{\"epoch\": {}, \"loss\": {:.6f}, \"train_acc\": {:.6f}, \"test_acc\": {:.6f}, \"seconds\": {:.3f}, "
                 "\"examples_per_sec\": {:.1f}, \"lr\": {:.6g}}}\n",
                 r.epoch, r.loss, r.train_acc, r.test_acc, r.seconds, r.examples_per_sec, r.lr);
    file_.flush();
  }

 private:
  bool csv_;
  std::ofstream file_;
};

// The network in evaluation mode (BatchNorm with running statistics), fed batches of one split
// (on a GPU, kept there from the first evaluation to the last).
class Evaluator {
 public:
  Evaluator(const ir::Graph& forward, Backend& backend, const passes::PipelineOptions& optimize,
            const data::Split& split)
      : plan_(passes::optimized_plan(forward, optimize)),
        exec_(backend.compile(plan_)),
        split_(split),
        feeder_(plan_, *exec_, split) {}

  const plan::KernelPlan& plan() const { return plan_; }
  PlanExecutor& executor() { return *exec_; }

  double accuracy() {
    const int64_t batch = plan_.buffer(plan_.input).shape[0];
    const int64_t classes = plan_.buffer(plan_.logits).shape[1];
    std::vector<float> logits(static_cast<size_t>(batch * classes));
    int64_t right = 0;
    for (int64_t start = 0; start < split_.count; start += batch) {
      int64_t count = std::min(batch, split_.count - start);
      std::vector<uint32_t> indices;
      for (int64_t i = 0; i < count; ++i) indices.push_back(static_cast<uint32_t>(start + i));
      feeder_.feed(*exec_, split_, indices);
      exec_->run();
      read_buffer(*exec_, plan_.logits, std::span<float>(logits));
      right += correct(logits, feeder_.labels, count, classes);
    }
    return static_cast<double>(right) / static_cast<double>(split_.count);
  }

 private:
  plan::KernelPlan plan_;
  std::unique_ptr<PlanExecutor> exec_;
  const data::Split& split_;
  BatchFeeder feeder_;
};

std::map<std::string, std::string> run_metadata(const ir::Graph& forward, const Recipe& r, int64_t epoch) {
  return {{"model", forward.name}, {"epoch", std::to_string(epoch)}, {"seed", std::to_string(r.seed)},
          {"batch", std::to_string(r.batch)}, {"epochs", std::to_string(r.epochs)}};
}

}  // namespace

TrainResult train(const ir::Graph& forward, const data::DataSet& data, Backend& backend, const TrainOptions& options,
                  std::ostream& out) {
  const Recipe& r = options.recipe;
  const ir::Graph training = autodiff::make_training_graph(forward, {r.momentum, r.weight_decay});
  plan::KernelPlan plan = passes::optimized_plan(training, options.optimize);
  const int64_t batch = r.batch;
  const int64_t full_steps = data.train.count / batch;
  if (full_steps == 0)
    throw TrainingError(fmt::format("batch {} is larger than the training set ({})", batch, data.train.count));

  // Every plan compiled up front (on a GPU, a second run takes them from the kernel cache).
  const Clock::time_point compile_start = Clock::now();
  auto exec = backend.compile(plan);
  Evaluator evaluator(forward, backend, options.optimize, data.test);
  std::optional<ShortBatch> short_batch;
  if (const int64_t rest = data.train.count % batch; rest > 0 && options.network_at_batch)
    short_batch.emplace(options.network_at_batch(rest), r, backend, options.optimize, data.train);
  BatchFeeder feeder(plan, *exec, data.train);
  fmt::print(out, "compiled {} kernels in {:.2f} s (the training step{}, evaluation)\n",
             plan.kernels.size() + evaluator.plan().kernels.size() + (short_batch ? short_batch->plan.kernels.size() : 0),
             seconds_since(compile_start), short_batch ? ", the last short batch" : "");

  // Start: fresh weights, or everything the checkpoint saved.
  int64_t first_epoch = 0;
  if (options.resume) {
    LoadedCheckpoint saved = load_checkpoint(options.checkpoint, plan, false);
    auto meta = [&](const char* key) {
      auto it = saved.metadata.find(key);
      if (it == saved.metadata.end())
        throw TrainingError(fmt::format("{} is not a resnetc training checkpoint (no '{}')", options.checkpoint.string(), key));
      return it->second;
    };
    if (meta("seed") != std::to_string(r.seed) || meta("batch") != std::to_string(r.batch))
      throw TrainingError(fmt::format("{} was written with seed {} and batch {}; resume with the same (--seed, --batch)",
                                      options.checkpoint.string(), meta("seed"), meta("batch")));
    first_epoch = std::stoll(meta("epoch"));
    write_state(*exec, plan, saved.state);
    fmt::print(out, "resuming from {} after epoch {}\n", options.checkpoint.string(), first_epoch);
  } else {
    initialize_persistent(*exec, plan, training, r.seed);
  }

  const int64_t steps = full_steps + (short_batch ? 1 : 0);
  const int64_t epoch_examples = short_batch ? data.train.count : full_steps * batch;
  const int64_t classes = plan.buffer(plan.logits).shape[1];
  std::vector<float> logits(static_cast<size_t>(batch * classes)), loss(1), lr(1);
  ProgressLine progress(options.progress);
  EpochLog log(options.log);
  TrainResult result;
  double train_seconds = 0;
  int64_t trained_examples = 0;

  for (int64_t epoch = first_epoch; epoch < r.epochs; ++epoch) {
    auto start = Clock::now();
    const std::vector<uint32_t> order = feeder.shuffle(data.train, r.seed, static_cast<int>(epoch));
    double loss_sum = 0;  // over examples
    int64_t right = 0, done = 0;
    // One SGD step of `p` on the `count` examples its feeder was given.
    auto step_on = [&](PlanExecutor& e, const plan::KernelPlan& p, const BatchFeeder& f, int64_t step, int64_t count) {
      lr[0] = static_cast<float>(learning_rate(r, epoch, step, steps));
      write_buffer(e, p.learning_rate, std::span<const float>(lr));
      e.run();
      read_buffer(e, p.loss, std::span<float>(loss));
      if (!std::isfinite(loss[0])) {
        progress.clear();
        throw TrainingError(fmt::format(
            "the loss became {} at epoch {}, batch {}; training stopped. {}", loss[0], epoch + 1, step + 1,
            epoch > first_epoch || options.resume
                ? fmt::format("The last good checkpoint, after epoch {}, is {}", epoch, options.checkpoint.string())
                : std::string("No checkpoint was written yet. Try a lower --lr")));
      }
      read_buffer(e, p.logits, std::span<float>(logits.data(), static_cast<size_t>(count * classes)));
      loss_sum += loss[0] * static_cast<double>(count);
      right += correct(logits, f.labels, count, classes);
      done += count;
      double elapsed = seconds_since(start);
      double rate = static_cast<double>(done) / elapsed;
      double eta = elapsed / static_cast<double>(step + 1) * static_cast<double>((r.epochs - epoch) * steps - step - 1);
      progress.update(epoch + 1, r.epochs, step + 1, steps, loss_sum / static_cast<double>(done), rate, eta);
    };
    for (int64_t step = 0; step < full_steps; ++step) {
      feeder.feed_order(*exec, data.train, order, step * batch);
      step_on(*exec, plan, feeder, step, batch);
    }
    if (short_batch) {
      ShortBatch& b = *short_batch;
      write_state(*b.exec, b.plan, read_state(*exec, plan));
      b.feeder.feed(*b.exec, data.train, std::vector<uint32_t>(order.begin() + full_steps * batch, order.end()));
      step_on(*b.exec, b.plan, b.feeder, full_steps, data.train.count - full_steps * batch);
      write_state(*exec, plan, read_state(*b.exec, b.plan));
    }
    double epoch_train_seconds = seconds_since(start);
    train_seconds += epoch_train_seconds;
    trained_examples += epoch_examples;

    TensorMap state = read_state(*exec, plan);
    write_state(evaluator.executor(), evaluator.plan(), state);
    EpochReport rep{epoch + 1,
                    loss_sum / static_cast<double>(epoch_examples),
                    static_cast<double>(right) / static_cast<double>(epoch_examples),
                    evaluator.accuracy(),
                    seconds_since(start),
                    static_cast<double>(epoch_examples) / epoch_train_seconds,
                    lr[0]};
    save_checkpoint(options.checkpoint, plan, state, run_metadata(forward, r, epoch + 1));
    progress.clear();
    fmt::print(out, "epoch {}/{}: loss {:.4f}, train acc {:.3f}, test acc {:.3f}, {:.1f} s ({:.1f} examples/sec)\n",
               rep.epoch, r.epochs, rep.loss, rep.train_acc, rep.test_acc, rep.seconds, rep.examples_per_sec);
    out.flush();
    log.write(rep);
    result.epochs.push_back(rep);
  }
  result.examples_per_sec = train_seconds > 0 ? static_cast<double>(trained_examples) / train_seconds : 0;
  return result;
}

double evaluate(const ir::Graph& forward, const data::DataSet& data, Backend& backend,
                const std::filesystem::path& weights, const passes::PipelineOptions& optimize) {
  Evaluator evaluator(forward, backend, optimize, data.test);
  write_state(evaluator.executor(), evaluator.plan(), load_checkpoint(weights, evaluator.plan(), true).state);
  return evaluator.accuracy();
}

}  // namespace resnetc::train
