#pragma once
// bf16 activations marked by hand in a kernel plan, for the CUDA emitter's tests: the outputs of
// fused maps and bn_grad_input that only kernels taking bf16 buffers read (a convolution's or
// fully connected layer's image operand or output gradient, a fused kernel, a channel
// reduction), stored as bfloat16 (ir::DType::BF16, two bytes an element). Every buffer the
// kernels can take in bf16, more than the plan's rule stores (plan/storage_precision.h also
// wants a contraction among the readers), so that each kind of reader is exercised.
#include <vector>

#include "compiler/ir/ops.h"
#include "compiler/plan/kernel_plan.h"

namespace resnetc::testing {

inline void mark_bf16(plan::KernelPlan& plan, int buffer) {
  plan::Buffer& b = plan.buffers.at(static_cast<size_t>(buffer));
  b.dtype = ir::DType::BF16;
  b.bytes = ir::numel(b.shape) * 2;
}

// Whether a kernel of `kind` takes input `input` as a bf16 buffer.
inline bool reads_bf16(ir::OpKind kind, size_t input) {
  using ir::OpKind;
  switch (kind) {
    case OpKind::Conv2d:
    case OpKind::Linear:
    case OpKind::ConvGradInput:
    case OpKind::LinearGradInput:
      return input == 0;
    case OpKind::ConvGradWeight:
      return input <= 1;
    case OpKind::Fused:
    case OpKind::BnStats:
    case OpKind::BnGradWeight:
    case OpKind::BnGradInput:
    case OpKind::BiasGrad:
      return true;
    default:
      return false;
  }
}

// Marks them; returns the buffers marked.
inline std::vector<int> mark_bf16_activations(plan::KernelPlan& plan) {
  std::vector<int> marked;
  for (const plan::Kernel& k : plan.kernels) {
    const bool producer =
        (k.kind == ir::OpKind::Fused && !k.attrs.program.reduce) || k.kind == ir::OpKind::BnGradInput;
    if (!producer || k.output < 0 || plan.buffer(k.output).storage != plan::Storage::Arena) continue;
    bool ok = true, read = false;
    for (const plan::Buffer& b : plan.buffers) ok = ok && b.view_of != k.output;
    for (const plan::Kernel& r : plan.kernels)
      for (size_t i = 0; i < r.inputs.size(); ++i)
        if (r.inputs[i] == k.output) {
          read = true;
          ok = ok && reads_bf16(r.kind, i);
        }
    if (ok && read) marked.push_back(k.output);
  }
  for (int b : marked) mark_bf16(plan, b);
  return marked;
}

}  // namespace resnetc::testing
