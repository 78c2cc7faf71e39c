#include "compiler/plan/storage_precision.h"

#include <vector>

namespace resnetc::plan {
namespace {

bool channel_reduction(ir::OpKind kind) {
  return kind == ir::OpKind::BiasGrad || kind == ir::OpKind::BnStats || kind == ir::OpKind::BnGradWeight ||
         kind == ir::OpKind::BnGradInput;
}

// A writer whose last step is a float32 value per element: an elementwise map, or a channel
// reduction whose output is its space (bn_grad_input's map). Contractions write float32 (their
// accumulators), and reductions' [rows, C] sums are statistics.
bool elementwise_writer(const KernelPlan& p, const Kernel& k) {
  if (k.kind == ir::OpKind::Fused) return !k.attrs.program.reduce;
  return channel_reduction(k.kind) && p.buffer(k.output).shape == p.buffer(k.inputs.at(0)).shape;
}

// Input `input` of k is a contraction's activation operand that the kernel rounds to bf16 itself.
bool bf16_activation_operand(const Kernel& k, size_t input) {
  if (k.operands != Precision::Bf16) return false;
  switch (k.kind) {
    case ir::OpKind::Conv2d:
    case ir::OpKind::Linear: return input == 0;  // x
    case ir::OpKind::ConvGradInput:
    case ir::OpKind::LinearGradInput: return input == 0;  // dy
    case ir::OpKind::ConvGradWeight:
    case ir::OpKind::LinearGradWeight: return input == 0 || input == 1;  // dy, x
    default: return false;
  }
}

// A reader that widens bfloat16 exactly to float32 at its loads: the fused programs and the
// channel reductions (both backends' renderers).
bool widening_reader(const Kernel& k) { return k.kind == ir::OpKind::Fused || channel_reduction(k.kind); }

}  // namespace

// A buffer qualifies when it is an F32 activation of the arena, neither a view nor viewed (a
// view's offset counts float32 elements), not the loss or the logits (the host reads them), its
// writer elementwise, one reader a bf16 contraction taking it as the activation operand (which
// rounds it to the same bf16 anyway, so the contraction sees what it saw before) and every
// other reader widening. Gradients the updates read and statistics the collectives sum have
// other readers or writers, so none of them qualifies.
void store_activations_in_bf16(KernelPlan& p, const PlanOptions& options) {
  if (options.precision != Precision::Bf16 || !options.bf16_activations) return;
  const size_t n = p.buffers.size();
  std::vector<int> writer(n, -1);
  std::vector<bool> viewed(n), rounding_reader(n), other_reader(n);
  for (const Buffer& b : p.buffers)
    if (b.view_of >= 0) viewed[static_cast<size_t>(b.view_of)] = true;
  for (size_t k = 0; k < p.kernels.size(); ++k) {
    const Kernel& kernel = p.kernels[k];
    if (kernel.output >= 0) writer[static_cast<size_t>(kernel.output)] = static_cast<int>(k);
    for (size_t i = 0; i < kernel.inputs.size(); ++i) {
      const auto in = static_cast<size_t>(kernel.inputs[i]);
      if (bf16_activation_operand(kernel, i))
        rounding_reader[in] = true;
      else if (!widening_reader(kernel))
        other_reader[in] = true;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    Buffer& b = p.buffers[i];
    const bool read_by_host = static_cast<int>(i) == p.loss || static_cast<int>(i) == p.logits;
    if (b.storage != Storage::Arena || b.dtype != ir::DType::F32 || b.role != ir::ValueRole::Activation ||
        b.view_of >= 0 || viewed[i] || read_by_host || writer[i] < 0 || !rounding_reader[i] || other_reader[i] ||
        !elementwise_writer(p, p.kernels[static_cast<size_t>(writer[i])]))
      continue;
    b.dtype = ir::DType::BF16;
    b.bytes = ir::numel(b.shape) * ir::dtype_bytes(b.dtype);
  }
}

}  // namespace resnetc::plan
