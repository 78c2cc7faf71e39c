#include "export/onnx_model.h"

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>

#include "compiler/ir/maps.h"
#include "export/export_error.h"

namespace resnetc::exporter {
namespace {

std::string op_ref(const ir::Op& op) { return fmt::format("op '{}' ({})", op.name, ir::op_kind_name(op.kind)); }

[[noreturn]] void no_equivalent(const ir::Op& op, std::string_view why = "") {
  throw ExportError(fmt::format("{} has no ONNX equivalent{}{}", op_ref(op), why.empty() ? "" : ": ", why));
}

void set_ints(onnx::NodeProto& n, const char* name, std::initializer_list<int64_t> values) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void set_int(onnx::NodeProto& n, const char* name, int64_t value) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void set_float(onnx::NodeProto& n, const char* name, double value) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(value));
}

// A float tensor's type with its batch dimension free.
void set_type(onnx::ValueInfoProto& info, const std::string& name, const ir::Dims& dims) {
  info.set_name(name);
  onnx::TypeProto_Tensor* t = info.mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (size_t i = 0; i < dims.size(); ++i) {
    onnx::TensorShapeProto_Dimension* d = t->mutable_shape()->add_dim();
    if (i == 0) d->set_dim_param("N");
    else d->set_dim_value(dims[i]);
  }
}

// PyTorch's ceil_mode drops a last window that would start in the right padding; ONNX's keeps
// it. Which ceil_mode gives the graph's output size in ONNX's rule, on both axes (none: -1).
int64_t onnx_ceil_mode(const ir::Graph& g, const ir::Op& op) {
  const ir::Dims& x = g.shape(op.inputs[0]);
  const ir::Dims& y = g.shape(op.output);
  bool floor_fits = true, ceil_fits = true;
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t span = x[2 + axis] + 2 * op.attrs.padding[axis] - op.attrs.kernel[axis];
    const int64_t s = op.attrs.stride[axis];
    floor_fits = floor_fits && y[2 + axis] == span / s + 1;
    ceil_fits = ceil_fits && y[2 + axis] == (span + s - 1) / s + 1;
  }
  return floor_fits ? 0 : ceil_fits ? 1 : -1;
}

class Lowering {
 public:
  Lowering(const InferenceGraph& net, onnx::GraphProto& out)
      : net_(net), g_(net.graph), out_(out), names_(g_.values.size()) {}

  void run() {
    if (g_.input == ir::kNoValue || g_.output == ir::kNoValue || g_.output == g_.input ||
        g_.value(g_.output).role != ir::ValueRole::Activation)
      throw ExportError(fmt::format("network '{}' computes nothing from its input: there is no model to export",
                                    g_.name));
    names_[static_cast<size_t>(g_.input)] = claim(kInputName);
    names_[static_cast<size_t>(g_.output)] = claim(kOutputName);
    set_type(*out_.add_input(), kInputName, g_.shape(g_.input));
    for (size_t o = 0; o < g_.ops.size(); ++o)
      if (net_.runs[o]) lower(g_.ops[o]);
    set_type(*out_.add_output(), kOutputName, g_.shape(g_.output));
  }

 private:
  // `want`, or `want` with the first free suffix ".1", ".2", ...
  std::string claim(const std::string& want) {
    std::string name = want;
    for (int i = 1; !taken_.insert(name).second; ++i) name = fmt::format("{}.{}", want, i);
    return name;
  }

  // The ONNX name of a value an op reads: an activation's, or an initializer made on first use.
  const std::string& in(ir::ValueId v) {
    std::string& name = names_[static_cast<size_t>(v)];
    if (!name.empty()) return name;
    const auto it = net_.constants.find(v);
    if (it == net_.constants.end())
      throw std::logic_error("onnx export: value '" + g_.value(v).name + "' is read before it is computed");
    name = claim(g_.value(v).name);
    add_floats(name, g_.shape(v), it->second);
    return name;
  }

  // The ONNX name of an op's output, with its type declared so that the checker's shape
  // inference must agree with ours.
  const std::string& out(const ir::Op& op) {
    std::string& name = names_[static_cast<size_t>(op.output)];
    if (name.empty()) {
      name = claim(g_.value(op.output).name);
      set_type(*out_.add_value_info(), name, g_.shape(op.output));
    }
    return name;
  }

  void add_floats(const std::string& name, const ir::Dims& dims, const std::vector<float>& values) {
    onnx::TensorProto* t = out_.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(values.data(), values.size() * sizeof(float));  // little-endian, as ONNX's raw_data
  }

