#pragma once
// Internal to the CUDA emitter: how an op family's emitter describes its kernels and launches.
//
// A kernel is written as a struct holding its constants and helpers and a `run` function; the
// driver (cuda_emitter.cpp) wraps it in the extern "C" __global__ entry point:
//
//   struct NAME_k {
//     using I = int;                        // the index type: int, or long long for big buffers
//     static constexpr int M = 128;         // every shape a constant
//     static __device__ __forceinline__ float load_a(...) { ... }
//     static __device__ __forceinline__ void run(float* __restrict__ y, const float* __restrict__ x) {
//       ...
//     }
//   };
//   extern "C" __global__ void __launch_bounds__(256) NAME(float* __restrict__ y, ...) { NAME_k::run(y, ...); }
//
// Struct members never trigger NVRTC's "declared but never referenced" warning, so a kernel may
// declare constants it does not use. "$K" in the text is replaced by the kernel's name.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/plan/kernel_plan.h"

namespace resnetc::codegen::cuda::detail {

// float*, const float*, const int*; a plan buffer of dtype bf16 (an activation stored as
// bfloat16 bits) is unsigned short* / const unsigned short* (OutBf16, InBf16), and the driver
// refuses a parameter whose type does not follow its buffer's dtype.
enum class ParamType { Out, In, InInt, OutBf16, InBf16 };

// The most parameters a kernel takes: 4 KB of kernel parameters (sm_90, any driver) of 8-byte
// pointers.
inline constexpr size_t kMaxKernelParams = 512;

struct Param {
  std::string name;
  ParamType type;
  int buffer;  // plan buffer index or kWorkspace
};

struct KernelSource {
  std::string family;   // the name's stem: "conv_fwd", "bn_stats_partial", ...
  std::string comment;  // one line saying what it computes, shapes included
  std::string members;  // constants and helpers, inside the struct
  std::string body;     // the body of run()
  std::vector<Param> params;
  unsigned threads = 256;
  unsigned min_blocks = 1;  // __launch_bounds__'s second argument: blocks per SM ptxas must allow
  unsigned grid[3] = {1, 1, 1};
};

// Builds a struct's members: constants and the index type.
class Members {
 public:
  Members& constant(std::string_view name, int64_t value);   // int, or long long when large
  Members& constant_f(std::string_view name, double value);  // float
  Members& constant_d(std::string_view name, double value);  // double
  Members& text(std::string_view code);
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

// "1.5f", "1e-05f", "0.0f": a float literal NVRTC and host compilers read back exactly.
std::string float_literal(double v);
std::string double_literal(double v);

// "int" when every index below `max_elements` fits an int, else "long long".
std::string index_type(int64_t max_elements);

// Each line of `code` prefixed by `pad`, without a final newline.
std::string indent_lines(std::string_view code, std::string_view pad);

// Replaces each "$name" in `code` by its value; longest names first, "$K" untouched unless given.
std::string subst(std::string_view code, const std::vector<std::pair<std::string, std::string>>& values);

int64_t ceil_div(int64_t a, int64_t b);

class Emitter {
 public:
  Emitter(const plan::KernelPlan& plan, const CudaOptions& options) : plan_(plan), options_(options) {}

  const plan::KernelPlan& plan() const { return plan_; }
  const CudaOptions& options() const { return options_; }
  const plan::Kernel& kernel() const { return *kernel_; }
  const plan::Buffer& in(size_t i) const { return plan_.buffer(kernel_->inputs.at(i)); }
  int in_index(size_t i) const { return kernel_->inputs.at(i); }
  const plan::Buffer& out() const { return plan_.buffer(kernel_->output); }
  int out_index() const { return kernel_->output; }
  const ir::Attrs& attrs() const { return kernel_->attrs; }

  // The plan kernel being emitted, for descriptions: "stage1.block0.conv1 (Conv2d)".
  std::string where() const;

  // Appends a launch of `source` (after the previous ones of this plan kernel).
  void launch(KernelSource source);
  // Blocks for a grid-stride loop over `work` items: one item per thread, at most
  // options().grid_stride_blocks blocks.
  unsigned grid_stride(int64_t work, unsigned threads) const;
  // Reserves `bytes` of workspace for this plan kernel (the maximum over kernels is kept).
  void need_workspace(int64_t bytes);

