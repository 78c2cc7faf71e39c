#include <catch2/catch.hpp>

#include <algorithm>

#include "compiler/analysis/layer_table.h"
#include "compiler/autodiff/training_graph.h"
#include "dsl/frontend.h"
#include "tools/resnetc/table_report.h"

using namespace resnetc;

namespace {

analysis::LayerTable table_of(const std::string& example, dsl::LowerOptions options = {}, int depth = 0) {
  dsl::SourceManager sources;
  auto net = dsl::compile_file(sources, std::string(RESNETC_SOURCE_DIR) + "/examples/" + example, options);
  return analysis::layer_table(net.graph, depth);
}

}  // namespace

// PyTorch's own counts (sum of p.numel() over parameters; MACs of convs and linears).
TEST_CASE("torchvision ResNets: parameters and MACs equal PyTorch's at 3x224x224") {
  struct Case {
    const char* file;
    int64_t params, macs;
  };
  for (Case c : {Case{"resnet18.net", 11'689'512, 1'814'073'344}, Case{"resnet34.net", 21'797'672, 3'663'761'408},
                 Case{"resnet50.net", 25'557'032, 4'089'184'256}, Case{"resnet101.net", 44'549'160, 7'801'405'440},
                 Case{"resnet152.net", 60'192'808, 11'513'626'624}}) {
    INFO(c.file);
    auto t = table_of(c.file);
    CHECK(t.total_params == c.params);
    CHECK(t.total_macs == c.macs);
    CHECK(t.rows.back().shape == ir::Dims{1, 1000});
  }
}

TEST_CASE("the seed's ResNet-18 reproduces the book's shape table at 1x224x224") {
  auto t = table_of("d2l-resnet18.net", {std::array<int64_t, 3>{1, 224, 224}, 1}, 1);
  REQUIRE(t.rows.size() == 6);
  CHECK(t.rows[0].name == "stem");
  CHECK(t.rows[0].shape == ir::Dims{1, 64, 56, 56});
  CHECK(t.rows[1].shape == ir::Dims{1, 64, 56, 56});
  CHECK(t.rows[2].shape == ir::Dims{1, 128, 28, 28});
  CHECK(t.rows[3].shape == ir::Dims{1, 256, 14, 14});
  CHECK(t.rows[4].shape == ir::Dims{1, 512, 7, 7});
  CHECK(t.rows[5].shape == ir::Dims{1, 10});
  CHECK(t.total_params == 11'178'378);
  CHECK(t.total_macs == 1'734'890'496);
}

TEST_CASE("the seed's ResNet-18 at its own 1x96x96 input") {
  auto t = table_of("d2l-resnet18.net");
  CHECK(t.input == ir::Dims{1, 1, 96, 96});
  CHECK(t.total_macs == 318'657'536);
  CHECK(t.total_params == 11'178'378);
}

TEST_CASE("folding by depth keeps the totals and names groups by their kind") {
  auto all = table_of("resnet50.net");
  auto blocks = table_of("resnet50.net", {}, 2);
  CHECK(blocks.rows.size() == 4 + 16 + 3);  // stem layers stay (depth 2), 16 blocks, head layers
  CHECK(blocks.rows[4].name == "stage1.block0");
  CHECK(blocks.rows[4].op == "block");
  int64_t params = 0, macs = 0;
  for (const auto& r : blocks.rows) params += r.params, macs += r.macs;
  CHECK(params == all.total_params);
  CHECK(macs == all.total_macs);
}

TEST_CASE("batch scales activations and MACs, not parameters") {
  auto one = table_of("resnet18.net");
  auto eight = table_of("resnet18.net", {std::nullopt, 8});
  CHECK(eight.total_macs == 8 * one.total_macs);
  CHECK(eight.activation_bytes == 8 * one.activation_bytes);
  CHECK(eight.total_params == one.total_params);
  CHECK(eight.rows.back().shape == ir::Dims{8, 1000});
}

TEST_CASE("memory figures: float32 parameters with BN statistics; activations and gradients") {
  auto t = table_of("resnet18.net");
  // 11,689,512 parameters + 2 running statistics per BN channel (4,800 channels in all).
  CHECK(t.param_bytes == (11'689'512 + 2 * 4'800) * 4);
  CHECK(t.activation_bytes > 0);
  CHECK(t.activation_bytes % 8 == 0);
}

TEST_CASE("the JSON report holds every layer with name, op, shape, params and macs") {
  auto t = table_of("resnet18.net");
  std::string json = cli::format_table_json(t, {3000, 5000, 2});
  CHECK(json.find("{\"name\": \"stem.conv\", \"op\": \"conv2d\", \"shape\": [1, 64, 112, 112], \"params\": 9408, "
                  "\"macs\": 118013952}") != std::string::npos);
  CHECK(json.find("\"total_params\": 11689512") != std::string::npos);
  CHECK(json.find("\"total_macs\": 1814073344") != std::string::npos);
  CHECK(json.find("\"planned_training_bytes\": 3000, \"unplanned_training_bytes\": 5000}") != std::string::npos);
}

TEST_CASE("the text report aligns columns and groups digits") {
  auto t = table_of("resnet18.net", {}, 1);
  std::string text = cli::format_table_text(t, {3 << 20, 5 << 20, 1});
  CHECK(text.find("Total params:       11,689,512") != std::string::npos);
  CHECK(text.find("Total MACs:         1,814,073,344 (1.81 G)") != std::string::npos);
  CHECK(text.find("stage4  stage  [1, 512, 7, 7]") != std::string::npos);
  CHECK(text.find("Training memory:    3.00 MiB planned at -O1, 5.00 MiB unplanned") != std::string::npos);
}

TEST_CASE("a network without a training step: the report has its table and says why, text and JSON") {
  dsl::SourceManager sources;
  auto net = dsl::compile_source(sources, "h.net", "network pooled {\n input 1x8x8\n stem { conv 4 k3 p1 }\n head { avgpool }\n}",
                                 {});
  const auto why = autodiff::why_untrainable(net.graph);
  REQUIRE(why);
  const analysis::LayerTable t = analysis::layer_table(net.graph, 0);
  const cli::TrainingMemory none{.opt_level = 2, .none_because = why->reason};

  const std::string text = cli::format_table_text(t, none);
  CHECK(text.find("head.avgpool  global_avgpool  [1, 4, 1, 1]") != std::string::npos);
  CHECK(text.find("Total params:       36\n") != std::string::npos);
  CHECK(text.find("Training memory:    none: a training step needs a classifier, logits of shape [N, classes] for "
                  "its softmax cross-entropy loss, but the network's output is [1, 4, 1, 1]; ") != std::string::npos);
  CHECK(text.find("planned") == std::string::npos);

  const std::string json = cli::format_table_json(t, none);
  CHECK(json.find("\"planned_training_bytes\": null, \"unplanned_training_bytes\": null, \"training_note\": \"a "
                  "training step needs a classifier") != std::string::npos);
  CHECK(json.find("'head { avgpool; fc 10 }'\"}\n") != std::string::npos);
}

TEST_CASE("SE-ResNet-50: PyTorch's parameters and MACs; the SE module's rows after the last BatchNorm") {
  auto t = table_of("se-resnet50.net");
  CHECK(t.total_params == 28'088'024);
  CHECK(t.total_macs == 4'091'699'200);
  auto row = [&](const std::string& name) {
    auto it = std::find_if(t.rows.begin(), t.rows.end(), [&](const auto& r) { return r.name == name; });
    REQUIRE(it != t.rows.end());
    return *it;
  };
  CHECK(row("stage1.block0.se.avgpool").shape == ir::Dims{1, 256, 1, 1});
  CHECK(row("stage1.block0.se.conv1").shape == ir::Dims{1, 16, 1, 1});
  CHECK(row("stage1.block0.se.conv1").params == 256 * 16 + 16);
  CHECK(row("stage1.block0.se.conv2").params == 16 * 256 + 256);
  CHECK(row("stage1.block0.se.sigmoid").op == "sigmoid");
  CHECK(row("stage1.block0.se").op == "channel_mul");
  CHECK(row("stage1.block0.se").shape == ir::Dims{1, 256, 56, 56});
  CHECK(row("stage4.block2.se.conv1").shape == ir::Dims{1, 128, 1, 1});
  // The SE module sits after bn3 and before the add, in every one of the 16 blocks.
  size_t gates = 0;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    if (t.rows[i].op != "channel_mul") continue;
    ++gates;
    REQUIRE(i >= 6);
    CHECK(t.rows[i - 6].name.ends_with(".bn3"));  // then the module's avgpool, conv1, relu, conv2, sigmoid
    size_t next = i + 1;
    while (t.rows[next].name.find(".shortcut.") != std::string::npos) ++next;  // a projection's conv, bn
    CHECK(t.rows[next].name.ends_with(".add"));
  }
  CHECK(gates == 16);
}
