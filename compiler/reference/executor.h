#pragma once
// The reference executor: runs a graph IR op by op in double precision with plain loops.
// It is the oracle every generated kernel (CUDA, LLVM) is tested against, so it favours
// obviously-right code over speed, and it builds without LLVM or CUDA.
//
// Layout is NCHW, row-major, exactly as the value shapes say. Every value is held as a
// std::vector<double>; labels are class indices stored as doubles.
//
//   Executor ex(graph);
//   ex.set(graph.input, images);          // the input batch
//   ex.set(graph.labels, labels);         // training graphs: class indices
//   ex.set(graph.learning_rate, {0.05});  // training graphs
//   ex.set(param, weights);               // every parameter and state the ops read
//   ex.run();                             // activations computed; updates applied in place
//   ex.get(graph.loss);
#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"

namespace resnetc::reference {

// A value missing or of the wrong size, a label out of range, a graph the executor cannot run.
// The message names the value or op it is about.
class ExecutorError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Executor {
 public:
  // Checks the graph is runnable (value ids in range, shapes consistent with the shape rules);
  // throws ExecutorError otherwise. Keeps a reference: the graph must outlive the executor.
  explicit Executor(const ir::Graph& graph);

  // Sets a value no op produces: the input, labels, learning rate, a parameter, a state, a
  // velocity. Throws ExecutorError when the size is not the shape's element count, or when
  // the value is an activation (produced by an op).
  void set(ir::ValueId id, std::vector<double> data);

  // The data of a value: what was set, or what run() computed (parameters, states and
  // velocities after run() hold their updated values). Throws ExecutorError when it has none.
  const std::vector<double>& get(ir::ValueId id) const;
  bool has(ir::ValueId id) const;

  // Runs every op in order. Checks first that every value read but not produced was set (so
  // a missing value is reported before any update is applied).
  void run();

  // Value `id`, when an op computes it, is rounded at its store to float and then to bfloat16
  // (bf16.h), as a plan that stores it in bf16 does (ir::DType::BF16), so the ops after it read
  // what a backend's kernels read.
  void store_in_bf16(ir::ValueId id);

  const ir::Graph& graph() const { return graph_; }

 private:
  std::string describe(ir::ValueId id) const;  // "parameter 'stem.conv.weight' [3, 1, 3, 3]"
  void run_op(const ir::Op& op);

  const ir::Graph& graph_;
  std::vector<std::vector<double>> data_;
  std::vector<bool> present_;
  std::vector<bool> bf16_;  // store_in_bf16
};

}  // namespace resnetc::reference
