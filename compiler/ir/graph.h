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

// One enumerator per row of the op table, compiler/ir/ops.def, which says what each op is.
enum class OpKind : uint8_t {
#define OP(kind, ...) kind,
#include "compiler/ir/ops.def"
#undef OP
};
inline constexpr OpKind kLastOpKind = OpKind::BnRunningUpdateGroup;

// True for the kinds that write into their inputs instead of producing a value.
bool is_update(OpKind kind);
// True for the kinds that take any number of inputs, all of them data.
bool is_variadic(OpKind kind);
// True when an update writes input `index` (the parameter, the velocity, the running statistics).
bool writes_input(OpKind kind, size_t index);

std::string_view op_kind_name(OpKind kind);

enum class ValueRole : uint8_t {
  Input,       // the network's input batch
  Activation,  // produced by an op
  Parameter,   // trainable weight
  State,       // non-trainable buffer (BatchNorm running statistics)
};

// BF16 only in kernel plans: an activation stored as bfloat16 bits (uint16, float32 rounded to
// nearest even) where the plan's precision is bf16 and that halves the bytes moved.
enum class DType : uint8_t { F32, I32, BF16 };
constexpr int64_t dtype_bytes(DType dtype) { return dtype == DType::BF16 ? 2 : 4; }

struct Value {
  std::string name;  // parameters: "stage2.block0.conv1.weight"; activations: the op's name
  Dims shape;
  ValueRole role = ValueRole::Activation;
  OpId producer = -1;  // -1 unless role == Activation
  DType dtype = DType::F32;
};

// A fused elementwise program: straight-line code over one element of an iteration space
// [N, C, ...] (axis 1 is the channel). Instruction i defines register i from earlier registers.
enum class FusedOpcode : uint8_t {
  Load,         // input `a` at the element: an input with as many elements as the space
  LoadChannel,  // input `a` ([R, C] or [C]) at row `b`, column = the element's channel
  Const,        // `value`
  Add,          // r[a] + r[b]
  Sub,          // r[a] - r[b]
  Mul,          // r[a] * r[b]
  Relu,         // r[a] > 0 ? r[a] : 0
  ReluMask,     // r[b] > 0 ? r[a] : 0 (relu's gradient: r[b] is relu's output)
  Rsqrt,        // 1 / sqrt(r[a])
  LoadPlane,    // input `a` ([N, C] or [N, C, 1, 1]) at the element's sample and channel
  Sigmoid,      // 1 / (1 + exp(-r[a])), computed without overflow for large |r[a]|
  Max,          // r[b] > r[a] or r[b] is NaN ? r[b] : r[a] (max pooling's running maximum, PyTorch's
                // rule: a NaN wins, the last one in scan order)
  MaskKey,      // the dropout masks' key (ir/random_mask.h), a 32-bit integer: from input `a`, the
                // int32 [2] (seed, step), and the layer's salt `value`
  Keep,         // r[a] * scale or 0, kept by the draw of key r[b] at the element's index, drop
                // rate `value` (dropout's mask, ir/random_mask.h)
  KeepSample,   // the same, drawn at the element's sample (drop-path's mask)
  Div,          // r[a] / r[b]
  Sqrt,         // sqrt(r[a])
  Exp,          // exp(r[a])
  Log,          // log(r[a]) (natural)
  AtLabel,      // input `a` ([N, K]) at the row's label (a loss's row reduction only: ir/row_reduction.h)
  OnLabel,      // r[a] if the element's column is its row's label, else r[b] (the same)
  Gather,       // input `a` (of the space's rank) at another element: the program's gather map `b`
                // gives each axis's source coordinate from the element's; 0 where there is none
                // (a Map kind's program only: ir/map_program.h)
  Select,       // r[a] > 0 ? r[b] : r[c] (a NaN r[a] selects r[c])
};
inline constexpr FusedOpcode kLastFusedOpcode = FusedOpcode::Select;

// One axis of a gather map: the source coordinate is coord * num / den where den divides
// coord * num and the result is inside the source's extent; else the element reads 0.
struct GatherAxis {
  int64_t num = 1, den = 1;
  bool operator==(const GatherAxis&) const = default;
};
using GatherMap = std::vector<GatherAxis>;  // one per axis of the space

struct FusedInstr {
  FusedOpcode code;
  int32_t a = 0, b = 0;
  double value = 0;
  int32_t c = 0;  // Select's third register (after `value`, so {code, a, b, value} stays as it was)
  bool operator==(const FusedInstr&) const = default;
};

