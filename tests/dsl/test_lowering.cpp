#include <catch2/catch.hpp>

#include <algorithm>

#include "dsl/diagnostics.h"
#include "dsl/frontend.h"

using namespace resnetc;
using namespace resnetc::dsl;

namespace {

ir::Graph compile_text(const std::string& text, LowerOptions options = {}) {
  SourceManager sources;
  return compile_source(sources, "t.net", text, options).graph;
}

// The first line of the rendered error, as the user sees it.
std::string first_error_line(const std::string& text) {
  SourceManager sources;
  try {
    compile_source(sources, "t.net", text, {});
  } catch (const CompileError& e) {
    std::string r = render(e.diagnostic, sources);
    return r.substr(0, r.find('\n'));
  }
  return "no error";
}

std::vector<std::string> op_names(const ir::Graph& g) {
  std::vector<std::string> names;
  for (const auto& op : g.ops) names.push_back(op.name);
  return names;
}

const ir::Op& find_op(const ir::Graph& g, const std::string& name) {
  auto it = std::find_if(g.ops.begin(), g.ops.end(), [&](const ir::Op& op) { return op.name == name; });
  REQUIRE(it != g.ops.end());
  return *it;
}

}  // namespace

TEST_CASE("layers are named hierarchically; a word is numbered only when it repeats in its scope") {
  auto g = compile_text(R"(
network n {
  input 3x16x16
  stem { conv 8 k3 p1; bn; relu }
  stage basic 8
  stage basic 16 stride=2
  head { avgpool; fc 10 }
})");
  CHECK(op_names(g) == std::vector<std::string>{
                           "stem.conv", "stem.bn", "stem.relu",
                           "stage1.block0.conv1", "stage1.block0.bn1", "stage1.block0.relu1", "stage1.block0.conv2",
                           "stage1.block0.bn2", "stage1.block0.add", "stage1.block0.relu2",
                           "stage2.block0.conv1", "stage2.block0.bn1", "stage2.block0.relu1", "stage2.block0.conv2",
                           "stage2.block0.bn2", "stage2.block0.shortcut.conv", "stage2.block0.shortcut.bn",
                           "stage2.block0.add", "stage2.block0.relu2",
                           "head.avgpool", "head.flatten", "head.fc"});
  CHECK(g.shape(g.output) == ir::Dims{1, 10});
  CHECK(g.value(find_op(g, "stage2.block0.shortcut.conv").inputs[1]).name == "stage2.block0.shortcut.conv.weight");
}

TEST_CASE("the stage's stride applies to its first block only") {
  auto g = compile_text("network n { input 4x16x16\n stage basic 8 x3 stride=2 }");
  CHECK(g.shape(find_op(g, "stage1.block0.add").output) == ir::Dims{1, 8, 8, 8});
  CHECK(find_op(g, "stage1.block0.conv1").attrs.stride[0] == 2);
  CHECK(find_op(g, "stage1.block1.conv1").attrs.stride[0] == 1);
  CHECK(find_op(g, "stage1.block2.conv1").attrs.stride[0] == 1);
}

TEST_CASE("the shortcut projects only when its condition holds") {
  auto g = compile_text("network n { input 8x8x8\n stage basic 8 x1\n stage basic 16 }");
  const ir::Op& same = find_op(g, "stage1.block0.add");
  CHECK(same.inputs[1] == g.input);  // identity: the block input itself
  const ir::Op& wider = find_op(g, "stage2.block0.add");
  CHECK(g.ops[static_cast<size_t>(g.value(wider.inputs[1]).producer)].name == "stage2.block0.shortcut.bn");
}

TEST_CASE("a pre-activation block projects the pre-activated input") {
  auto g = compile_text("network n { input 8x8x8\n stage preact 16 stride=2 }");
  const ir::Op& proj = find_op(g, "stage1.block0.shortcut.conv");
  CHECK(proj.inputs[0] == find_op(g, "stage1.block0.relu1").output);
  CHECK(find_op(g, "stage1.block0.conv1").inputs[0] == find_op(g, "stage1.block0.relu1").output);
}

