#include "compiler/plan/kernel_plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "compiler/ir/ops.h"
#include "compiler/plan/memory_plan.h"
#include "compiler/plan/storage_precision.h"

namespace resnetc::plan {
namespace {

Storage storage_of(ir::ValueRole role) {
  switch (role) {
    case ir::ValueRole::Parameter:
    case ir::ValueRole::State: return Storage::Persistent;
    case ir::ValueRole::Input: return Storage::Input;
    case ir::ValueRole::Activation: return Storage::Arena;
  }
  return Storage::Arena;
}

std::string_view storage_tag(Storage s) {
  switch (s) {
    case Storage::Persistent: return "p";
    case Storage::Input: return "in";
    case Storage::Arena: return "a";
  }
  return "?";
}

std::string human_bytes(int64_t b) {
  double v = static_cast<double>(b);
  if (v >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", v / (1024.0 * 1024 * 1024));
  if (v >= 1024.0 * 1024) return fmt::format("{:.2f} MiB", v / (1024.0 * 1024));
  return fmt::format("{:.1f} KiB", v / 1024.0);
}

// TF32 is for convolutions only: fully connected layers stay float32 under tf32, as PyTorch's
// matmuls do by default (docs/precision.md).
Precision contraction_operands(ir::OpKind kind, Precision precision) {
  switch (kind) {
    case ir::OpKind::Conv2d:
    case ir::OpKind::ConvGradInput: return precision;
    case ir::OpKind::Linear:
    case ir::OpKind::LinearGradInput:
    case ir::OpKind::LinearGradWeight: return precision == Precision::Tf32 ? Precision::Fp32 : precision;
    case ir::OpKind::ConvGradWeight: return precision;
    default: return Precision::Fp32;
  }
}

}  // namespace

KernelPlan make_plan(const ir::Graph& g, const PlanOptions& options) {
  KernelPlan p;
  p.name = g.name;
  p.precision = options.precision;
  std::map<ir::ValueId, int> index;
  // A view, and dropout and drop-path (the identity outside training), alias their source.
  auto aliases = [](ir::OpKind kind) { return ir::op_skeleton(kind) == ir::Skeleton::Alias; };
  for (size_t i = 0; i < g.values.size(); ++i) {
    const ir::Value& v = g.values[i];
    Buffer b{v.name, static_cast<ir::ValueId>(i), v.shape, v.dtype, v.role, storage_of(v.role), 0,
             ir::numel(v.shape) * ir::dtype_bytes(v.dtype)};
    index[b.value] = static_cast<int>(p.buffers.size());
    p.buffers.push_back(std::move(b));
  }
  // Statistics computed in a conv's epilogue: the bn_stats has no kernel of its own.
  std::map<ir::OpId, ir::ValueId> epilogue_stats;  // conv op -> its statistics
  for (const ir::Op& op : g.ops)
    if (op.kind == ir::OpKind::BnStats && op.attrs.epilogue) epilogue_stats[g.value(op.inputs[0]).producer] = op.output;
  std::vector<std::pair<int, int64_t>> views;  // (view, its byte offset in its source), sources first
  // Without updates, ops that compute only from parameters and state go first, as a preamble
  // (stable, so the order stays topological: a constant op reads only earlier constants).
  std::vector<bool> constant(g.values.size());
  for (size_t v = 0; v < g.values.size(); ++v)
    constant[v] = g.values[v].role == ir::ValueRole::Parameter || g.values[v].role == ir::ValueRole::State;
  const bool has_updates =
      std::any_of(g.ops.begin(), g.ops.end(), [](const ir::Op& op) { return ir::is_update(op.kind); });
  std::vector<size_t> preamble, rest;
  for (size_t o = 0; o < g.ops.size(); ++o) {
    const ir::Op& op = g.ops[o];
    const bool from_constants = !has_updates && op.output != ir::kNoValue &&
                                std::all_of(op.inputs.begin(), op.inputs.end(),
                                            [&](ir::ValueId in) { return constant[static_cast<size_t>(in)]; });
    if (from_constants) constant[static_cast<size_t>(op.output)] = true;
    (from_constants ? preamble : rest).push_back(o);
  }
  auto add_kernel = [&](size_t o) {
    const ir::Op& op = g.ops[o];
    if (op.kind == ir::OpKind::BnStats && op.attrs.epilogue) return;
    if (aliases(op.kind)) {  // the source's memory: no kernel, no memory of its own
      Buffer& view = p.buffers[static_cast<size_t>(index.at(op.output))];
      const Buffer& source = p.buffers[static_cast<size_t>(index.at(op.inputs[0]))];
      view.view_of = index.at(op.inputs[0]);
      view.storage = source.storage;
      views.emplace_back(index.at(op.output), op.attrs.offset * 4);
      return;
    }
    Kernel k{op.name, op.kind, op.attrs, {}, op.output == ir::kNoValue ? -1 : index.at(op.output), op.loc};
    for (ir::ValueId in : op.inputs) k.inputs.push_back(index.at(in));
    k.operands = contraction_operands(op.kind, options.precision);
    if (auto stats = epilogue_stats.find(static_cast<ir::OpId>(o)); stats != epilogue_stats.end())
      k.epilogue_stats = index.at(stats->second);
    p.kernels.push_back(std::move(k));
  };
  for (size_t o : preamble) add_kernel(o);
  p.preamble_kernels = p.kernels.size();
  for (size_t o : rest) add_kernel(o);
  auto find = [&](ir::ValueId id) { return id == ir::kNoValue ? -1 : index.at(id); };
  p.input = find(g.input);
  p.labels = find(g.labels);
  p.learning_rate = find(g.learning_rate);
  p.rng = find(g.rng);
  p.loss = find(g.loss);
  p.logits = find(g.output);
  // Each buffer's bytes at its dtype, then laid out one after another, views inside their sources.
  store_activations_in_bf16(p, options);
  for (Buffer& b : p.buffers) {
    if (b.view_of >= 0) continue;
    int64_t& end = p.storage_bytes[static_cast<int>(b.storage)];
    b.offset = end;
    end += align_buffer(b.bytes);
  }
  for (const auto& [view, offset] : views) {
    Buffer& v = p.buffers[static_cast<size_t>(view)];
    v.offset = p.buffer(v.view_of).offset + offset;
  }
  p.unplanned_arena_bytes = p.bytes(Storage::Arena);
  if (options.reuse_memory) plan_arena(p);
  return p;
}

int64_t planned_peak_bytes(const KernelPlan& p) {
  return p.bytes(Storage::Persistent) + p.bytes(Storage::Input) + p.bytes(Storage::Arena);
}

int64_t unplanned_peak_bytes(const KernelPlan& p) {
  return p.bytes(Storage::Persistent) + p.bytes(Storage::Input) + p.unplanned_arena_bytes;
}

int64_t bytes_moved(const KernelPlan& plan, const Kernel& k) {
  int64_t total = 0;
  for (int in : k.inputs) total += plan.buffer(in).bytes;
  if (k.output >= 0) total += plan.buffer(k.output).bytes;
  if (k.epilogue_stats >= 0) total += plan.buffer(k.epilogue_stats).bytes;
  for (size_t i = 0; i < k.inputs.size(); ++i)  // written back: parameters, velocities, running statistics
    if (ir::writes_input(k.kind, i)) total += plan.buffer(k.inputs[i]).bytes;
  return total;
}

int64_t kernel_macs(const KernelPlan& plan, const Kernel& k) {
  const auto shape = [&](int buffer) -> const ir::Dims& { return plan.buffer(buffer).shape; };
  switch (k.kind) {
    case ir::OpKind::Conv2d: {  // x, weight -> y
      const ir::Dims& w = shape(k.inputs[1]);
      return ir::numel(shape(k.output)) * w[1] * w[2] * w[3];
    }
    case ir::OpKind::ConvGradInput: {  // dy, weight -> dx
      const ir::Dims& w = shape(k.inputs[1]);
      return ir::numel(shape(k.inputs[0])) * w[1] * w[2] * w[3];
    }
    case ir::OpKind::ConvGradWeight: {  // dy, x -> dweight
      const ir::Dims& w = shape(k.output);
      return ir::numel(shape(k.inputs[0])) * w[1] * w[2] * w[3];
    }
    case ir::OpKind::Linear:           // x, weight [K, C] -> y [N, K]
    case ir::OpKind::LinearGradInput:  // dy [N, K], weight [K, C] -> dx
      return ir::numel(k.kind == ir::OpKind::Linear ? shape(k.output) : shape(k.inputs[0])) * shape(k.inputs[1])[1];
    case ir::OpKind::LinearGradWeight:  // dy [N, K], x [N, C] -> dweight [K, C]
      return ir::numel(shape(k.output)) * shape(k.inputs[0])[0];
    default:
      return 0;
  }
}

std::string print_plan(const KernelPlan& p) {
  auto ref = [&](int i) {
    const Buffer& b = p.buffer(i);
    // Only bf16 is named, so float32 plans print as before.
    return fmt::format("%{}{}{}@{}+{}", b.name, ir::format_dims(b.shape), b.dtype == ir::DType::BF16 ? "bf16" : "",
                       storage_tag(b.storage), b.offset);
  };
  std::string out = fmt::format("plan {} {{\n", p.name);
  out += fmt::format("  memory: persistent {} (p), inputs {} (in), arena {} (a)\n", human_bytes(p.bytes(Storage::Persistent)),
                     human_bytes(p.bytes(Storage::Input)), human_bytes(p.bytes(Storage::Arena)));
  int64_t moved = 0;
  for (size_t i = 0; i < p.kernels.size(); ++i) {
    const Kernel& k = p.kernels[i];
    std::vector<std::string> ins;
    for (int in : k.inputs) ins.push_back(ref(in));
    const int64_t bytes = bytes_moved(p, k);
    const bool preamble = i < p.preamble_kernels;
    if (!preamble) moved += bytes;
    std::string result = k.output >= 0 ? ref(k.output) + " = " : std::string();
    if (k.epilogue_stats >= 0) result = fmt::format("{}, {} = ", ref(k.output), ref(k.epilogue_stats));
    const std::string operands =
        k.operands == Precision::Fp32 ? "" : fmt::format(", {} operands", precision_name(k.operands));
    out += fmt::format("  k{} {}{}({})  # {}, {}{}{}\n", i, result, ir::op_kind_name(k.kind), fmt::join(ins, ", "), k.name,
                       human_bytes(bytes), operands, preamble ? ", preamble: runs when the weights change" : "");
  }
  const int64_t peak = planned_peak_bytes(p), unplanned = unplanned_peak_bytes(p);
  out += fmt::format("}}\nkernels: {}, bytes moved: {} ({}), peak buffer memory: {} ({}), unplanned: {} ({})\n",
                     p.kernels.size(), moved, human_bytes(moved), peak, human_bytes(peak), unplanned,
                     human_bytes(unplanned));
  if (p.preamble_kernels > 0)
    out += fmt::format("preamble: the first {} kernels, run when the weights change (not counted in bytes moved)\n",
                       p.preamble_kernels);
  return out;
}

}  // namespace resnetc::plan