struct FusedProgram {
  std::vector<FusedInstr> instrs;
  // Map: one register, the output element ([the space's shape]). Reduce: one register per
  // output row, summed over every axis of the space but the channel ([rows, C]).
  std::vector<int32_t> results;
  bool reduce = false;
  std::vector<GatherMap> gathers = {};  // the Gather instructions' maps, by their `b`
  bool operator==(const FusedProgram&) const = default;
  bool empty() const { return instrs.empty(); }
};

// Whether a fused instruction reads registers a, b and c.
bool reads_register_a(FusedOpcode code);
bool reads_register_b(FusedOpcode code);
bool reads_register_c(FusedOpcode code);
// Whether every register `in` reads is one where `marked` is true (e.g. channel-uniform ones).
bool reads_only(const FusedInstr& in, const std::vector<bool>& marked);
std::string_view fused_opcode_name(FusedOpcode code);
// Whether a MaskKey of the program reads input `input` (an int32 (seed, step)).
bool reads_mask_key(const FusedProgram& program, int32_t input);
// "{r0=load(0); r1=channel(1,0); r2=sub(r0,r1)} -> r2", or "-> sum(r3,r4)" for a reduction; a
// gather names its map per axis, "gather(0,[1,1,1/2,1/2])" (num, or num/den where den is not 1).
std::string format_program(const FusedProgram& program);

// One flat attribute record: every op reads the fields that concern it and the verifier
// checks the rest are left at their defaults.
struct Attrs {
  int64_t out_channels = 0;  // Conv2d
  int64_t out_features = 0;  // Linear
  int64_t kernel[2] = {1, 1};
  int64_t stride[2] = {1, 1};
  int64_t padding[2] = {0, 0};
  int64_t dilation[2] = {1, 1};  // Conv2d and its gradients: kernel tap i reads row i * dilation
  bool ceil_mode = false;          // MaxPool, AvgPool: the output size rounds up (PyTorch's ceil_mode)
  bool count_include_pad = true;   // AvgPool: the divisor counts the padding (PyTorch's default)
  int64_t groups = 1;
  bool bias = false;  // Conv2d / Linear
  double eps = 1e-5;       // BatchNorm
  double momentum = 0.1;   // BatchNorm running-statistics update, as PyTorch; SGD momentum
  double weight_decay = 0;  // SGD updates
  bool nesterov = false;    // SgdMomentumUpdate(Group): PyTorch's SGD(nesterov=True)
  double beta2 = 0.999;     // AdamwUpdate(Group): the second moment's decay (`momentum` is beta1, `eps` eps)
  double label_smoothing = 0;  // SoftmaxCrossEntropy(Grad): PyTorch's CrossEntropyLoss(label_smoothing=)
  Dims shape;               // backward ops: the shape of the forward input; Reshape, View: the
                            // result; Fused: the iteration space
  bool epilogue = false;           // BnStats: computed in the epilogue of the conv2d that
                                   // produces its input (the kernel plan merges the two)
  int64_t offset = 0;              // View: the first element
  std::vector<int64_t> counts;     // BnRunningUpdateGroup: each member's n = N*H*W
  FusedProgram program;            // Fused
  double rate = 0;                 // Dropout, DropPath and their masks: the probability of dropping
  int64_t salt = 0;                // DropoutMask, DropPathMask: tells the masks of two layers apart
  std::vector<double> scalars;     // a map kind's row attributes (maps.def's ATTR), in the row's
                                   // order; empty: each at its fallback (ir/maps.h)
};

struct Op {
  OpKind kind;
  std::string name;  // hierarchical layer name, e.g. "stage2.block0.conv1"
  std::vector<ValueId> inputs;
  ValueId output = kNoValue;  // kNoValue for updates
  Attrs attrs;
  SourceLoc loc;
};

struct Graph {
  std::string name;
  std::vector<Value> values;
  std::vector<Op> ops;  // topological order
  ValueId input = kNoValue;
  ValueId output = kNoValue;  // the logits
  SourceLoc output_loc;       // where the user defined the output (the head's last layer, else the
                              // network's name): errors about the logits point there
  // Training graphs only (see compiler/autodiff): the other inputs and the loss.
  ValueId labels = kNoValue;         // [N] int32 class indices
  ValueId learning_rate = kNoValue;  // [1], set before every step by the schedule
  ValueId loss = kNoValue;           // [1]
  ValueId rng = kNoValue;            // [2] int32 (seed, step), set every step; only with dropout

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