TEST_CASE("bottleneck arithmetic: width from groups and group width, expansion 4") {
  auto g = compile_text("network n { input 64x8x8\n stage bottleneck 64 groups=32 group_width=4 }");
  CHECK(find_op(g, "stage1.block0.conv1").attrs.out_channels == 128);
  CHECK(find_op(g, "stage1.block0.conv2").attrs.groups == 32);
  CHECK(find_op(g, "stage1.block0.conv3").attrs.out_channels == 256);
}

TEST_CASE("a user's block replaces the built-in block of the same name") {
  auto g = compile_text(R"(
block basic(width, stride = 1) {
  branch { conv width k1 stride=stride }
  shortcut if stride != 1 or in != width { conv width k1 stride=stride }
}
network n { input 3x8x8
  stage basic 4 })");
  CHECK(op_names(g) == std::vector<std::string>{"stage1.block0.conv", "stage1.block0.shortcut.conv", "stage1.block0.add"});
}

TEST_CASE("options replace the file's input size and set the batch") {
  auto g = compile_text("network n { input 1x8x8\n stem { conv 4 k3 } }", {std::array<int64_t, 3>{3, 20, 30}, 5});
  CHECK(g.shape(g.input) == ir::Dims{5, 3, 20, 30});
  CHECK(g.shape(g.output) == ir::Dims{5, 4, 18, 28});
}

TEST_CASE("pooling defaults follow PyTorch: stride = kernel, avgpool alone is global") {
  auto g = compile_text("network n { input 2x9x9\n head { maxpool k3; avgpool } }");
  CHECK(g.shape(find_op(g, "head.maxpool").output) == ir::Dims{1, 2, 3, 3});
  CHECK(find_op(g, "head.avgpool").kind == ir::OpKind::GlobalAvgPool);
}

TEST_CASE("training settings are read and checked") {
  SourceManager sources;
  auto net = compile_source(sources, "t.net",
                            "network n { input 1x8x8\n train { dataset mnist; epochs 3; lr 0.5; schedule cosine } }", {});
  CHECK(net.training.dataset == "mnist");
  CHECK(net.training.epochs == 3);
  CHECK(net.training.lr == Approx(0.5));
  CHECK(net.training.schedule == "cosine");
  CHECK_FALSE(net.training.batch);
  CHECK(first_error_line("network n { input 1x8x8\n train { epoch 3 } }") ==
        "t.net:2:10: error: unknown training setting 'epoch'; did you mean 'epochs'?");
  CHECK(first_error_line("network n { input 1x8x8\n train { lr -1 } }") ==
        "t.net:2:13: error: expected a value for 'lr', found '-'");
  CHECK(first_error_line("network n { input 1x8x8\n train { momentum 1.5 } }") ==
        "t.net:2:19: error: 'momentum' must be in [0, 1), got 1.5");
}

TEST_CASE("the precision setting names one of fp32, tf32 and bf16") {
  SourceManager sources;
  CHECK(compile_source(sources, "t.net", "network n { input 1x8x8\n train { precision bf16 } }", {}).training.precision ==
        "bf16");
  CHECK_FALSE(compile_source(sources, "u.net", "network n { input 1x8x8 }", {}).training.precision);
  CHECK(first_error_line("network n { input 1x8x8\n train { precision fp16 } }") ==
        "t.net:2:20: error: unknown precision 'fp16': expected one of fp32, tf32, bf16; did you mean 'fp32'?");
}

