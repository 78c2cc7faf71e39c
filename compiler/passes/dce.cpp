// Dead code elimination: an op is live when it is an update (it writes parameters or state) or
// when a live op or the graph's results (logits, loss) read its output.
#include "compiler/passes/graph_edit.h"
#include "compiler/passes/pass.h"

namespace resnetc::passes {

void eliminate_dead_code(ir::Graph& g) {
  std::vector<bool> live_value(g.values.size());
  auto mark = [&](ir::ValueId v) {
    if (v != ir::kNoValue) live_value[static_cast<size_t>(v)] = true;
  };
  mark(g.output);
  mark(g.loss);
  std::vector<bool> live_op(g.ops.size());
  for (size_t o = g.ops.size(); o-- > 0;) {
    const ir::Op& op = g.ops[o];
    live_op[o] = ir::is_update(op.kind) || live_value[static_cast<size_t>(op.output)];
    if (live_op[o])
      for (ir::ValueId in : op.inputs) mark(in);
  }
  Rewriter r(g);
  for (size_t o = 0; o < g.ops.size(); ++o)
    if (live_op[o]) r.keep(g.ops[o]);
  r.finish();
}

}  // namespace resnetc::passes
