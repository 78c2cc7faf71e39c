#pragma once
// The training loop of `resnetc train`: the seed's recipe on real data, through any backend.
// Per epoch it reports loss, train and test accuracy; it writes a checkpoint after every
// epoch (atomically, and only of finite tensors), can resume from one (also from inside an
// epoch, after Ctrl-C, SIGTERM or --max-steps) to the same bytes as a run never stopped, and
// stops on a loss that is not a number or that has exploded.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/passes/pass.h"
#include "compiler/ir/graph.h"
#include "runtime/data/dataset.h"
#include "runtime/data/normalize.h"
#include "train/epoch_log.h"
#include "train/executor.h"
#include "train/recipe.h"

namespace resnetc::train {

class DataParallel;

class TrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TrainOptions {
  Recipe recipe;
  std::filesystem::path checkpoint;  // written after every epoch (checked beforehand: see RunFiles)
  bool resume = false;               // continue from `checkpoint`
  bool allow_recipe_change = false;  // resume although the recipe differs from the checkpoint's
  std::filesystem::path init;        // start from these weights (each tensor whose name and shape match)
  bool reset_head = false;           // with `init`: initialize the classifier instead of reading it
  std::optional<int64_t> max_steps;  // stop after this many training steps, with a checkpoint
  std::filesystem::path log;         // every epoch as CSV (.csv) or JSON lines (anything else); empty: none
  bool overwrite_log = false;        // start the log afresh instead of adding this run to it
  bool progress = true;              // a live progress line on stderr
  passes::PipelineOptions optimize;  // the passes run on the training and evaluation graphs
  // The network at another batch size, for each epoch's last, short batch (the training set's
  // size modulo the recipe's batch), which PyTorch's DataLoader trains by default. Unset: that
  // batch is dropped.
  std::function<ir::Graph(int64_t batch)> network_at_batch;
  // Called after each epoch's row is logged and its checkpoint saved (resnetc train --plot redraws
  // its figure from the log).
  std::function<void(const EpochReport&)> after_epoch;
  // What the data set's test split is, for the epoch lines' "test acc": "val" when it was carved
  // out of the training images.
  std::string evaluated = "test";
  // The --val-split fraction that carved the test split out of the training images, if any: kept
  // in the checkpoint, so that a --resume with another is refused (train/data_record.h).
  std::optional<double> val_split;
  // Training as one rank of an MPI job (train/distributed.h): `forward` is then the network at
  // this rank's share of the recipe's (global) batch. Null: a single process.
  DataParallel* data_parallel = nullptr;
};

struct TrainResult {
  std::vector<EpochReport> epochs;
  double examples_per_sec = 0;  // training examples over training time, all epochs
  int stopped_by_signal = 0;    // SIGINT or SIGTERM when one stopped the run (a checkpoint was saved)
  bool stopped_at_max_steps = false;
  bool already_finished = false;  // --resume of a run that had trained all its epochs
};

// `forward` is the network at the recipe's batch size (the DSL compiled with that batch).
TrainResult train(const ir::Graph& forward, const data::DataSet& data, Backend& backend, const TrainOptions& options,
                  std::ostream& out);

// Test accuracy of the weights in `weights` (a checkpoint of this network) on the first
// `limit` test images (0: all); of an MPI job (`data_parallel`), each rank evaluating its share.
double evaluate(const ir::Graph& forward, const data::DataSet& data, Backend& backend,
                const std::filesystem::path& weights, const passes::PipelineOptions& optimize = {},
                int64_t limit = 0, const DataParallel* data_parallel = nullptr);

// Refuses (a CompileError at the classifier's line) data whose labels the network cannot output.
void check_labels_fit(const ir::Graph& forward, const data::DataSet& data);

}  // namespace resnetc::train
