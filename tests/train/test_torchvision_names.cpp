#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "compiler/ir/compile_error.h"
#include "dsl/frontend.h"
#include "train/torchvision_names.h"

using namespace resnetc;

namespace {

const std::string kFixtures = std::string(RESNETC_SOURCE_DIR) + "/tests/train/torchvision/";

ir::Graph example(const std::string& name) {
  dsl::SourceManager sources;
  return dsl::compile_file(sources, std::string(RESNETC_SOURCE_DIR) + "/examples/" + name + ".net", {}).graph;
}

// torchvision's state_dict() keys, as make_fixtures.py saved them.
std::vector<std::string> keys(const std::string& model) {
  std::ifstream in(kFixtures + model + ".keys");
  REQUIRE(in);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> torchvision_keys(const train::TorchvisionNames& names) {
  std::vector<std::string> out;
  for (const train::TorchvisionEntry& e : names.entries()) out.push_back(e.torchvision);
  return out;
}

// Every parameter and running statistic has a torchvision name that leads back to it, and
// only the BatchNorm counters have no resnetc name.
void check_both_ways(const ir::Graph& g, const train::TorchvisionNames& names) {
  size_t tensors = 0;
  for (const ir::Value& v : g.values) {
    if (v.role != ir::ValueRole::Parameter && v.role != ir::ValueRole::State) continue;
    INFO(v.name);
    ++tensors;
    const auto torchvision = names.to_torchvision(v.name);
    REQUIRE(torchvision);
    CHECK(names.to_resnetc(*torchvision) == v.name);
  }
  size_t counters = 0;
  for (const train::TorchvisionEntry& e : names.entries()) {
    INFO(e.torchvision);
    CHECK(e.resnetc.empty() == train::TorchvisionNames::is_batch_counter(e.torchvision));
    if (e.resnetc.empty()) {
      ++counters;
      CHECK_FALSE(names.to_resnetc(e.torchvision));
    }
  }
  CHECK(names.entries().size() == tensors + counters);
}

std::string refusal(const std::string& name) {
  const ir::Graph g = example(name);
  try {
    train::TorchvisionNames names(g);
  } catch (const ir::CompileError& e) {
    CHECK(e.diagnostic.loc.valid());
    return e.diagnostic.message;
  }
  return "accepted";
}

}  // namespace

TEST_CASE("resnet18.net's tensors have the names of torchvision's resnet18().state_dict(), in its order") {
  const ir::Graph g = example("resnet18");
  const train::TorchvisionNames names(g);
  CHECK(torchvision_keys(names) == keys("resnet18"));
  check_both_ways(g, names);
  CHECK(names.to_torchvision("stem.conv.weight") == "conv1.weight");
  CHECK(names.to_torchvision("stem.bn.running_mean") == "bn1.running_mean");
  CHECK(names.to_torchvision("stage1.block1.conv2.weight") == "layer1.1.conv2.weight");
  CHECK(names.to_torchvision("stage2.block0.shortcut.conv.weight") == "layer2.0.downsample.0.weight");
  CHECK(names.to_torchvision("stage4.block0.shortcut.bn.running_var") == "layer4.0.downsample.1.running_var");
  CHECK(names.to_torchvision("head.fc.bias") == "fc.bias");
  CHECK(names.to_resnetc("layer3.1.bn1.weight") == "stage3.block1.bn1.weight");
  CHECK_FALSE(names.to_resnetc("layer3.1.bn1.num_batches_tracked"));
  CHECK_FALSE(names.to_resnetc("layer5.0.conv1.weight"));
  CHECK_FALSE(names.to_torchvision("stage1.block0.conv1.weight.velocity"));
}

TEST_CASE("resnet50.net and resnext50-32x4d.net have the names of torchvision's resnet50().state_dict()") {
  for (const char* name : {"resnet50", "resnext50-32x4d"}) {
    INFO(name);
    const ir::Graph g = example(name);
    const train::TorchvisionNames names(g);
    CHECK(torchvision_keys(names) == keys("resnet50"));
    check_both_ways(g, names);
    CHECK(names.to_torchvision("stage1.block0.conv3.weight") == "layer1.0.conv3.weight");
    CHECK(names.to_torchvision("stage1.block0.bn3.bias") == "layer1.0.bn3.bias");
    CHECK(names.to_torchvision("stage1.block0.shortcut.bn.weight") == "layer1.0.downsample.1.weight");
  }
}

TEST_CASE("a layer torchvision's ResNet has no counterpart for is refused at its line, saying why") {
  CHECK_THAT(refusal("preact-resnet18"),
             Catch::Matches("layer 'stage1\\.block0\\.bn1' has no counterpart in torchvision's ResNet: each BatchNorm "
                            "of its blocks follows a convolution .*, and this one normalizes 'stem\\.conv'"));
  CHECK_THAT(refusal("resnet50-d"),
             Catch::Matches("layer 'stem\\.conv2' has no counterpart .*: its stem has one convolution \\(conv1\\)"));
  CHECK_THAT(refusal("se-resnet50"),
             Catch::Matches("layer 'stage1\\.block0\\.se\\.conv1' has no counterpart .*gate.*"));
  CHECK_THAT(refusal("wrn-28-10"), Catch::Matches("layer 'stage1\\.block0\\.bn1' has no counterpart .*"));
}