  std::string add_ints(const std::string& want, const std::vector<int64_t>& values) {
    const std::string name = claim(want);
    onnx::TensorProto* t = out_.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
    return name;
  }

  onnx::NodeProto& node(const char* type, const std::string& name, std::initializer_list<std::string> inputs,
                        const std::string& output) {
    onnx::NodeProto* n = out_.add_node();
    n->set_op_type(type);
    n->set_name(name);
    for (const std::string& i : inputs) n->add_input(i);
    n->add_output(output);
    return *n;
  }

  // A one-node op: the kind's ONNX operator over the op's data input(s) and its parameters.
  onnx::NodeProto& same(const char* type, const ir::Op& op) {
    onnx::NodeProto& n = node(type, op.name, {}, out(op));
    for (ir::ValueId v : op.inputs) n.add_input(in(v));
    return n;
  }

  // An intermediate value of a several-node op, named after the op; of the op's output shape
  // unless `dims` says otherwise.
  std::string temporary(const ir::Op& op, const char* suffix, const ir::Dims* dims = nullptr) {
    const std::string name = claim(op.name + suffix);
    set_type(*out_.add_value_info(), name, dims != nullptr ? *dims : g_.shape(op.output));
    return name;
  }

  void lower(const ir::Op& op) {
    const ir::Attrs& a = op.attrs;
    switch (op.kind) {
      case ir::OpKind::Conv2d: {
        onnx::NodeProto& n = same("Conv", op);
        set_ints(n, "kernel_shape", {a.kernel[0], a.kernel[1]});
        set_ints(n, "strides", {a.stride[0], a.stride[1]});
        set_ints(n, "pads", {a.padding[0], a.padding[1], a.padding[0], a.padding[1]});
        set_ints(n, "dilations", {a.dilation[0], a.dilation[1]});
        set_int(n, "group", a.groups);
        return;
      }
      case ir::OpKind::BatchNorm: return batchnorm(op);
      case ir::OpKind::Relu: same("Relu", op); return;
      case ir::OpKind::Add: same("Add", op); return;
      case ir::OpKind::Sigmoid: same("Sigmoid", op); return;
      // x * relu6(x + 3) / 6: ONNX's HardSwish, x * max(0, min(1, x / 6 + 1/2)) (opset 14)
      case ir::OpKind::Hardswish: same("HardSwish", op); return;
      case ir::OpKind::LeakyRelu:
        set_float(same("LeakyRelu", op), "alpha", ir::map_attribute(*ir::map_kind(op.kind), a, 0));  // the slope
        return;
      case ir::OpKind::ChannelMul: same("Mul", op); return;  // the gate [N, C, 1, 1] broadcasts
      case ir::OpKind::Silu: {  // x * sigmoid(x): ONNX has no SiLU operator
        const std::string x = in(op.inputs[0]), s = temporary(op, ".sigmoid");
        node("Sigmoid", op.name + ".sigmoid", {x}, s);
        node("Mul", op.name, {x, s}, out(op));
        return;
      }
      case ir::OpKind::MaxPool:
      case ir::OpKind::AvgPool: return pool(op);
      case ir::OpKind::GlobalAvgPool: same("GlobalAveragePool", op); return;
      case ir::OpKind::GlobalMaxPool: same("GlobalMaxPool", op); return;
      case ir::OpKind::Flatten: set_int(same("Flatten", op), "axis", 1); return;
      case ir::OpKind::Linear: set_int(same("Gemm", op), "transB", 1); return;  // weight [out, in]
      case ir::OpKind::PadShortcut: return pad_shortcut(op);
      case ir::OpKind::Dropout:
      case ir::OpKind::DropPath: same("Identity", op); return;  // the identity in evaluation
      default: no_equivalent(op);  // training, backward and the passes' ops: no inference meaning
    }
  }

