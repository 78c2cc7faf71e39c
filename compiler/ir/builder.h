#pragma once
// Builds a graph op by op, inferring each output shape as it goes, so a shape error is
// reported at the op (and source line) that caused it.
#include <string>
#include <vector>

#include "compiler/ir/compile_error.h"
#include "compiler/ir/graph.h"
#include "compiler/ir/shape_inference.h"

namespace resnetc::ir {

class GraphBuilder {
 public:
  GraphBuilder(std::string graph_name, Dims input_shape);

  ValueId input() const { return graph_.input; }
  const Dims& shape(ValueId id) const { return graph_.shape(id); }
  const Graph& graph() const { return graph_; }

  // Appends an op named `name`, creating its parameters ("<name>.weight", ...).
  // Throws CompileError (Phase::Graph, located at `loc`) when the inputs do not fit the op.
  ValueId add(OpKind kind, std::string name, std::vector<ValueId> data_inputs, const Attrs& attrs, SourceLoc loc);

  // A value no op produces: a parameter, a state, or another graph input.
  ValueId add_value(std::string name, Dims shape, ValueRole role, DType dtype = DType::F32);

  // Appends an op over explicit inputs (parameters included, none created); returns its
  // output, or kNoValue for an update. Throws CompileError like add().
  ValueId apply(OpKind kind, std::string name, std::vector<ValueId> inputs, const Attrs& attrs, SourceLoc loc);

  Graph finish(ValueId output) &&;

 private:
  ValueId new_value(std::string name, Dims shape, ValueRole role, OpId producer);
  ValueId append(Op op, const ShapeResult& result);
  Graph graph_;
};

}  // namespace resnetc::ir
