#include "compiler/reference/run.h"

namespace resnetc::reference {

OpArgs::OpArgs(const ir::Op& op, const ir::Graph& graph, std::vector<ops::Buffer>& data)
    : attrs(op.attrs),
      out_shape(ir::is_update(op.kind) ? op.attrs.shape : graph.shape(op.output)),
      op_(op),
      graph_(graph),
      data_(data) {}

ops::TensorRef OpArgs::in(size_t i) const {
  const ir::ValueId id = op_.inputs[i];
  return ops::TensorRef{data_[static_cast<size_t>(id)], graph_.shape(id)};
}

ops::Buffer& OpArgs::mut(size_t i) const { return data_[static_cast<size_t>(op_.inputs[i])]; }

}  // namespace resnetc::reference
