#include "compiler/ir/builder.h"

namespace resnetc::ir {

GraphBuilder::GraphBuilder(std::string graph_name, Dims input_shape) {
  graph_.name = std::move(graph_name);
  graph_.input = new_value("input", std::move(input_shape), ValueRole::Input, -1);
}

ValueId GraphBuilder::new_value(std::string name, Dims shape, ValueRole role, OpId producer) {
  graph_.values.push_back({std::move(name), std::move(shape), role, producer});
  return static_cast<ValueId>(graph_.values.size() - 1);
}

ValueId GraphBuilder::add(OpKind kind, std::string name, std::vector<ValueId> data_inputs, const Attrs& attrs,
                          SourceLoc loc) {
  std::vector<Dims> data_shapes;
  for (ValueId id : data_inputs) data_shapes.push_back(graph_.shape(id));
  ShapeResult result = infer_shape(kind, data_shapes, attrs);
  if (!result.ok()) throw CompileError(CompileError::Phase::Graph, std::move(loc), result.error);

  Op op{kind, std::move(name), std::move(data_inputs), kNoValue, attrs, std::move(loc)};
  for (ParamSpec& p : param_specs(kind, data_shapes[0], attrs))
    op.inputs.push_back(new_value(op.name + "." + p.suffix, std::move(p.shape), p.role, -1));
  return append(std::move(op), result);
}

ValueId GraphBuilder::add_value(std::string name, Dims shape, ValueRole role, DType dtype) {
  ValueId id = new_value(std::move(name), std::move(shape), role, -1);
  graph_.values.back().dtype = dtype;
  return id;
}

ValueId GraphBuilder::apply(OpKind kind, std::string name, std::vector<ValueId> inputs, const Attrs& attrs,
                            SourceLoc loc) {
  size_t data_count = data_input_count(kind, inputs.size());
  std::vector<Dims> data_shapes;
  for (size_t k = 0; k < inputs.size() && k < data_count; ++k) data_shapes.push_back(graph_.shape(inputs[k]));
  ShapeResult result = infer_shape(kind, data_shapes, attrs);
  if (!result.ok()) throw CompileError(CompileError::Phase::Graph, std::move(loc), result.error);
  return append(Op{kind, std::move(name), std::move(inputs), kNoValue, attrs, std::move(loc)}, result);
}

ValueId GraphBuilder::append(Op op, const ShapeResult& result) {
  const auto op_id = static_cast<OpId>(graph_.ops.size());
  if (!is_update(op.kind)) op.output = new_value(op.name, result.dims, ValueRole::Activation, op_id);
  graph_.ops.push_back(std::move(op));
  return graph_.ops.back().output;
}

Graph GraphBuilder::finish(ValueId output) && {
  graph_.output = output;
  return std::move(graph_);
}

}  // namespace resnetc::ir
