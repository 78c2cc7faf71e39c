// Fully connected layers as GEMMs (see gemm.cpp); W is [OUT, IN]:
// - forward:      y[n, o] = sum_i x[n, i] W[o, i] + b[o]      M = NB,  N = OUT, K = IN
// - grad_input:   dx[n, i] = sum_o dy[n, o] W[o, i]           M = NB,  N = IN,  K = OUT
// - grad_weight:  dW[o, i] = sum_n dy[n, o] x[n, i]           M = OUT, N = IN,  K = NB
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"

namespace resnetc::codegen::cuda::detail {

void emit_linear(Emitter& e) {
  const plan::Kernel& k = e.kernel();
  GemmProblem p;
  p.tensor_cores = e.options().tensor_cores_linear;
  p.bf16 = k.operands == plan::Precision::Bf16;  // bf16 tensor cores, as autocast runs linear layers
  int64_t biggest = ir::numel(e.out().shape);
  for (size_t i = 0; i < k.inputs.size(); ++i) biggest = std::max(biggest, ir::numel(e.in(i).shape));
  p.max_elements = biggest;
  p.out_buffer = e.out_index();
  p.a_buffer = e.in_index(0);
  p.b_buffer = e.in_index(1);
  Members m;
  switch (k.kind) {
    case ir::OpKind::Linear: {
      const int64_t nb = e.in(0).shape[0], in = e.in(0).shape[1], out = e.in(1).shape[0];
      m.constant("NB", nb).constant("IN", in).constant("OUT", out);
      p.family = "fc_fwd";
      p.comment = fmt::format("fully connected forward, x [{}, {}] -> [{}, {}]", nb, in, nb, out);
      p.M = nb, p.N = out, p.K = in;
      p.a_name = std::string("x"), p.b_name = std::string("w");
      if (k.inputs.size() > 2) p.bias_buffer = e.in_index(2);
      p.load_a = "    return A[m * IN + k];\n";
      p.a_m_contiguous = false;
      p.load_b = "    return B[n * IN + k];\n";
      p.b_n_contiguous = false;
      p.out_index = "    return m * OUT + n;\n";
      p.out_m_contiguous = false;
      p.bias_index = "    return (int)n;\n";
      break;
    }
    case ir::OpKind::LinearGradInput: {
      const int64_t nb = e.in(0).shape[0], out = e.in(1).shape[0], in = e.in(1).shape[1];
      m.constant("NB", nb).constant("IN", in).constant("OUT", out);
      p.family = "fc_dgrad";
      p.comment = fmt::format("fully connected data gradient, dy [{}, {}] -> dx [{}, {}]", nb, out, nb, in);
      p.M = nb, p.N = in, p.K = out;
      p.a_name = std::string("dy"), p.b_name = std::string("w");
      p.load_a = "    return A[m * OUT + k];\n";
      p.a_m_contiguous = false;
      p.load_b = "    return B[k * IN + n];\n";
      p.b_n_contiguous = true;
      p.out_index = "    return m * IN + n;\n";
      p.out_m_contiguous = false;
      break;
    }
    case ir::OpKind::LinearGradWeight: {
      const int64_t nb = e.in(0).shape[0], out = e.in(0).shape[1], in = e.in(1).shape[1];
      m.constant("NB", nb).constant("IN", in).constant("OUT", out);
      p.family = "fc_wgrad";
      p.comment = fmt::format("fully connected weight gradient, dy [{}, {}], x [{}, {}] -> dW [{}, {}]", nb, out, nb,
                              in, out, in);
      p.M = out, p.N = in, p.K = nb;
      p.a_name = std::string("dy"), p.b_name = std::string("x");
      p.load_a = "    return A[k * OUT + m];\n";
      p.a_m_contiguous = true;
      p.load_b = "    return B[k * IN + n];\n";
      p.b_n_contiguous = true;
      p.out_index = "    return m * IN + n;\n";
      p.out_m_contiguous = false;
      break;
    }
    default:
      throw std::invalid_argument("CUDA emitter: not a fully connected op: " + e.where());
  }
  p.members = m.str();
  emit_gemm(e, p);
}

}  // namespace resnetc::codegen::cuda::detail