  // (x - mean) / sqrt(var + eps) * gamma + beta as x * scale + shift, per channel: a BatchNorm
  // the fold pass left (its input is not a convolution's, as in pre-activation blocks).
  void batchnorm(const ir::Op& op) {
    const ir::Dims& x = g_.shape(op.inputs[0]);
    const std::vector<float>& gamma = net_.constants.at(op.inputs[1]);
    const std::vector<float>& beta = net_.constants.at(op.inputs[2]);
    const std::vector<float>& mean = net_.constants.at(op.inputs[3]);
    const std::vector<float>& var = net_.constants.at(op.inputs[4]);
    std::vector<float> scale(gamma.size()), shift(gamma.size());
    for (size_t c = 0; c < gamma.size(); ++c) {
      const double s = gamma[c] / std::sqrt(static_cast<double>(var[c]) + op.attrs.eps);
      scale[c] = static_cast<float>(s);
      shift[c] = static_cast<float>(beta[c] - mean[c] * s);
    }
    ir::Dims per_channel(x.size() - 1, 1);  // [C, 1, 1]: broadcasts over [N, C, H, W]
    per_channel[0] = x[1];
    const std::string scale_name = claim(op.name + ".scale"), shift_name = claim(op.name + ".shift");
    add_floats(scale_name, per_channel, scale);
    add_floats(shift_name, per_channel, shift);
    const std::string scaled = temporary(op, ".scaled");
    node("Mul", op.name + ".scale", {in(op.inputs[0]), scale_name}, scaled);
    node("Add", op.name, {scaled, shift_name}, out(op));
  }

  void pool(const ir::Op& op) {
    const ir::Attrs& a = op.attrs;
    const int64_t ceil_mode = a.ceil_mode ? onnx_ceil_mode(g_, op) : 0;
    if (ceil_mode < 0)
      no_equivalent(op, "its ceil_mode keeps a last window past the input on one axis and drops one that would start "
                        "in the padding on the other; ONNX's ceil_mode keeps both or neither");
    const bool average = op.kind == ir::OpKind::AvgPool;
    onnx::NodeProto& n = same(average ? "AveragePool" : "MaxPool", op);
    set_ints(n, "kernel_shape", {a.kernel[0], a.kernel[1]});
    set_ints(n, "strides", {a.stride[0], a.stride[1]});
    set_ints(n, "pads", {a.padding[0], a.padding[1], a.padding[0], a.padding[1]});
    set_int(n, "ceil_mode", ceil_mode);
    if (average) set_int(n, "count_include_pad", a.count_include_pad ? 1 : 0);
  }

  // x[:, :, ::s, ::s] (Slice) with zero channels appended (Pad): the option-A shortcut.
  void pad_shortcut(const ir::Op& op) {
    const int64_t s = op.attrs.stride[0];
    const int64_t extra = op.attrs.out_channels - g_.shape(op.inputs[0])[1];
    std::string x = in(op.inputs[0]);
    if (s == 1 && extra == 0) {
      node("Identity", op.name, {x}, out(op));
      return;
    }
    if (s != 1) {
      ir::Dims strided = g_.shape(op.output);
      strided[1] = g_.shape(op.inputs[0])[1];
      const std::string sliced = extra == 0 ? out(op) : temporary(op, ".strided", &strided);
      const int64_t end = std::numeric_limits<int64_t>::max();
      node("Slice", extra == 0 ? op.name : op.name + ".strided",
           {x, add_ints(op.name + ".starts", {0, 0}), add_ints(op.name + ".ends", {end, end}),
            add_ints(op.name + ".axes", {2, 3}), add_ints(op.name + ".steps", {s, s})},
           sliced);
      x = sliced;
    }
    if (extra != 0) node("Pad", op.name, {x, add_ints(op.name + ".pads", {0, 0, 0, 0, 0, extra, 0, 0})}, out(op));
  }

  const InferenceGraph& net_;
  const ir::Graph& g_;
  onnx::GraphProto& out_;
  std::vector<std::string> names_;  // per value: its name in the model, once it has one
  std::set<std::string> taken_;
};

}  // namespace

std::string onnx_model(const InferenceGraph& net, const ModelInfo& info) {
  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("resnetc");
  model.set_producer_version(info.producer_version);
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  for (const auto& [key, value] : info.metadata) {
    onnx::StringStringEntryProto* p = model.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }
  onnx::GraphProto& graph = *model.mutable_graph();
  graph.set_name(net.graph.name);
  Lowering(net, graph).run();

  // What Python's onnx.checker.check_model(full_check=True) does: the checks, then strict shape
  // inference, which must agree with every shape the value_info declares (ours).
  try {
    onnx::checker::check_model(model);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw ExportError(fmt::format("the ONNX checker refuses the exported model: {}", e.what()));
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    throw ExportError("the model does not serialize (protobuf refuses a message of 2 GiB or more)");
  return bytes;
}

}  // namespace resnetc::exporter