TEST_CASE("a data set may name its directory; no other setting takes a second value") {
  SourceManager sources;
  auto net = compile_source(sources, "t.net",
                            "network n { input 3x32x32\n train { dataset cifar10 \"data/cifar-10-batches-bin\" } }", {});
  CHECK(net.training.dataset == "cifar10");
  CHECK(net.training.data == "data/cifar-10-batches-bin");
  CHECK(net.input_loc.line == 1);
  CHECK(net.input_loc.col == 19);  // the dimensions after `input`
  auto plain = compile_source(sources, "u.net", "network n { input 3x32x32\n train { dataset cifar100-coarse } }", {});
  CHECK(plain.training.dataset == "cifar100-coarse");
  CHECK_FALSE(plain.training.data);
  CHECK(first_error_line("network n { input 1x8x8\n train { epochs 3 \"x\" } }") ==
        "t.net:2:19: error: 'epochs' takes one value; only 'dataset' takes a second, its path");
  CHECK(first_error_line("network n { input 1x8x8\n train { dataset cifar10 \"\" } }") ==
        "t.net:2:26: error: the data set's path is empty");
  CHECK(first_error_line("network n { input 1x8x8\n train { dataset cifar \"d\" } }") ==
        "t.net:2:18: error: unknown dataset 'cifar': expected one of fashion-mnist, mnist, cifar10, cifar100, "
        "cifar100-coarse, folder; did you mean 'cifar10'?");
}

TEST_CASE("the train section's augmentation: the flags' syntax, checked at the value") {
  SourceManager sources;
  auto net = compile_source(sources, "t.net",
                            "network n { input 3x32x32\n train { random_crop \"32,padding=4\"; flip true; "
                            "center_crop \"28x24\" } }",
                            {});
  CHECK(net.training.augmentation.random_crop == data::RandomCrop{{32, 32}, 4});
  CHECK(net.training.augmentation.center_crop == data::CropSize{28, 24});
  CHECK(net.training.augmentation.flip);
  CHECK_FALSE(net.training.augmentation.random_resized_crop);
  auto rrc = compile_source(sources, "u.net", "network n { input 3x32x32\n train { random_resized_crop 32; flip false } }",
                            {});
  CHECK(rrc.training.augmentation.random_resized_crop == data::RandomResizedCrop{{32, 32}});
  CHECK_FALSE(rrc.training.augmentation.flip);
  CHECK(first_error_line("network n { input 1x8x8\n train { random_crop \"8,padding=x\" } }") ==
        "t.net:2:22: error: 'random_crop': padding: expected a whole number from 0 to 32768, got 'x'");
  CHECK(first_error_line("network n { input 1x8x8\n train { random_resized_crop \"8,scale=0.5:0.2\" } }") ==
        "t.net:2:30: error: 'random_resized_crop': scale 0.5:0.2: the minimum is above the maximum");
  CHECK(first_error_line("network n { input 1x8x8\n train { center_crop 0.5 } }") ==
        "t.net:2:22: error: 'center_crop' must be a whole number or a string, found '0.5'");
  auto sized = compile_source(sources, "v.net", "network n { input 3x32x32\n train { image_size 40 } }", {});
  CHECK(sized.training.image_size == data::ImageSize{{40, 40}, true});
  CHECK(compile_source(sources, "w.net", "network n { input 3x32x32\n train { image_size \"36x48\" } }", {})
            .training.image_size == data::ImageSize{{36, 48}, false});
  CHECK(first_error_line("network n { input 1x8x8\n train { image_size \"8x\" } }") ==
        "t.net:2:21: error: 'image_size': expected a size N or HxW (each side from 1 to 32768), got '8x'");
  CHECK(first_error_line("network n { input 1x8x8\n train { flip yes } }") ==
        "t.net:2:15: error: unknown flip 'yes': expected one of true, false");
}

