#pragma once
// The training loop of `resnetc train`: the seed's recipe on real data, through any backend.
// Per epoch it reports loss, train and test accuracy; it writes a checkpoint after every
// epoch (atomically), can resume from one, and stops on a loss that is not finite.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/passes/pass.h"
#include "compiler/ir/graph.h"
#include "runtime/data/dataset.h"
#include "runtime/train/executor.h"
#include "runtime/train/recipe.h"

namespace resnetc::train {

class TrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TrainOptions {
  Recipe recipe;
  std::filesystem::path checkpoint;  // written after every epoch
  bool resume = false;               // continue from `checkpoint`
  std::filesystem::path log;         // every epoch as CSV (.csv) or JSON lines (anything else); empty: none
  bool progress = true;              // a live progress line on stderr
  passes::PipelineOptions optimize;  // the passes run on the training and evaluation graphs
  // The network at another batch size, for each epoch's last, short batch (the training set's
  // size modulo the recipe's batch), which PyTorch's DataLoader trains by default. Unset: that
  // batch is dropped.
  std::function<ir::Graph(int64_t batch)> network_at_batch;
};

struct EpochReport {
  int64_t epoch = 0;  // 1-based
  double loss = 0, train_acc = 0, test_acc = 0, seconds = 0, examples_per_sec = 0, lr = 0;
};

struct TrainResult {
  std::vector<EpochReport> epochs;
  double examples_per_sec = 0;  // training examples over training time, all epochs
};

// `forward` is the network at the recipe's batch size (the DSL compiled with that batch).
TrainResult train(const ir::Graph& forward, const data::DataSet& data, Backend& backend, const TrainOptions& options,
                  std::ostream& out);

// Test accuracy of the weights in `weights` (a checkpoint of this network).
double evaluate(const ir::Graph& forward, const data::DataSet& data, Backend& backend,
                const std::filesystem::path& weights, const passes::PipelineOptions& optimize = {});

}  // namespace resnetc::train
