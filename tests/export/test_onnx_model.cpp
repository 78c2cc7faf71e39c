// The exporter below the command line: what the ONNX model holds (nodes, folded constants, names,
// the free batch dimension), and what it refuses. ONNX Runtime's numbers are test_onnx_export.py's.
#include <onnx/onnx_pb.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>

#include "compiler/passes/pass.h"
#include "export/export_error.h"
#include "export/inference_graph.h"
#include "export/onnx_model.h"
#include "tests/tiny_network.h"

namespace resnetc {
namespace {

ir::Graph forward(const char* text) {
  dsl::SourceManager sources;
  return dsl::compile_source(sources, "t.net", text, {std::nullopt, 1}).graph;
}

// Every parameter and state of `g`, each element a distinct value (variances above 0).
exporter::Weights weights_of(const ir::Graph& g) {
  exporter::Weights w;
  int k = 0;
  for (const ir::Value& v : g.values) {
    if (v.role != ir::ValueRole::Parameter && v.role != ir::ValueRole::State) continue;
    std::vector<float>& t = w[v.name];
    for (int64_t i = 0; i < ir::numel(v.shape); ++i, ++k)
      t.push_back(v.name.ends_with(".running_var") ? 0.5f + 0.01f * static_cast<float>(k % 37)
                                                   : 0.1f * std::sin(0.7f * static_cast<float>(k)));
  }
  return w;
}

onnx::ModelProto exported(const ir::Graph& g, const exporter::Weights& w) {
  onnx::ModelProto model;
  REQUIRE(model.ParseFromString(exporter::onnx_model(exporter::fold_for_inference(g, w), {"test", {{"k", "v"}}})));
  return model;
}

const onnx::TensorProto* initializer(const onnx::ModelProto& m, const std::string& name) {
  for (const onnx::TensorProto& t : m.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

std::vector<float> floats(const onnx::TensorProto& t) {
  std::vector<float> out(t.raw_data().size() / sizeof(float));
  std::memcpy(out.data(), t.raw_data().data(), t.raw_data().size());
  return out;
}

std::multiset<std::string> op_types(const onnx::ModelProto& m) {
  std::multiset<std::string> types;
  for (const onnx::NodeProto& n : m.graph().node()) types.insert(n.op_type());
  return types;
}

TEST_CASE("a network exports with BatchNorm folded, a free batch dimension and its metadata") {
  const ir::Graph g = forward(testing::kTinyNetwork);
  const onnx::ModelProto m = exported(g, weights_of(g));
  CHECK(m.opset_import(0).version() == exporter::kOpset);
  CHECK(m.metadata_props(0).key() == "k");
  const onnx::GraphProto& graph = m.graph();
  REQUIRE(graph.input_size() == 1);
  REQUIRE(graph.output_size() == 1);
  CHECK(graph.input(0).name() == "input");
  CHECK(graph.output(0).name() == "logits");
  CHECK(graph.input(0).type().tensor_type().shape().dim(0).dim_param() == "N");
  CHECK(graph.input(0).type().tensor_type().shape().dim(1).dim_value() == 2);
  CHECK(graph.output(0).type().tensor_type().shape().dim(1).dim_value() == 4);

  const std::multiset<std::string> types = op_types(m);
  CHECK(types.count("BatchNormalization") == 0);
  int64_t convs = 0;
  for (const ir::Op& op : g.ops) convs += op.kind == ir::OpKind::Conv2d;
  CHECK(static_cast<int64_t>(types.count("Conv")) == convs);
  // The pre-activation block's BatchNorm reads the stage before it, no conv: it stays, as x * scale + shift.
  CHECK(types.count("Mul") == 1);
  CHECK(types.count("MaxPool") == 1);
  CHECK(types.count("Gemm") == 1);
}

TEST_CASE("the folded weights are the convolution's scaled by its BatchNorm, computed in double") {
  const ir::Graph g = forward(testing::kTinyNetwork);
  const exporter::Weights w = weights_of(g);
  const onnx::ModelProto m = exported(g, w);
  const onnx::TensorProto* folded = initializer(m, "stem.conv.folded_weight.view");
  REQUIRE(folded != nullptr);
  const std::vector<float> got = floats(*folded);
  const std::vector<float>& conv = w.at("stem.conv.weight");
  const std::vector<float>& gamma = w.at("stem.bn.weight");
  const std::vector<float>& var = w.at("stem.bn.running_var");
  REQUIRE(got.size() == conv.size());
  const size_t per_channel = conv.size() / gamma.size();  // [5, 2, 3, 3]: 18 per output channel
  for (size_t i = 0; i < conv.size(); ++i) {
    const size_t c = i / per_channel;
    const double expected = conv[i] * (gamma[c] / std::sqrt(static_cast<double>(var[c]) + 1e-5));
    CHECK(got[i] == Approx(expected).epsilon(1e-6).margin(1e-9));
  }
  const onnx::TensorProto* bias = initializer(m, "stem.conv.folded_bias.view");
  REQUIRE(bias != nullptr);
  const std::vector<float>& beta = w.at("stem.bn.bias");
  const std::vector<float>& mean = w.at("stem.bn.running_mean");
  const std::vector<float> b = floats(*bias);
  for (size_t c = 0; c < gamma.size(); ++c)
    CHECK(b[c] == Approx(beta[c] - mean[c] * gamma[c] / std::sqrt(static_cast<double>(var[c]) + 1e-5)).margin(1e-7));
  // Folded away: the BatchNorm's own tensors are not in the model.
  CHECK(initializer(m, "stem.bn.weight") == nullptr);
}

TEST_CASE("option-A shortcuts, dropout and SiLU become Slice, Pad, Identity, Sigmoid and Mul") {
  const ir::Graph dropout = forward(testing::kTinyDropoutNetwork);
  const std::multiset<std::string> a = op_types(exported(dropout, weights_of(dropout)));
  CHECK(a.count("Slice") == 1);
  CHECK(a.count("Pad") == 1);
  CHECK(a.count("Identity") == 5);  // each block's dropout and drop-path, and the head's dropout
  const ir::Graph se = forward(testing::kTinySeNetwork);
  const std::multiset<std::string> b = op_types(exported(se, weights_of(se)));
  CHECK(b.count("Sigmoid") == 3);  // two SiLUs and the gate's
  CHECK(b.count("Mul") == 3);      // two SiLUs and the channel scaling
  CHECK(b.count("GlobalAveragePool") == 2);
}

TEST_CASE("an op with no ONNX equivalent is refused by name") {
  // Past lower_maps the relus are fused programs, which ONNX has no operator for.
  ir::Graph g = forward(testing::kTinyNetwork);
  const exporter::Weights w = weights_of(g);
  passes::lower_maps(g);
  const exporter::InferenceGraph folded = exporter::fold_for_inference(g, w);
  CHECK_THROWS_AS(exporter::onnx_model(folded, {}), exporter::ExportError);
  CHECK_THROWS_WITH(exporter::onnx_model(folded, {}), "op 'stem.relu' (fused) has no ONNX equivalent");
}

TEST_CASE("a ceil_mode pool ONNX cannot size is refused by name") {
  // Rows: 4 with a window of 2 every 3 keeps a second window (rows 3 and the one past the input);
  // columns: 3 drops it, since it would start past the input. ONNX's ceil_mode keeps both.
  const ir::Graph g = forward(R"(
network odd_pool {
  input 1x4x3
  stem { maxpool k2 s3 ceil_mode }
  head { flatten; fc 2 }
})");
  const exporter::InferenceGraph folded = exporter::fold_for_inference(g, weights_of(g));
  CHECK_THROWS_WITH(exporter::onnx_model(folded, {}),
                    Catch::StartsWith("op 'stem.maxpool' (maxpool) has no ONNX equivalent: its ceil_mode keeps"));
}

TEST_CASE("weights that do not fit the network are refused, naming the tensor") {
  const ir::Graph g = forward(testing::kTinyNetwork);
  exporter::Weights w = weights_of(g);
  w.erase("stem.conv.weight");
  CHECK_THROWS_AS(exporter::fold_for_inference(g, w), exporter::ExportError);
  CHECK_THROWS_WITH(exporter::fold_for_inference(g, w), "no values for the network's tensor 'stem.conv.weight'");
  w = weights_of(g);
  w["head.fc.bias"].pop_back();
  CHECK_THROWS_WITH(exporter::fold_for_inference(g, w), "tensor 'head.fc.bias' has 3 values, the network's [4] needs 4");
}

}  // namespace
}  // namespace resnetc
