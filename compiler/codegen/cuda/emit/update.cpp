// The optimizer: PyTorch's SGD (dampening 0, no Nesterov, weight decay added to the gradient),
// in place, elementwise; the learning rate is read from its [1] buffer once per thread.
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"

namespace resnetc::codegen::cuda::detail {

void emit_update(Emitter& e) {
  const plan::Kernel& k = e.kernel();
  const ir::Attrs& a = k.attrs;
  using Mode = Elementwise::Mode;
  Elementwise w;
  w.total = ir::numel(e.in(0).shape);
  w.max_elements = w.total;
  Members m;
  if (a.weight_decay != 0) m.constant_f("WEIGHT_DECAY", a.weight_decay);
  const std::string decay = a.weight_decay != 0 ? " + WEIGHT_DECAY * p_v" : "";
  w.prologue = "const float rate = lr[0];\n";
  if (k.kind == ir::OpKind::SgdUpdate) {
    w.family = "sgd";
    w.comment = fmt::format("SGD: p -= lr * (g + {} * p)", a.weight_decay);
    w.streams = {{"p", Mode::InOut, e.in_index(0)}, {"g", Mode::In, e.in_index(1)}};
    w.code = "p_v -= rate * (g_v" + decay + ");";
  } else if (k.kind == ir::OpKind::SgdMomentumUpdate) {
    m.constant_f("MOMENTUM", a.momentum);
    w.family = "sgd_momentum";
    w.comment = fmt::format("SGD with momentum: v = {} * v + g + {} * p; p -= lr * v", a.momentum, a.weight_decay);
    w.streams = {{"p", Mode::InOut, e.in_index(0)}, {"g", Mode::In, e.in_index(1)}, {"v", Mode::InOut, e.in_index(3)}};
    w.code = "v_v = MOMENTUM * v_v + g_v" + decay + ";\np_v -= rate * v_v;";
  } else {
    throw std::invalid_argument("CUDA emitter: not an update: " + e.where());
  }
  w.extra = {{"lr", ParamType::In, e.in_index(2)}};
  w.members = m.str();
  emit_elementwise_kernel(e, w);
}

}  // namespace resnetc::codegen::cuda::detail