TEST_CASE("the pixels' normalization: mean and std as written, or normalize auto") {
  SourceManager sources;
  auto net = compile_source(sources, "t.net",
                            "network n { input 3x8x8\n train { mean \"0.49,0.48,0.44\"\n std 0.25 } }", {});
  REQUIRE(net.training.mean);
  REQUIRE(net.training.std_dev);
  CHECK(net.training.mean->text == "0.49,0.48,0.44");
  CHECK(net.training.std_dev->text == "0.25");
  CHECK(net.training.std_dev->loc.line == 3);
  CHECK_FALSE(net.training.normalize_auto);
  auto computed = compile_source(sources, "u.net", "network n { input 3x8x8\n train { normalize auto } }", {});
  CHECK(computed.training.normalize_auto);
  CHECK_FALSE(computed.training.mean);
  CHECK(first_error_line("network n { input 1x8x8\n train { mean 0.5 } }") ==
        "t.net:2:10: error: 'mean' needs 'std' too: a normalization takes both");
  CHECK(first_error_line("network n { input 1x8x8\n train { std 0.5 } }") ==
        "t.net:2:10: error: 'std' needs 'mean' too: a normalization takes both");
  CHECK(first_error_line("network n { input 1x8x8\n train { mean 0.5; std 0.2; normalize auto } }") ==
        "t.net:2:29: error: 'normalize auto' computes the mean and std from the training set: give it or 'mean' and "
        "'std', not both");
  CHECK(first_error_line("network n { input 1x8x8\n train { normalize yes } }") ==
        "t.net:2:20: error: unknown normalize 'yes': expected one of auto");
  CHECK(first_error_line("network n { input 1x8x8\n train { mean half; std 0.2 } }") ==
        "t.net:2:15: error: 'mean' must be a number, or a string of numbers separated by commas (one a channel), "
        "found 'half'");
  CHECK(first_error_line("network n { input 1x8x8\n train { means 0.5 } }") ==
        "t.net:2:10: error: unknown training setting 'means'; did you mean 'mean'?");
}

TEST_CASE("semantic errors point at the word that caused them") {
  CHECK(first_error_line("network n { input 1x8x8\n stem { covn 4 k3 } }") ==
        "t.net:2:9: error: unknown layer 'covn'; did you mean 'conv'?");
  CHECK(first_error_line("network n { input 1x8x8\n stem { batchnorm } }") ==
        "t.net:2:9: error: unknown layer 'batchnorm'; did you mean 'bn'?");
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 kernal=3 } }") ==
        "t.net:2:16: error: unknown argument 'kernal' for 'conv'; did you mean 'kernel'?");
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 } }") ==
        "t.net:2:9: error: 'conv' needs a kernel size, like k3");
  CHECK(first_error_line("network n { input 1x8x8\n stage basci 4 }") ==
        "t.net:2:8: error: unknown block 'basci'; did you mean 'basic'?");
  CHECK(first_error_line("network n { input 1x8x8\n stage basic 4 widht=3 }") ==
        "t.net:2:16: error: block 'basic' has no parameter 'widht'; did you mean 'width'?");
  CHECK(first_error_line("network n { input 1x8x8\n stage basic }") ==
        "t.net:2:2: error: block 'basic' needs a value for its parameter 'width', like 'stage basic width=...'");
  CHECK(first_error_line("network n { stem { relu } }") ==
        "t.net:1:1: error: network 'n' has no input size; add a line like 'input 1x96x96'");
  CHECK(first_error_line("block b(a) { branch { conv a k1 } }") ==
        "t.net: error: no network in this file; a .net file needs 'network NAME { ... }'");
  CHECK(first_error_line("block b(a) { let w = a / (a - a)\n branch { conv w k1 } }\nnetwork n { input 1x8x8\n stage b 2 }") ==
        "t.net:1:24: error: division by zero in '/'");
  CHECK(first_error_line("block b(a) { let w = a * a * a * a\n branch { conv w k1 } }\nnetwork n { input 1x8x8\n stage b 100000 }") ==
        "t.net:1:32: error: integer overflow in '*'");
  CHECK(first_error_line("block b(in) { branch { relu } }\nnetwork n { input 1x8x8 }") ==
        "t.net:1:9: error: 'in' is reserved (the block's input channels) and cannot be a parameter");
}

