#pragma once
// The graph IR: ops over tensors whose shapes are all known at compile time.
// Ops are kept in topological order; values are produced at most once (SSA).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/location.h"

namespace resnetc::ir {

using Dims = std::vector<int64_t>;  // 4-d activations are [N, C, H, W]
using ValueId = int32_t;
using OpId = int32_t;
inline constexpr ValueId kNoValue = -1;

enum class OpKind : uint8_t {
  Conv2d,         // inputs: x, weight[, bias]
  BatchNorm,      // inputs: x, weight, bias, running_mean, running_var
  Relu,           // inputs: x
  Add,            // inputs: a, b (same shape)
  MaxPool,        // inputs: x
  AvgPool,        // inputs: x; window given by kernel/stride/padding
  GlobalAvgPool,  // inputs: x; [N,C,H,W] -> [N,C,1,1]
  Flatten,        // inputs: x; [N,...] -> [N, prod(...)]
  Linear,         // inputs: x, weight[, bias]
};

std::string_view op_kind_name(OpKind kind);

enum class ValueRole : uint8_t {
  Input,       // the network's input batch
  Activation,  // produced by an op
  Parameter,   // trainable weight
  State,       // non-trainable buffer (BatchNorm running statistics)
};

struct Value {
  std::string name;  // parameters: "stage2.block0.conv1.weight"; activations: the op's name
  Dims shape;
  ValueRole role = ValueRole::Activation;
  OpId producer = -1;  // -1 unless role == Activation
};

// One flat attribute record: every op reads the fields that concern it and the verifier
// checks the rest are left at their defaults.
struct Attrs {
  int64_t out_channels = 0;  // Conv2d
  int64_t out_features = 0;  // Linear
  int64_t kernel[2] = {1, 1};
  int64_t stride[2] = {1, 1};
  int64_t padding[2] = {0, 0};
  int64_t groups = 1;
  bool bias = false;  // Conv2d / Linear
  double eps = 1e-5;       // BatchNorm
  double momentum = 0.1;   // BatchNorm running-statistics update, as PyTorch
};

struct Op {
  OpKind kind;
  std::string name;  // hierarchical layer name, e.g. "stage2.block0.conv1"
  std::vector<ValueId> inputs;
  ValueId output = kNoValue;
  Attrs attrs;
  SourceLoc loc;
};

struct Graph {
  std::string name;
  std::vector<Value> values;
  std::vector<Op> ops;  // topological order
  ValueId input = kNoValue;
  ValueId output = kNoValue;

  const Value& value(ValueId id) const { return values.at(static_cast<size_t>(id)); }
  const Dims& shape(ValueId id) const { return value(id).shape; }
  const Op& op(OpId id) const { return ops.at(static_cast<size_t>(id)); }
};

int64_t numel(const Dims& dims);

// Parameters of an op: its inputs whose role is Parameter.
int64_t op_param_count(const Graph& graph, const Op& op);
// Multiply-accumulates of convolutions and fully connected layers; 0 for other ops.
int64_t op_macs(const Graph& graph, const Op& op);

std::string format_dims(const Dims& dims);  // "[1, 64, 56, 56]"

}  // namespace resnetc::ir
