#pragma once
// The kernel plan: what the backends generate code for. One kernel per op of the graph but
// views, which alias memory (fusion comes from the passes), every shape a constant, every
// tensor a buffer at a fixed byte offset in one of three memories. Both the LLVM and the CUDA
// emitters read this.
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/plan/precision.h"

namespace resnetc::plan {

inline constexpr int64_t kBufferAlignment = 64;  // a cache line; also an AVX-512 vector
constexpr int64_t align_buffer(int64_t bytes) {
  return (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
}

enum class Storage : uint8_t {
  Persistent,  // parameters, running statistics, optimizer velocity: kept across steps, checkpointed
  Input,       // the image batch, the labels and the learning rate: written before each step
  Arena,       // activations and gradients of one step; buffers not live at once share bytes
};

struct Buffer {
  std::string name;  // the IR value's name
  ir::ValueId value = ir::kNoValue;
  ir::Dims shape;
  ir::DType dtype = ir::DType::F32;
  ir::ValueRole role = ir::ValueRole::Activation;
  Storage storage = Storage::Arena;
  int64_t offset = 0;  // bytes from the start of its storage, 64-byte aligned unless a view
  int64_t bytes = 0;
  int view_of = -1;    // a view's buffer (no kernel computes it): the memory of this buffer
};

struct Kernel {
  std::string name;  // the op's name: "stage1.block0.conv1.grad_input"
  ir::OpKind kind;
  ir::Attrs attrs;
  std::vector<int> inputs;  // buffer indices, in the op's input order
  int output = -1;          // buffer index; -1 for an update, which writes into its inputs
  ir::SourceLoc loc;
  // conv2d only: the [2, C] batch statistics (mean, biased variance) of `output`, computed in
  // the kernel's epilogue (a bn_stats with epilogue=true, merged here); -1: none.
  int epilogue_stats = -1;
  // A contraction's operands (convolutions and fully connected layers, forward and gradients):
  // the plan's precision where a backend has kernels for it, else Fp32; other kinds: Fp32.
  Precision operands = Precision::Fp32;
};

struct KernelPlan {
  std::string name;
  std::vector<Buffer> buffers;
  std::vector<Kernel> kernels;
  int64_t storage_bytes[3] = {0, 0, 0};  // by Storage
  int64_t unplanned_arena_bytes = 0;      // the arena with a buffer of its own for every value
  int input = -1, labels = -1, learning_rate = -1, loss = -1, logits = -1;  // buffer indices
  int rng = -1;  // [2] int32: the dropout masks' seed and step; -1 without dropout
  // The first `preamble_kernels` kernels read only persistent buffers and what other preamble
  // kernels compute (BatchNorm folded into conv weights): in a graph without updates their
  // results change only when a persistent buffer is written, so executors run them again only
  // then. Their outputs keep their memory across runs.
  size_t preamble_kernels = 0;
  Precision precision = Precision::Fp32;  // PlanOptions::precision

  const Buffer& buffer(int index) const { return buffers.at(static_cast<size_t>(index)); }
  int64_t bytes(Storage s) const { return storage_bytes[static_cast<int>(s)]; }
};

struct PlanOptions {
  // Arena buffers whose lifetimes do not overlap share bytes (compiler/plan/memory_plan.h);
  // off: each its own bytes, so every value can still be read after a run (tests compare them).
  bool reuse_memory = true;
  // The contractions' arithmetic: the convolutions (conv2d and both gradients) and the fully
  // connected layers (linear and both gradients; under Tf32 they stay Fp32, as PyTorch's
  // matmuls).
  Precision precision = Precision::Fp32;
  // Under Bf16: the activations between an elementwise kernel and a bf16 contraction stored as
  // bfloat16 (compiler/plan/storage_precision.h), as resnetc's commands plan them; off, every
  // activation is float32 (kernel tests, bench/conv_kernels' comparison).
  bool bf16_activations = false;
};

KernelPlan make_plan(const ir::Graph& graph, const PlanOptions& options = {});

// Persistent + inputs + arena, as planned and as it would be without reuse.
int64_t planned_peak_bytes(const KernelPlan& plan);
int64_t unplanned_peak_bytes(const KernelPlan& plan);

// Bytes a kernel reads and writes (each buffer counted once per kernel); an update reads
// and writes what it updates.
int64_t bytes_moved(const KernelPlan& plan, const Kernel& kernel);

// Multiply-accumulates of a convolution or fully connected kernel, forward or either gradient
// (all three are (elements of the conv's output) x (weights feeding each)); 0 for other kinds.
int64_t kernel_macs(const KernelPlan& plan, const Kernel& kernel);

// `--emit=plan`: one line per kernel, ending with a summary line
// "kernels: N, bytes moved: B (..), peak buffer memory: M (..), unplanned: U (..)" (B without
// the preamble) and, when there is a preamble, a line saying how many kernels it has.
std::string print_plan(const KernelPlan& plan);

}  // namespace resnetc::plan