TEST_CASE("shape errors are reported at the line that caused them, with both shapes") {
  // A user block: the error is at the block's own line.
  CHECK(first_error_line("block b(w) {\n branch { conv w k3 p1 }\n}\nnetwork n { input 3x8x8\n stage b 4 }") ==
        "t.net:1:1: error: residual add of two different shapes: branch [1, 4, 8, 8] and shortcut [1, 3, 8, 8] "
        "(the block has no shortcut projection, so it is the identity)");
  // A built-in block: the error moves to the user's stage line.
  CHECK(first_error_line("network n { input 3x8x8\n stage residual 8 groups=2 }") ==
        "t.net:2:19: error: block 'residual' has no parameter 'groups'");
  CHECK(first_error_line("network n { input 3x8x8\n stage basic 0 }") ==
        "t.net:2:2: error: conv needs at least 1 output channel, got 0");
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 6 k1 g3 } }") ==
        "t.net:2:9: error: conv input channels 1 (input [1, 1, 8, 8]) do not divide into 3 groups");
  CHECK(first_error_line("network n { input 3x8x8\n stem { conv 4 k1 g3 } }") ==
        "t.net:2:9: error: conv output channels 4 do not divide into 3 groups");
  CHECK(first_error_line("network n { input 1x8x8\n stem { conv 4 k9 } }") ==
        "t.net:2:9: error: conv kernel 9 with padding 0 does not fit the input height 8 (input [1, 1, 8, 8]): "
        "the output height would be below 1");
  CHECK(first_error_line("network n { input 1x8x8\n stem { maxpool k2 p2 } }") ==
        "t.net:2:9: error: maxpool padding 2 is more than half the kernel 2");
}

TEST_CASE("a repeat count that would build an enormous graph is refused") {
  CHECK(first_error_line("network n { input 1x8x8\n stage basic 1 x100000 }") ==
        "t.net:2:16: error: a stage repeats its block 1 to 10000 times, not 100000");
}

TEST_CASE("only k, s, p, g and x followed by digits are shorthands; other such words are names") {
  auto g = compile_text("block b(c2) { branch { conv c2 k1 } }\nnetwork n { input 3x4x4\n stage b c2=3 }");
  CHECK(find_op(g, "stage1.block0.conv").attrs.out_channels == 3);
}

TEST_CASE("implicit layers never take a name a written layer will use") {
  auto g = compile_text("network n { input 2x4x4\n head { fc 10; flatten; flatten } }");
  CHECK(op_names(g) == std::vector<std::string>{"head.flatten", "head.fc", "head.flatten1", "head.flatten2"});
}

TEST_CASE("block definitions are checked even when no stage uses them") {
  CHECK(first_error_line("block b(w) { branch { covn w k3 } }\nnetwork n { input 1x8x8 }") ==
        "t.net:1:23: error: unknown layer 'covn'; did you mean 'conv'?");
  CHECK(first_error_line("block b(w) { branch { } }\nnetwork n { input 1x8x8 }") ==
        "t.net:1:21: error: the branch of block 'b' has no layers");
  CHECK(first_error_line("block b(w) { branch { relu }\n shortcut from pre { relu } }\nnetwork n { input 1x8x8 }") ==
        "t.net:2:2: error: 'shortcut from pre' needs a 'pre' section in block 'b'");
  CHECK(first_error_line("block b(x) { branch { relu } }\nnetwork n { input 1x8x8 }") ==
        "t.net:1:9: error: 'x' cannot be a block parameter: a stage reads it as its repeat count");
}

TEST_CASE("a stride given by position is refused: it would apply to every block") {
  CHECK(first_error_line("network n { input 4x8x8\n stage basic 8 2 x2 }") ==
        "t.net:2:16: error: give the stride by name, as stride=2: a stage applies it to its first block only");
}

TEST_CASE("sections come in order: stem before stages and head") {
  CHECK(first_error_line("network n { input 1x8x8\n head { relu }\n stem { relu } }") ==
        "t.net:3:2: error: 'stem' must come before the stages and the head");
}

