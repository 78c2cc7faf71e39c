#pragma once
// Turns each kernel of a plan into LLVM IR. Every kernel becomes
//   void <symbol>(float* in0, ..., float* out, [float* stats,] i8* pool)
// with its shapes as constants and its arrays noalias, aligned and dereferenceable, plus
//   void <symbol>.entry(i8** args, i8* pool)
// which the runtime calls with the buffers' addresses (inputs, then the output, then a
// conv2d's epilogue statistics when the plan gives it some).
// Labels arrive as a float* and are read as int32.
#include <string>
#include <vector>

#include "compiler/codegen/llvm/loops.h"
#include "compiler/plan/kernel_plan.h"

namespace resnetc::codegen::llvm_backend {

// What the kernels are generated for besides the plan. The caller, which knows where they will
// run, fills it in: code generation reads no runtime state of its own, so the same inputs give
// the same IR (and the same object cache key).
struct EmitOptions {
  // The chunks a parallel loop is split into by the thread pool that runs the kernels
  // (cpu::ThreadPool::num_threads); the im2col GEMM sizes its work items by it.
  int threads = 1;
};

// What an op emitter sees: the builder positioned in the kernel's body, its arrays and shapes.
struct KernelBody {
  Builder& b;
  llvm::Module& module;
  const plan::KernelPlan& plan;
  const plan::Kernel& kernel;
  std::vector<llvm::Value*> in;  // one float* per kernel input
  llvm::Value* out = nullptr;    // float*; null for updates
  llvm::Value* stats = nullptr;  // float* [2, C]: conv2d's epilogue statistics (plan::Kernel::epilogue_stats); null: none
  llvm::Value* pool = nullptr;   // i8*, for emit_parallel_for
  EmitOptions options;

  const ir::Dims& in_shape(size_t i) const { return plan.buffer(kernel.inputs.at(i)).shape; }
  const ir::Dims& out_shape() const { return plan.buffer(kernel.output).shape; }
  const ir::Attrs& attrs() const { return kernel.attrs; }
};

// Emits kernel `index` of `plan` into `module` as the function `symbol`, with the entry point
// `symbol + ".entry"`. Throws std::logic_error for an op kind whose skeleton has no kernel
// (ir::Skeleton None or Alias), and for epilogue statistics on a kernel other than conv2d.
void emit_kernel(llvm::Module& module, const plan::KernelPlan& plan, size_t index, const std::string& symbol,
                 const EmitOptions& options);

// One emitter per kernel skeleton (ir::Skeleton; each in its own file), for the kinds whose
// row in ops.def names that skeleton.
void emit_convolution(KernelBody& k);  // WindowContraction: conv2d, conv2d_grad_input, conv2d_grad_weight
void emit_linear(KernelBody& k);       // Contraction: linear, linear_grad_input, linear_grad_weight
// PerChannel: batchnorm, bn_stats, bn_apply, bn_grad_*, bias_grad, each by its ir::ChannelReduction
void emit_channel_reduction(KernelBody& k);
void emit_map(KernelBody& k);          // Map: flatten, reshape, pad_shortcut(_grad), global_avgpool_grad (fused.cpp)
void emit_pooling(KernelBody& k);      // Window: maxpool, avgpool, global_*pool, maxpool_grad, avgpool_grad
void emit_loss(KernelBody& k);         // Loss: softmax_cross_entropy and its gradient
void emit_update(KernelBody& k);       // Update: sgd_update, sgd_momentum_update, bn_running_update and their groups
void emit_fused(KernelBody& k);        // Fused: fused (the fusion pass's elementwise maps and reductions)

}  // namespace resnetc::codegen::llvm_backend