  // Driver side.
  void begin(const plan::Kernel& kernel) { kernel_ = &kernel; }
  std::vector<KernelSource>& launches() { return launches_; }
  std::vector<int>& launch_owner() { return owner_; }
  int64_t workspace_bytes() const { return workspace_; }
  int current_index() const { return static_cast<int>(kernel_ - plan_.kernels.data()); }

 private:
  const plan::KernelPlan& plan_;
  const CudaOptions& options_;
  const plan::Kernel* kernel_ = nullptr;
  std::vector<KernelSource> launches_;
  std::vector<int> owner_;
  int64_t workspace_ = 0;
};

// ---- bf16 activations (plan buffers of dtype bf16): the kernels' shared preamble defines
// rc_bf16_widen (a load, exact: the bits are a float32's high half), rc_bf16_round (a store:
// to nearest with ties to even, a NaN the quiet 0x7fc0, as the CPU backend's round_to_bf16) and
// rc_bf16_view (a bf16 pointer indexed as floats, for the GEMMs' operand gathers) ----
bool is_bf16(const Emitter& e, int buffer);  // false for the workspace
ParamType in_param(const Emitter& e, int buffer);   // In, or InBf16 for a bf16 buffer
// `element`, an element of `buffer` read as written (`x[i]`, `__ldg(x + c)`), as a float.
std::string widened(const Emitter& e, int buffer, const std::string& element);
// The preamble's text defining them (the driver adds it where a kernel uses one).
std::string_view bf16_storage_helpers();

// ---- One family emitter per kernel skeleton (ir::Skeleton; one file each under emit/), for
// the kinds whose row in ops.def names that skeleton ----
void emit_convolution(Emitter& e);  // WindowContraction: Conv2d, ConvGradInput, ConvGradWeight
void emit_linear(Emitter& e);       // Contraction: Linear, LinearGradInput, LinearGradWeight
// PerChannel: BatchNorm, BnStats, BnApply, BnGradWeight, BnGradInput, BiasGrad, each by its ir::ChannelReduction
void emit_channel_reduction(Emitter& e);
void emit_map(Emitter& e);          // Map: each kind by its ir::map_program (emit/fused.cpp)
void emit_pooling(Emitter& e);      // Window: each kind by its ir::WindowReduction (compiler/ops/window.cpp)
void emit_loss(Emitter& e);         // Loss: SoftmaxCrossEntropy, SoftmaxCrossEntropyGrad
void emit_update(Emitter& e);       // Update: SgdUpdate, SgdMomentumUpdate, BnRunningUpdate and their groups
void emit_fused(Emitter& e);        // Fused: Fused (the fusion passes' elementwise programs)

// ---- Shared generators ----

// The right-hand side of fused instruction `in` (fused.cpp, the one table from scalar opcode to
// CUDA): in float, or in double when `dbl`. `load` is what Load reads for input a; `plane` the
// element's (n, c) plane index, `index` its flat index (where the masks draw; they need the
// members of mask_helpers()).
std::string fused_expression(const Emitter& e, const ir::FusedInstr& in, bool dbl, const std::string& load,
                             std::string_view plane, std::string_view index = "i");

// A GEMM C[m, n] = sum_k A[m, k] * B[k, n] per group, tiled through shared memory, with the
// operands gathered by helper bodies (implicit GEMM for convolutions).
struct GemmProblem {
  std::string family;
  std::string comment;
  int64_t M = 0, N = 0, K = 0, groups = 1;
  std::string members;  // the problem's constants (shapes), used by the helper bodies below
  // Bodies of: float load_a(const float* __restrict__ A, int g, I m, I k), called with m < M, k < K;
  //            float load_b(const float* __restrict__ B, int g, I k, I n), k < K, n < N;
  //            I out_index(int g, I m, I n): where C[m, n] of group g goes in the output;
  //            int bias_index(int g, I n): the bias of column n.
  // A problem may cover part of its output (a phase of a strided data gradient); the output
  // elements of all the problems of a plan kernel are each written exactly once.
  std::string load_a, load_b, out_index, bias_index;
  bool a_m_contiguous = true;  // consecutive m are adjacent in memory (else consecutive k)
  bool b_n_contiguous = false;
  bool out_m_contiguous = true;  // consecutive m are adjacent in the output (else consecutive n)
  int a_buffer = -1, b_buffer = -1, out_buffer = -1, bias_buffer = -1;  // bias: -1 for none
  // A [2, G*N] buffer for the mean and biased variance of each output column g*N + n over its M
  // rows (a convolution's BatchNorm statistics), computed in the epilogue; -1 for none. Needs
  // out_m_contiguous (the split-K partial results then hold each column's rows contiguously).
  int stats_buffer = -1;
  std::string a_name = "a", b_name = "b";
  int64_t max_elements = 0;  // the largest buffer it indexes
  bool tensor_cores = false;
  // bfloat16 operands (rounded to nearest even) on mma.sync.m16n8k16, float32 accumulation:
  // the kernel's plan::Kernel::operands is Bf16. Overrides tensor_cores.
  bool bf16 = false;
};
void emit_gemm(Emitter& e, const GemmProblem& p);

// Per-channel sums over an [NB, C, HW] tensor (a channel is NB planes of HW), in double, split
// into chunks per channel when a channel is long; then `finalize` runs once per channel with
// `c` and `const double tot[NSUM]`.
struct ChannelReduce {
  std::string family;
  std::string comment;
  int64_t C = 0, NB = 0, HW = 0;
  int nsum = 1;
  std::string members;        // constants the code below uses
  std::string prologue;       // per block, with `c`: e.g. the shift of the statistics
  std::string element;        // with `I idx` and `double s[NSUM]`: accumulate
  std::string finalize;       // with `c`, `tot`: write the results
  std::vector<Param> params;  // what the code reads and writes (the workspace is added)
  int64_t max_elements = 0;
  // Where the chunks' partial sums go in the workspace (floats from its start); the finalize
  // code may use the workspace after that (ws + WS_END).
  int64_t workspace_offset = 0;
};
// Returns the workspace floats it uses from workspace_offset (0 when it needs none).
int64_t emit_channel_reduce(Emitter& e, const ChannelReduce& r);

// An elementwise kernel over `total` elements: each `stream` is read (In), written (Out) or both
// at index i, as `<name>_v`; `code` computes the Out values from `i`, the In values and any
// other parameter. Vectorized by 4 when total % 4 == 0 and `vectorize`.
struct Elementwise {
  enum class Mode { In, Out, InOut };
  struct Stream {
    std::string name;
    Mode mode;
    int buffer;
    bool bf16 = false;  // 16-bit elements, widened when read, rounded when written (from the buffer's dtype)
  };
  std::string family;
  std::string comment;
  int64_t total = 0;
  std::string members;
  std::vector<Stream> streams;
  std::vector<Param> extra;  // other parameters the code reads (after the streams)
  std::string prologue;      // once per thread, before the loop
  std::string code;
  bool vectorize = true;
  int64_t max_elements = 0;
};
void emit_elementwise_kernel(Emitter& e, const Elementwise& k);
// Its grid-stride loop over the streams (no prologue): items from `first` * THREADS +
// threadIdx.x in steps of `step` * THREADS below `total` (float4 items below total / 4 when
// `vec`); the three are expressions in the struct's index type I.
std::string elementwise_loop(const Elementwise& k, bool vec, std::string_view total, std::string_view first,
                             std::string_view step);
// Whether a buffer starts on 16 bytes, as float4 accesses need: plan buffers do, a view may not.
bool aligned16(const Emitter& e, int buffer);

// An update group (SgdUpdateGroup, ...) in one launch: member m owns `blocks` consecutive blocks
// of the grid, and a block finds its member by comparing blockIdx.x with those compile-time
// boundaries (a binary tree of ifs), then runs the member's call. Members that would take the
// kernel past kMaxKernelParams go to further launches.
struct GroupMember {
  std::vector<Param> params;  // named uniquely within the group
  int64_t blocks = 1;
  std::string call;  // e.g. "member<21, 1>(p3, g3, rate, $B);", $B the block's index among the member's
};
struct UpdateGroup {
  std::string family;
  std::string comment;
  std::string members;        // the index type, constants and the helpers the calls use
  std::vector<Param> shared;  // parameters every launch takes first (the learning rate)
  std::string prologue;       // once per thread, before the member's call
  std::vector<GroupMember> group;
  unsigned threads = 256;
};
void emit_update_group(Emitter& e, const UpdateGroup& g);

// Blocks of `threads` threads for `work` items, one per thread (at most 65535).
unsigned grid_for(int64_t work, unsigned threads);

}  // namespace resnetc::codegen::cuda::detail