TEST_CASE("a gate multiplies its input by its layers' [N, C, 1, 1] result; its layers are scoped by its name") {
  auto g = compile_text(R"(
block se_block(width) {
  branch {
    conv width k3 p1; bn
    gate se { avgpool; conv width / 4 k1 bias; relu; conv width k1 bias; sigmoid }
  }
}
network n {
  input 8x6x6
  stem { silu; gate { avgpool; conv 8 k1 }; gate { avgpool; conv 8 k1 } }
  stage se_block 8
})", {std::nullopt, 2});
  CHECK(op_names(g) == std::vector<std::string>{
                           "stem.silu", "stem.gate1.avgpool", "stem.gate1.conv", "stem.gate1", "stem.gate2.avgpool",
                           "stem.gate2.conv", "stem.gate2", "stage1.block0.conv", "stage1.block0.bn",
                           "stage1.block0.se.avgpool", "stage1.block0.se.conv1", "stage1.block0.se.relu",
                           "stage1.block0.se.conv2", "stage1.block0.se.sigmoid", "stage1.block0.se", "stage1.block0.add"});
  const ir::Op& se = find_op(g, "stage1.block0.se");
  CHECK(se.kind == ir::OpKind::ChannelMul);
  CHECK(g.value(se.inputs[0]).name == "stage1.block0.bn");
  CHECK(g.value(se.inputs[1]).name == "stage1.block0.se.sigmoid");
  CHECK(g.shape(se.inputs[1]) == ir::Dims{2, 8, 1, 1});
  CHECK(g.value(find_op(g, "stage1.block0.se.conv1").inputs[1]).name == "stage1.block0.se.conv1.weight");
  CHECK(find_op(g, "stage1.block0.se.conv1").attrs.out_channels == 2);
  CHECK(find_op(g, "stem.silu").kind == ir::OpKind::Silu);
}

TEST_CASE("hardswish is a layer, as MobileNetV3 gates write it") {
  auto g = compile_text("network n { input 4x5x5\n stem { hardswish; gate { avgpool; conv 4 k1 bias; hardswish } } }");
  CHECK(op_names(g) == std::vector<std::string>{"stem.hardswish", "stem.gate.avgpool", "stem.gate.conv",
                                                "stem.gate.hardswish", "stem.gate"});
  CHECK(find_op(g, "stem.hardswish").kind == ir::OpKind::Hardswish);
}

TEST_CASE("leaky_relu takes its negative slope, 0.01 (nn.LeakyReLU's) when none is given") {
  auto g = compile_text("network n { input 4x5x5\n stem { leaky_relu; leaky_relu 0.2; leaky_relu 0; leaky_relu 2 } }");
  CHECK(op_names(g) == std::vector<std::string>{"stem.leaky_relu1", "stem.leaky_relu2", "stem.leaky_relu3",
                                                "stem.leaky_relu4"});
  CHECK(find_op(g, "stem.leaky_relu1").kind == ir::OpKind::LeakyRelu);
  CHECK(find_op(g, "stem.leaky_relu1").attrs.scalars.empty());
  CHECK(find_op(g, "stem.leaky_relu2").attrs.scalars == std::vector<double>{0.2});
  CHECK(find_op(g, "stem.leaky_relu3").attrs.scalars == std::vector<double>{0});
  CHECK(find_op(g, "stem.leaky_relu4").attrs.scalars == std::vector<double>{2});
}

TEST_CASE("a gate nests: the inner gate's layers in the outer's scope") {
  auto g = compile_text("network n { input 4x5x5\n stem { gate outer { avgpool; gate inner { conv 4 k1 } } } }");
  CHECK(op_names(g) == std::vector<std::string>{"stem.outer.avgpool", "stem.outer.inner.conv", "stem.outer.inner",
                                                "stem.outer"});
}

TEST_CASE("a gate whose layers do not end in one value per sample and channel is an error at its last layer") {
  CHECK(first_error_line("network n { input 4x8x8\n stem { gate { avgpool; conv 2 k1 } } }") ==
        "t.net:2:25: error: a gate's layers must end in [1, 4, 1, 1] (one scale per channel of its input "
        "[1, 4, 8, 8]), got [1, 2, 1, 1]; its last layer must give the input's 4 channels");
  CHECK(first_error_line("network n { input 4x8x8\n stem { gate { relu } } }") ==
        "t.net:2:16: error: a gate's layers must end in [1, 4, 1, 1] (one scale per channel of its input "
        "[1, 4, 8, 8]), got [1, 4, 8, 8]; pool it to 1x1 first (avgpool)");
  CHECK(first_error_line("network n { input 4x8x8\n head { avgpool; fc 4; gate { relu } } }") ==
        "t.net:2:24: error: a gate scales the channels of a 4-d input, got [1, 4]");
  // Its layer words are checked with the block's, used or not.
  CHECK(first_error_line("block b(w) { branch { gate { avgpool; sigmiod } } }\nnetwork n { input 1x8x8 }") ==
        "t.net:1:39: error: unknown layer 'sigmiod'; did you mean 'sigmoid'?");
}

TEST_CASE("padshortcut subsamples and pads channels: He et al.'s option A") {
  ir::Graph g = compile_text(
      "block a(w, stride = 1) {\n branch { conv w k3 stride=stride p1; bn }\n"
      " shortcut if stride != 1 or in != w { padshortcut w stride=stride }\n post { relu } }\n"
      "network n { input 3x9x9\n stem { conv 4 k3 p1 }\n stage a 4\n stage a 8 stride=2 }");
  const ir::Op& pad = find_op(g, "stage2.block0.shortcut.padshortcut");
  CHECK(pad.kind == ir::OpKind::PadShortcut);
  CHECK(pad.attrs.out_channels == 8);
  CHECK(pad.attrs.stride[0] == 2);
  CHECK(g.shape(pad.output) == ir::Dims{1, 8, 5, 5});  // ceil(9 / 2), as x[:, :, ::2, ::2]
  CHECK(ir::op_param_count(g, pad) == 0);
  CHECK(first_error_line("network n { input 4x8x8\n stem { padshortcut 2 s2 } }") ==
        "t.net:2:9: error: pad_shortcut pads 4 input channels (input [1, 4, 8, 8]) with zeros, so it needs 4 to 2^31 "
        "output channels, got 2");
  CHECK(first_error_line("network n { input 4x8x8\n stem { padshortcut s2 } }") ==
        "t.net:2:9: error: 'padshortcut' needs its number of output channels, like 'padshortcut 32 stride=2'");
}

TEST_CASE("dropout and droppath take a probability as a decimal literal") {
  ir::Graph g = compile_text(
      "block b(w) {\n branch { conv w k3 p1; relu; dropout 0.3; conv w k3 p1; droppath 0.1 } }\n"
      "network n { input 3x8x8\n stem { conv 4 k3 p1 }\n stage b 4\n head { avgpool; dropout 0; fc 10 } }");
  CHECK(find_op(g, "stage1.block0.dropout").kind == ir::OpKind::Dropout);
  CHECK(find_op(g, "stage1.block0.dropout").attrs.rate == 0.3);
  CHECK(find_op(g, "stage1.block0.droppath").kind == ir::OpKind::DropPath);
  CHECK(find_op(g, "stage1.block0.droppath").attrs.rate == 0.1);
  CHECK(find_op(g, "head.dropout").attrs.rate == 0.0);
  CHECK(first_error_line("network n { input 3x8x8\n stem { dropout 1.5 } }") ==
        "t.net:2:17: error: 'dropout' takes the probability of dropping, in [0, 1), like 'dropout 0.3'; got 1.5");
  CHECK(first_error_line("network n { input 3x8x8\n stem { droppath 1 } }") ==
        "t.net:2:18: error: 'droppath' takes the probability of dropping, in [0, 1), like 'droppath 0.3'; got 1");
  CHECK(first_error_line("network n { input 3x8x8\n stem { dropout } }") ==
        "t.net:2:9: error: 'dropout' needs the probability of dropping, like 'dropout 0.3'");
  // A decimal anywhere else is still an integer expected, even in a block no stage uses.
  CHECK(first_error_line("network n { input 3x8x8\n stem { conv 4 k3 0.5 } }") ==
        "t.net:2:19: error: expected an integer, found '0.5'");
  CHECK(first_error_line("network n { input 3x8x8\n stem { conv 4 k=0.5 } }") ==
        "t.net:2:18: error: expected an integer, found '0.5'");
  CHECK(first_error_line("block b(w) { branch { conv w k3 p1.5 } }\nnetwork n { input 3x8x8 }") ==
        "t.net:1:35: error: expected an integer, found '.5'");
}
