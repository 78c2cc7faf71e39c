// THE LIST. One entry per case: a name, the graph, and what it needs (tolerance, input scale,
// whether each backend runs it under each of its GEMM formulations). Every backend runs every
// case against the reference executor (see cases.h); adding an op's case is one entry here.
// Shapes divide no tile or vector width: odd sizes, 3 or 13 channels, batch 3, and sizes large
// enough to go to the CPU's thread pool ("large").
#include "tests/conformance/cases.h"

#include <fmt/format.h>

#include <tuple>

#include "compiler/ir/ops.h"
#include "compiler/passes/pass.h"
#include "tests/conformance/graphs.h"
#include "tests/tiny_network.h"
#include "tests/window_network.h"

namespace resnetc::testing::conformance {

namespace {

using ir::OpKind;

std::string dims(const ir::Dims& d) { return ir::format_dims(d); }

void elementwise(std::vector<Case>& out) {
  for (const ir::Dims& s : {ir::Dims{3, 3, 5, 7}, {3, 10}, {1}})
    out.push_back({"relu, relu_grad and add " + dims(s), [s] { return relu_add(s); }});
  out.push_back({"relu, relu_grad and add, large", [] { return relu_add({3, 5, 37, 41}); }, 1e-4, 1, false, true});
  out.push_back({"flatten and reshape [3, 3, 5, 7]", [] { return copies({3, 3, 5, 7}); }});
  out.push_back({"flatten and reshape, large", [] { return copies({3, 7, 41, 37}); }, 1e-4, 1, false, true});
  for (const ir::Dims& s : {ir::Dims{3, 10}, {3, 5, 7, 9}, {3, 4, 5}, {5, 1003}})
    out.push_back({"bias_grad " + dims(s), [s] { return bias_grad(s); }});
  out.push_back({"bias_grad, large", [] { return bias_grad({3, 6, 37, 41}); }, 1e-4, 1, false, true});
  out.push_back({"elementwise ops on float4 and scalar paths", elementwise_zoo});
}

void convolutions(std::vector<Case>& out) {
  // Forward, input gradient and weight gradient of each, on their own (the weight gradient in the
  // backend's default formulation only; the graphs below run it under every one): odd shapes, strides,
  // 1x1 / 3x3 / 7x7 and rectangular kernels, groups, images smaller than the kernel's reach, and
  // sizes that split over tasks, chunks and row blocks.
  const ConvCase each[] = {
      {.x = {3, 3, 5, 7}, .out = 13, .ph = 1, .pw = 1},
      {.x = {1, 13, 7, 5}, .out = 3, .ph = 1, .pw = 1, .bias = true},
      {.x = {3, 5, 6, 6}, .out = 8, .ph = 0, .pw = 0},
      {.x = {3, 5, 9, 7}, .out = 11, .sh = 2, .sw = 2, .ph = 1, .pw = 1},
      {.x = {2, 4, 8, 8}, .out = 16, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .bias = true},
      {.x = {3, 6, 7, 5}, .out = 10, .kh = 1, .kw = 1, .sh = 2, .sw = 2},  // a projection shortcut
      {.x = {3, 13, 5, 7}, .out = 17, .kh = 1, .kw = 1, .bias = true},
      {.x = {2, 1, 13, 11}, .out = 9, .kh = 7, .kw = 7, .sh = 2, .sw = 2, .ph = 3, .pw = 3, .bias = true},
      {.x = {3, 3, 10, 9}, .out = 5, .kh = 7, .kw = 7, .ph = 3, .pw = 3},
      {.x = {2, 3, 11, 6}, .out = 7, .kh = 5, .kw = 3, .sh = 2, .sw = 1, .ph = 2, .pw = 0},
      {.x = {2, 4, 7, 9}, .out = 6, .kh = 2, .kw = 4, .sh = 3, .sw = 2, .ph = 1, .pw = 2},
      {.x = {1, 2, 5, 5}, .out = 3, .kh = 3, .kw = 3, .sh = 3, .sw = 3, .ph = 2, .pw = 2},  // stride > pad
      {.x = {3, 6, 5, 7}, .out = 9, .ph = 1, .pw = 1, .groups = 3, .bias = true},
      {.x = {2, 4, 8, 6}, .out = 6, .sh = 2, .sw = 2, .ph = 1, .pw = 1, .groups = 2},
      {.x = {2, 8, 5, 5}, .out = 8, .kh = 1, .kw = 1, .groups = 8},            // depthwise 1x1
      {.x = {3, 5, 6, 7}, .out = 10, .ph = 1, .pw = 1, .groups = 5},           // depthwise 3x3, multiplier 2
      {.x = {3, 20, 1, 1}, .out = 40, .ph = 1, .pw = 1},                       // taps that see only padding
      {.x = {5, 12, 2, 2}, .out = 24, .sh = 2, .sw = 2, .ph = 1, .pw = 1},
      {.x = {3, 7, 2, 2}, .out = 9, .ph = 1, .pw = 1, .bias = true},
      {.x = {2, 3, 1, 3}, .out = 4, .kh = 7, .kw = 7, .ph = 3, .pw = 3},
  };
  const ConvCase large[] = {
      {.x = {3, 40, 9, 11}, .out = 70, .ph = 1, .pw = 1},                      // 70 rows: 8 blocks + a tail of 6
      {.x = {2, 3, 20, 19}, .out = 12, .ph = 1, .pw = 1},                      // 380 positions: pixel chunks
      {.x = {2, 37, 6, 6}, .out = 40, .ph = 1, .pw = 1},                       // 333 lanes: two 256-lane blocks
      {.x = {9, 16, 4, 4}, .out = 72, .sh = 2, .sw = 2, .ph = 1, .pw = 1},
      {.x = {2, 1, 28, 28}, .out = 16, .kh = 7, .kw = 7, .sh = 2, .sw = 2, .ph = 3, .pw = 3, .bias = true},
      {.x = {13, 3, 16, 17}, .out = 10, .ph = 1, .pw = 1},                     // 3536 positions: column chunks
      {.x = {11, 9, 15, 16}, .out = 33, .ph = 1, .pw = 1},                     // chunks, 9 channels: 8 + 1
  };
  for (const ConvCase& c : each) {
    out.push_back({"conv2d " + c.describe(), [c] { return conv_forward(c); }, 1e-4, 1, true});
    out.push_back({"conv2d_grad_input " + c.describe(), [c] { return conv_grad_input(c); }, 1e-4, 1, true});
    out.push_back({"conv2d_grad_weight " + c.describe(), [c] { return conv_grad_weight(c); }});
  }
  for (const ConvCase& c : large) {
    out.push_back({"conv2d " + c.describe(), [c] { return conv_forward(c); }, 1e-4, 1, true, true});
    out.push_back({"conv2d_grad_input " + c.describe(), [c] { return conv_grad_input(c); }, 1e-4, 1, true, true});
    out.push_back({"conv2d_grad_weight " + c.describe(), [c] { return conv_grad_weight(c); }, 1e-4, 1, false, true});
  }
  // Forward and both gradients in one graph: GEMM tiles of 16..128 rows and 16..64 columns,
  // K steps of 16.
  const ConvCase together[] = {
      {{3, 3, 11, 13}, 5, 3, 3, 1, 1, 1, 1},
      {{2, 13, 9, 9}, 70, 3, 3, 2, 2, 1, 1},           // N = 70: two column tiles of 64
      {{3, 6, 7, 7}, 10, 1, 1, 2, 2, 0, 0},            // 1x1 stride 2 (a shortcut)
      {{2, 3, 12, 10}, 8, 7, 7, 2, 2, 3, 3, 1, true},  // a stem, with bias
      {{2, 8, 6, 6}, 8, 3, 3, 1, 1, 1, 1, 4},          // 4 groups of 2 channels
      {{2, 12, 5, 5}, 18, 3, 3, 2, 2, 1, 1, 3},        // 3 groups, stride 2
      {{2, 20, 12, 12}, 17, 3, 3, 1, 1, 1, 1},         // M = 288 rows, K = 180
      {{2, 4, 5, 9}, 6, 1, 3, 1, 2, 0, 1},             // rectangular kernel and strides
      {{1, 2, 2, 2}, 3, 3, 3, 1, 1, 1, 1},             // taps that see only padding
      {{2, 40, 4, 4}, 33, 2, 2, 2, 2, 0, 0, 1, true},  // K = 160, even kernel
  };
  for (const ConvCase& c : together)
    out.push_back({"conv2d and its gradients " + c.describe(), [c] { return conv_all(c); }, 1e-4, 1, true});
}

void conv_stats_cases(std::vector<Case>& out) {
  // BatchNorm statistics in the conv's epilogue: M = N*OH*OW rows of 12 to 1600, 6 to 70 columns.
  const ConvCase each[] = {
      square_conv({3, 5, 7, 7}, 6, 3, 1, 1),             // fewer rows than a direct panel or an im2col block
      square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true),   // stride 2, bias, a row tail
      square_conv({3, 5, 9, 9}, 40, 3, 1, 1, 1, true),   // two direct row panels, five im2col row blocks
      square_conv({3, 5, 9, 9}, 70, 3, 1, 1, 1, true),   // two column tiles
      square_conv({3, 5, 7, 7}, 40, 3, 2, 0),            // stride 2, no padding
      square_conv({3, 5, 7, 7}, 70, 3, 3, 0),            // M = 12
      square_conv({3, 5, 7, 7}, 20, 3, 2, 0, 1, true),   // M = 27
      square_conv({3, 5, 7, 7}, 13, 1, 1, 0, 1, true),   // 1x1
      square_conv({3, 5, 9, 9}, 6, 1, 2, 0),             // 1x1 stride 2 (scattered outputs)
      square_conv({3, 5, 7, 7}, 13, 1, 2, 0),            // 1x1 stride 2, K = 5: never split
      square_conv({3, 10, 9, 9}, 15, 3, 1, 1, 5, true),  // 5 groups of 2 input and 3 output channels
      square_conv({3, 5, 9, 9}, 6, 7, 1, 3),             // 7x7 on 9x9: 49 position classes
  };
  for (const ConvCase& c : each)
    out.push_back({"conv2d with bn_stats in its epilogue " + c.describe(), [c] { return conv_stats(c); }, 1e-4, 1, true});
  const ConvCase many = square_conv({4, 16, 20, 20}, 40, 3, 1, 1, 1, true);  // many work items per row block
  out.push_back({"conv2d with bn_stats in its epilogue " + many.describe(), [many] { return conv_stats(many); }, 1e-4, 1,
                 true, true});
}

void linear(std::vector<Case>& out) {
  // Sizes that divide no tile; ResNet-18's head (512 -> 10, batch 64); a batch of one. Each in
  // the backend's default formulation (a 1x3 -> 1 layer has one output, all cancellation: beyond
  // TF32's tolerance); the cases below run under every GEMM formulation.
  for (auto [n, f, o] : {std::tuple<int64_t, int64_t, int64_t>{3, 13, 7}, {5, 37, 40}, {1, 3, 1}, {33, 70, 19},
                         {64, 512, 10}, {17, 300, 300}}) {
    const std::string s = fmt::format("{}x{} -> {}", n, f, o);
    const bool large = n * f >= 5000;
    out.push_back({"linear with bias " + s, [=] { return linear_forward(n, f, o, true); }, 1e-4, 1, false, large});
    out.push_back({"linear without bias " + s, [=] { return linear_forward(n, f, o, false); }, 1e-4, 1, false, large});
    out.push_back({"linear_grad_input " + s, [=] { return linear_grad_input(n, f, o); }, 1e-4, 1, false, large});
    out.push_back({"linear_grad_weight " + s, [=] { return linear_grad_weight(n, f, o); }, 1e-4, 1, false, large});
  }
  for (auto [n, f, o, bias] : {std::tuple<int64_t, int64_t, int64_t, bool>{3, 37, 70, true}, {5, 20, 10, false},
                               {33, 50, 40, true}, {2, 130, 3, true}})
    out.push_back({fmt::format("linear and its gradients {}x{} -> {}{}", n, f, o, bias ? " bias" : ""),
                   [=] { return linear_all(n, f, o, bias); }, 1e-4, 1, true});
}

void pooling(std::vector<Case>& out) {
  struct Window {
    const char* name;
    ir::Dims shape;
    ir::Attrs attrs;
  };
  const Window windows[] = {
      {"k3 s2 p1 on 5x7", {3, 3, 5, 7}, window(3, 3, 2, 2, 1, 1)},
      {"k3 s2 p1 on 7x5", {3, 3, 7, 5}, window(3, 3, 2, 2, 1, 1)},
      {"k3 s1 p1", {3, 3, 5, 7}, window(3, 3, 1, 1, 1, 1)},
      {"k2 s2 p0 (the last row and column left out)", {3, 3, 5, 7}, window(2, 2, 2, 2, 0, 0)},
      {"k3 s2 p0", {3, 3, 7, 9}, window(3, 3, 2, 2, 0, 0)},
      {"k3x2 s1 p1x0", {3, 3, 5, 7}, window(3, 2, 1, 1, 1, 0)},
      {"k5 s3 p2", {2, 3, 11, 13}, window(5, 5, 3, 3, 2, 2)},
      {"window as large as the image", {3, 3, 5, 7}, window(5, 7, 1, 1, 0, 0)},
      {"k9 s1 p4: looped, not unrolled", {2, 3, 13, 11}, window(9, 9, 1, 1, 4, 4)},
      {"large", {3, 4, 45, 43}, window(3, 3, 2, 2, 1, 1)},
      {"k3 s2 p1 on 7x9", {3, 5, 7, 9}, window(3, 3, 2, 2, 1, 1)},
      {"k2 s2 p0 on 7x9", {3, 5, 7, 9}, window(2, 2, 2, 2, 0, 0)},
      {"k3 s1 p1 on 7x9", {3, 5, 7, 9}, window(3, 3, 1, 1, 1, 1)},
      {"k3x2 s2x1 p0x1 on 7x9", {3, 5, 7, 9}, window(3, 2, 2, 1, 0, 1)},
      {"k5 s3 p2 on 7x9", {3, 5, 7, 9}, window(5, 5, 3, 3, 2, 2)},
  };
  for (OpKind kind : {OpKind::MaxPool, OpKind::AvgPool})
    for (const Window& w : windows)
      out.push_back({fmt::format("{} and its gradient, {} {}", kind == OpKind::MaxPool ? "maxpool" : "avgpool", w.name,
                                 dims(w.shape)),
                     [kind, w] { return pool(kind, w.shape, w.attrs); }, 1e-4, 1, false, w.name == std::string("large")});
  // ceil_mode (windows that hang off the last row and column) and count_include_pad=0 (a divisor
  // per window).
  auto modes = [](ir::Attrs a, bool ceil, bool count_pad) {
    a.ceil_mode = ceil;
    a.count_include_pad = count_pad;
    return a;
  };
  const Window ceil_windows[] = {
      {"k2 s2 ceil on 7x9: the last row and column hang off", {3, 3, 7, 9}, modes(window(2, 2, 2, 2, 0, 0), true, true)},
      {"k3 s2 p1 ceil on 6x8", {2, 3, 6, 8}, modes(window(3, 3, 2, 2, 1, 1), true, true)},
      {"k3x2 s2 p1x0 ceil on 7x9", {2, 3, 7, 9}, modes(window(3, 2, 2, 2, 1, 0), true, true)},
      {"k2 s2 ceil on 7x9, 5 channels", {3, 5, 7, 9}, modes(window(2, 2, 2, 2, 0, 0), true, true)},
      {"k3x2 s2x3 p1 ceil on 7x9", {3, 5, 7, 9}, modes(window(3, 2, 2, 3, 1, 1), true, true)},
      {"k3 s2 p1 ceil on 7x9", {3, 5, 7, 9}, modes(window(3, 3, 2, 2, 1, 1), true, true)},
      {"large ceil", {3, 4, 45, 43}, modes(window(3, 3, 2, 2, 0, 0), true, true)},
  };
  for (const Window& w : ceil_windows) {
    const bool big = w.name == std::string("large ceil");
    for (OpKind kind : {OpKind::MaxPool, OpKind::AvgPool})
      out.push_back({fmt::format("{} and its gradient, {} {}", kind == OpKind::MaxPool ? "maxpool" : "avgpool", w.name,
                                 dims(w.shape)),
                     [kind, w] { return pool(kind, w.shape, w.attrs); }, 1e-4, 1, false, big});
    out.push_back({fmt::format("avgpool and its gradient, padding not counted, {} {}", w.name, dims(w.shape)),
                   [w, modes] { return pool(OpKind::AvgPool, w.shape, modes(w.attrs, true, false)); }, 1e-4, 1, false,
                   big});
  }
  for (const ir::Dims& s : {ir::Dims{2, 3, 7, 9}, {3, 5, 7, 9}})
    out.push_back({"avgpool and its gradient, k3 s2 p1, padding not counted " + dims(s),
                   [s, modes] { return pool(OpKind::AvgPool, s, modes(window(3, 3, 2, 2, 1, 1), false, false)); }});
  for (const ir::Dims& s : {ir::Dims{3, 3, 5, 7}, {3, 5, 1, 1}, {3, 5, 7, 9}, {2, 3, 10, 10}})
    out.push_back({"global_avgpool and its gradient " + dims(s), [s] { return global_avgpool(s); }});
  out.push_back({"global_avgpool and its gradient, large", [] { return global_avgpool({3, 6, 37, 41}); }, 1e-4, 1, false,
                 true});
  for (const ir::Dims& s : {ir::Dims{3, 3, 5, 7}, {3, 5, 1, 1}, {3, 5, 7, 9}})
    out.push_back({"global_maxpool and its gradient " + dims(s), [s] { return global_maxpool(s); }});
  out.push_back({"global_maxpool and its gradient, large (looped)", [] { return global_maxpool({3, 6, 37, 41}); }, 1e-4,
                 1, false, true});
}

void gates_shortcuts_masks(std::vector<Case>& out) {
  // 945 elements (the scalar path), 128 (float4 vectors), 1x1 planes, and the thread pool.
  for (const ir::Dims& s : {ir::Dims{3, 5, 7, 9}, {2, 4, 4, 4}, {5, 2, 1, 1}, {3, 7, 33, 29}})
    out.push_back({"sigmoid, silu, channel_mul and their gradients " + dims(s), [s] { return gates(s); }, 1e-4, 1, false,
                   s[2] == 33});
  // exp(|x|) overflows float: sigmoid must still give 0 or 1, never a NaN.
  out.push_back({"sigmoid, silu, channel_mul and their gradients, inputs scaled by 200",
                 [] { return gates({3, 5, 7, 9}); }, 1e-4, 200});
  for (const ir::Dims& s : {ir::Dims{3, 5, 7, 9}, {2, 4, 4, 4}})
    out.push_back({"hardswish and its gradient " + dims(s), [s] { return hardswish(s); }, 1e-4, 5});
  // Strided, channels appended, or both; float4 (480 and 216 outputs) and scalar (1323) paths.
  for (auto [s, o, sh, sw] : {std::tuple<ir::Dims, int64_t, int64_t, int64_t>{{2, 3, 5, 7}, 5, 2, 2},
                              {{3, 4, 7, 11}, 4, 2, 3}, {{2, 3, 5, 7}, 8, 1, 1}, {{3, 5, 7, 9}, 8, 2, 2},
                              {{3, 5, 7, 9}, 6, 2, 3}, {{3, 5, 7, 9}, 7, 1, 1}, {{4, 16, 33, 35}, 32, 2, 2}})
    out.push_back({fmt::format("pad_shortcut and its gradient {} -> {} s{}x{}", dims(s), o, sh, sw),
                   [s, o, sh, sw] { return pad_shortcut(s, o, sh, sw); }, 1e-4, 1, false, s[0] == 4});
  for (const ir::Dims& s : {ir::Dims{3, 5, 7, 9}, {2, 4, 4, 4}})
    out.push_back({"dropout and drop-path in evaluation " + dims(s), [s] { return dropout_evaluation(s); }});
  // The masks: the backends draw the reference's, element for element.
  const std::tuple<OpKind, ir::Dims, double> masks[] = {
      {OpKind::DropoutMask, {3, 5, 7, 9}, 0.3},   {OpKind::DropoutMask, {2, 3, 11, 13}, 0.9},
      {OpKind::DropoutMask, {2, 3, 5, 7}, 0.0},   {OpKind::DropoutMask, {2, 4, 4, 4}, 0.5},
      {OpKind::DropoutMask, {4, 16, 33, 35}, 0.5}, {OpKind::DropoutMask, {37, 70}, 0.3},
      {OpKind::DropPathMask, {13, 5, 7, 9}, 0.3}, {OpKind::DropPathMask, {3, 5, 7, 9}, 0.4},
      {OpKind::DropPathMask, {33, 16, 17, 19}, 0.5}, {OpKind::DropPathMask, {4, 16, 33, 35}, 0.5},
  };
  int64_t salt = 4242;
  for (const auto& [kind, s, rate] : masks)
    out.push_back({fmt::format("{} and its gradient {} p {}", kind == OpKind::DropoutMask ? "dropout_mask" : "droppath_mask",
                               dims(s), rate),
                   [kind, s, rate, salt = salt++] { return random_mask(kind, s, rate, salt); }, 1e-6, 1, false, false,
                   true});
}

void batchnorm(std::vector<Case>& out) {
  for (auto [s, eps] : {std::pair<ir::Dims, double>{{3, 3, 5, 7}, 1e-5}, {{5, 4, 1, 1}, 1e-3}, {{3, 5, 7, 9}, 1e-3}})
    out.push_back({fmt::format("batchnorm (running statistics) {} eps {}", dims(s), eps),
                   [s, eps] { return batchnorm_inference(s, eps); }});
  out.push_back({"batchnorm (running statistics), large", [] { return batchnorm_inference({3, 6, 41, 37}); }, 1e-4, 1,
                 false, true});
  for (auto [s, eps] : {std::pair<ir::Dims, double>{{3, 3, 5, 7}, 1e-5}, {{5, 4, 1, 1}, 1e-3}, {{1, 5, 3, 7}, 1e-5},
                        {{3, 5, 7, 9}, 1e-3}})
    out.push_back({fmt::format("training BatchNorm {} eps {}", dims(s), eps),
                   [s, eps] { return batchnorm_training(s, eps); }});
  out.push_back({"training BatchNorm, large", [] { return batchnorm_training({3, 6, 41, 37}); }, 1e-4, 1, false, true});
  out.push_back({"training BatchNorm, inputs scaled by 20", [] { return batchnorm_training({3, 3, 5, 7}); }, 1e-4, 20});
}

void losses(std::vector<Case>& out) {
  for (auto [n, k] : {std::pair<int64_t, int64_t>{3, 5}, {7, 10}, {1, 1}, {33, 1000}, {37, 1000}, {3, 10}})
    out.push_back({fmt::format("softmax_cross_entropy and its gradient {} x {}", n, k), [n, k] { return loss(n, k); }});
  out.push_back({"softmax_cross_entropy of large logits stays finite", [] { return loss(5, 7); }, 1e-4, 300});
  for (auto [n, k, e] : {std::tuple<int64_t, int64_t, double>{3, 5, 0.1}, {7, 10, 0.3}, {33, 1000, 0.1}, {1, 1, 0.2}})
    out.push_back({fmt::format("softmax_cross_entropy and its gradient {} x {} label smoothing {}", n, k, e),
                   [n, k, e] { return loss(n, k, e); }});
}

void updates(std::vector<Case>& out) {
  for (auto [s, m, wd] : {std::tuple<ir::Dims, double, double>{{5, 3, 3, 3}, 0, 0}, {{7, 11}, 0, 5e-4},
                          {{64, 33, 3, 3}, 0, 1e-2}, {{3, 7}, 0, 1e-2}, {{16}, 0, 0}, {{5, 3, 3, 3}, 0.9, 0},
                          {{13}, 0.9, 5e-4}, {{64, 33, 3, 3}, 0.5, 1e-2}, {{4, 5, 3}, 0.9, 5e-4}})
    out.push_back({fmt::format("{} {} momentum {} weight decay {}", m != 0 ? "sgd_momentum_update" : "sgd_update",
                               dims(s), m, wd),
                   [s, m, wd] { return sgd(s, m, wd); }, 1e-4, 1, false, s[0] == 64});
  for (auto [s, m] : {std::pair<ir::Dims, double>{{3, 4, 5, 7}, 0.1}, {{3, 5, 1, 1}, 0.3}})
    out.push_back({fmt::format("bn_running_update {} momentum {}", dims(s), m), [s, m] { return running_update(s, m); }});
  // Groups: members of different sizes in one kernel; one a multiple of 4, one longer than a block.
  using Shapes = std::vector<ir::Dims>;
  for (auto [shapes, m, wd] : {std::tuple<Shapes, double, double>{{{5, 3, 3, 3}, {7}, {11, 13}}, 0, 0},
                               {{{13}, {3, 5, 1, 1}, {9, 7}}, 0, 5e-4},
                               {{{64, 33, 3, 3}, {1}, {67, 31}}, 0, 1e-2},
                               {{{3, 7}, {4, 5}, {601}}, 0, 1e-2},
                               {{{5, 3, 3, 3}, {7}, {11, 13}}, 0.9, 0},
                               {{{13}, {3, 5, 1, 1}, {9, 7}}, 0.9, 5e-4},
                               {{{64, 33, 3, 3}, {1}, {67, 31}}, 0.5, 1e-2},
                               {{{7}, {5, 3, 3, 3}, {2, 300}}, 0.9, 5e-4}}) {
    std::string members;
    for (const ir::Dims& s : shapes) members += dims(s);
    out.push_back({fmt::format("{} {} momentum {} weight decay {}", m != 0 ? "sgd_momentum_update_group" : "sgd_update_group",
                               members, m, wd),
                   [shapes, m, wd] { return sgd_group(shapes, m, wd); }, 1e-4, 1, false, shapes[0][0] == 64});
  }
  // Nesterov: the same velocity, a different step.
  for (auto [s, wd] : {std::pair<ir::Dims, double>{{5, 3, 3, 3}, 0}, {{13}, 5e-4}, {{64, 33, 3, 3}, 1e-2}})
    out.push_back({fmt::format("sgd_momentum_update nesterov {} weight decay {}", dims(s), wd),
                   [s, wd] { return sgd(s, 0.9, wd, true); }, 1e-4, 1, false, s[0] == 64});
  out.push_back({"sgd_momentum_update_group nesterov [13][3, 5, 1, 1][9, 7]",
                 [] { return sgd_group({{13}, {3, 5, 1, 1}, {9, 7}}, 0.9, 5e-4, true); }});
  // AdamW: positive inputs keep the second moment and the step count (here fractional: the bias
  // corrections are far from 1) meaningful.
  for (auto [s, wd] : {std::pair<ir::Dims, double>{{5, 3, 3, 3}, 0}, {{13}, 1e-2}, {{64, 33, 3, 3}, 5e-2}})
    out.push_back({fmt::format("adamw_update {} weight decay {}", dims(s), wd), [s, wd] { return adamw(s, wd); },
                   1e-4, 1, false, s[0] == 64, true});
  out.push_back({"adamw_update [7, 11] betas 0.5, 0.9", [] { return adamw({7, 11}, 1e-2, 0.5, 0.9); }, 1e-4, 1, false,
                 false, true});
  out.push_back({"adamw_update_group [13][3, 5, 1, 1][9, 7]", [] { return adamw_group({{13}, {3, 5, 1, 1}, {9, 7}}, 1e-2); },
                 1e-4, 1, false, false, true});
  out.push_back({"adamw_update_group, large", [] { return adamw_group({{64, 33, 3, 3}, {1}, {67, 31}}, 5e-2); }, 1e-4, 1,
                 false, true, true});
  out.push_back({"bn_running_update_group of 5, 3 and 7 channels",
                 [] { return running_group({5, 3, 7}, {147, 5, 2}, 0.1); }});
  out.push_back({"bn_running_update_group, large", [] { return running_group({4099, 1, 8195}, {9, 3, 25}, 0.3); }, 1e-4,
                 1, false, true});
  out.push_back({"bn_running_update_group of 5, 3 and 130 channels",
                 [] { return running_group({5, 3, 130}, {147, 2, 9}, 0.1); }});
}

void fused(std::vector<Case>& out) {
  // "large" below: the shapes sized for the CPU's thread pool.
  auto large = [](const ir::Dims& s) { return ir::numel(s) > 19000; };
  for (const ir::Dims& s : {ir::Dims{3, 5, 7, 7}, {3, 6, 41, 37}, {7, 5, 1, 1}})
    out.push_back({"fused BatchNorm apply + add + relu " + dims(s), [s] { return fused_bn_apply_add_relu(s); }, 1e-4, 1,
                   false, large(s)});
  for (bool reduce : {true, false})
    for (const ir::Dims& s : {ir::Dims{3, 5, 7, 7}, {4, 6, 41, 37}, {9, 5, 1, 1}})
      out.push_back({fmt::format("fused BatchNorm backward, {} {}", reduce ? "the reduction" : "the input gradient", dims(s)),
                     [s, reduce] { return fused_bn_backward(s, reduce); }, 1e-4, 1, false, large(s)});
  // 735 elements (the scalar path) and 216 (float4 vectors that cross channels).
  for (const ir::Dims& s : {ir::Dims{3, 5, 7, 7}, {2, 6, 3, 6}})
    out.push_back({"fused BatchNorm training programs " + dims(s), [s] { return fused_bn_training(s); }});
  for (const ir::Dims& w : {ir::Dims{5, 3, 3, 3}, {67, 33, 3, 3}})
    out.push_back({"fused map over [1, O, K] folds BatchNorm into weights " + dims(w), [w] { return fused_fold_into_weights(w); },
                   1e-4, 1, false, large(w)});
  out.push_back({"fused folded weight, bias and weight sums [7, 3, 3, 3]", [] { return fused_fold({7, 3, 3, 3}); }});
  for (bool reduce : {false, true})
    for (const ir::Dims& s : {ir::Dims{3, 5}, {601, 37}})
      out.push_back({fmt::format("fused {} over [N, C] {}", reduce ? "reduction" : "map", dims(s)),
                     [s, reduce] { return fused_rows(s, reduce); }, 1e-4, 1, false, large(s)});
  for (const ir::Dims& s : {ir::Dims{3, 5}, {4, 6}})
    out.push_back({"fused bias + relu and its gradient " + dims(s), [s] { return fused_bias_relu(s); }});
  for (Use use : {Use::Map, Use::Reduce, Use::Broadcast})
    for (const ir::Dims& s : {ir::Dims{3, 5, 7, 7}, {3, 7, 33, 29}, {11, 13}, {1, 9, 31}})
      out.push_back({fmt::format("fused every opcode, {} {}", use == Use::Map ? "map" : use == Use::Reduce ? "reduce" : "broadcast",
                                 dims(s)),
                     [s, use] { return fused_every_opcode(s, use); }, 1e-4, 1, false, large(s)});
  out.push_back({"fused dead instructions, unread inputs, constants", fused_dead_code});
  out.push_back({"fused map reads an unaligned view", [] { return fused_unaligned_view({3, 5, 7, 7}); }});
}

void training_steps(std::vector<Case>& out) {
  // tests/tiny_network.h: every block kind of a ResNet; every kernel of a step.
  out.push_back({"training step, plain SGD", [] { return training_step(0, 0); }});
  out.push_back({"training step, momentum and weight decay", [] { return training_step(0.9, 5e-4); }, 1e-4, 1, true});
  out.push_back({"training step after the -O1 passes", [] { return training_step(0.9, 5e-4, 1); }});
  // Fused maps and reductions, grouped updates, BatchNorm statistics in the convs' epilogues.
  out.push_back({"training step after the -O2 passes", [] { return training_step(0.9, 5e-4, 2); }, 1e-4, 1, true});
  // Option-A shortcuts, dropout and drop-path (the masks read the seed and step).
  out.push_back({"training step with option-A shortcuts, dropout and drop-path",
                 [] { return training_step_of(kTinyDropoutNetwork, 5); }});
  for (int level : {1, 2})
    out.push_back({fmt::format("training step with option-A shortcuts, dropout and drop-path after the -O{} passes", level),
                   [level] { return training_step_of(kTinyDropoutNetwork, 5, level); }});
  // An SE block: the gate's maps at -O0; at -O2 the channel multiply inlined into the add and
  // BatchNorm's backward reduction (a plane load in a reduction).
  for (int level : {0, 2})
    out.push_back({fmt::format("training step of an SE network at -O{}", level),
                   [level] { return training_step_of(kTinySeNetwork, 3, level); }});
  // tests/window_network.h: dilated and rectangular convs, ceil_mode pools, ResNet-D's pooled
  // shortcut, global max pooling; and global max pooling after a plain stage.
  for (int level : {-1, 2}) {
    const std::string passes = level < 0 ? "" : " after the -O2 passes";
    out.push_back({"training step of a ResNet-D-like network with dilated and rectangular convs" + passes,
                   [level] { return training_step_of(kWindowNetwork, 3, level); }});
    out.push_back({"training step through global max pooling" + passes,
                   [level] { return training_step_of(kGlobalMaxPoolNetwork, 3, level); }});
  }
}

void dilated_and_rectangular_convs(std::vector<Case>& out) {
  // Dilation, and 1x7 / 7x1 / 3x5 kernels: forward, input gradient and weight gradient on their
  // own (the weight gradient in the default formulation), then all three in one graph.
  const ConvCase each[] = {
      {.x = {2, 3, 7, 9}, .out = 5, .kh = 1, .kw = 7, .ph = 0, .pw = 3},
      {.x = {2, 3, 7, 9}, .out = 5, .kh = 7, .kw = 1, .ph = 3, .pw = 0, .bias = true},
      {.x = {3, 4, 7, 9}, .out = 6, .kh = 3, .kw = 5, .sh = 2, .sw = 1, .ph = 1, .pw = 2},
      {.x = {2, 3, 7, 9}, .out = 5, .ph = 2, .pw = 2, .dh = 2, .dw = 2},
      {.x = {2, 5, 9, 7}, .out = 7, .ph = 3, .pw = 3, .bias = true, .dh = 3, .dw = 3},
      {.x = {3, 4, 9, 11}, .out = 6, .kh = 3, .kw = 5, .sh = 2, .sw = 2, .ph = 1, .pw = 2, .dh = 2, .dw = 3},
      {.x = {2, 6, 8, 7}, .out = 9, .sh = 3, .sw = 2, .ph = 2, .pw = 1, .groups = 3, .dh = 2, .dw = 3},
      {.x = {2, 12, 7, 9}, .out = 10, .kh = 1, .kw = 7, .ph = 0, .pw = 6, .dh = 1, .dw = 2},  // 8+ channels
      {.x = {2, 10, 4, 5}, .out = 8, .ph = 2, .pw = 2, .dh = 3, .dw = 2},  // taps beyond the image
  };
  for (const ConvCase& c : each) {
    out.push_back({"conv2d " + c.describe(), [c] { return conv_forward(c); }, 1e-4, 1, true});
    out.push_back({"conv2d_grad_input " + c.describe(), [c] { return conv_grad_input(c); }, 1e-4, 1, true});
    out.push_back({"conv2d_grad_weight " + c.describe(), [c] { return conv_grad_weight(c); }});
  }
  const ConvCase together[] = {
      {{2, 3, 7, 9}, 5, 1, 7, 1, 1, 0, 3},                  // 1x7
      {{2, 3, 9, 7}, 6, 7, 1, 2, 1, 3, 0, 1, true},         // 7x1, stride 2x1
      {{2, 4, 7, 9}, 6, 3, 3, 1, 1, 2, 2, 1, false, 2, 2},  // dilation 2
      {{2, 6, 9, 8}, 9, 3, 5, 2, 2, 3, 2, 3, false, 3, 2},  // dilation 3x2 with stride 2 and groups: mixed dx phases
  };
  for (const ConvCase& c : together)
    out.push_back({"conv2d and its gradients " + c.describe(), [c] { return conv_all(c); }, 1e-4, 1, true});
}

// Cases added after the merged graph (cases() below), so that every case before keeps its inputs.
void added_later(std::vector<Case>& out) {
  for (const ir::Dims& s : {ir::Dims{3, 5, 7, 9}, {2, 3, 5, 11}})
    for (std::optional<double> slope : {std::optional<double>{}, std::optional<double>{0.2}, std::optional<double>{1.5}})
      out.push_back({fmt::format("leaky_relu and its gradient, slope {} {}", slope ? fmt::format("{}", *slope) : "fallback",
                                 dims(s)),
                     [s, slope] { return leaky_relu(s, slope); }, 1e-5, 1});
  for (const ir::Dims& s : {ir::Dims{3, 5, 7, 7}, {2, 6, 3, 6}, {7, 5, 1, 1}})
    out.push_back({"fused max " + dims(s), [s] { return fused_max(s); }});
  for (bool reduce : {false, true})
    for (const ir::Dims& s : {ir::Dims{3, 5, 7, 7}, {3, 7, 33, 29}, {11, 13}})
      out.push_back({fmt::format("fused masks, {} {}", reduce ? "reduce" : "map", dims(s)),
                     [s, reduce] { return fused_masks(s, reduce); }, 1e-4, 1, false, ir::numel(s) > 19000});
  for (const ir::Dims& s : {ir::Dims{2, 3, 5, 7}, ir::Dims{4, 8, 2, 2}})
    out.push_back({"fused div, sqrt and exp " + dims(s), [s] { return fused_div_sqrt_exp(s); }});
  // Nesterov with weight decay over members of odd sizes.
  out.push_back({"sgd_momentum_update_group nesterov [2, 301][4, 5][1] momentum 0.5 weight decay 1e-2",
                 [] { return sgd_group({{2, 301}, {4, 5}, {1}}, 0.5, 1e-2, true); }});
  // Members of sizes that divide no vector width, between ones that do; no weight decay.
  out.push_back({"adamw_update_group [5, 3][8][1][3, 301][6] betas 0.5, 0.9",
                 [] { return adamw_group({{5, 3}, {8}, {1}, {3, 301}, {6}}, 0, 0.5, 0.9); }, 1e-4, 1, false, false, true});
  for (bool reduce : {false, true})
    for (const ir::Dims& s : {ir::Dims{3, 5, 7, 7}, {2, 3, 5, 11}, {11, 13}})
      out.push_back({fmt::format("fused exp, log and div, {} {}", reduce ? "reduce" : "map", dims(s)),
                     [s, reduce] { return fused_exp_log(s, reduce); }});
}

}  // namespace

const std::vector<Case>& cases() {
  static const std::vector<Case> list = [] {
    std::vector<Case> out;
    elementwise(out);
    convolutions(out);
    conv_stats_cases(out);
    linear(out);
    pooling(out);
    gates_shortcuts_masks(out);
    batchnorm(out);
    losses(out);
    updates(out);
    fused(out);
    training_steps(out);
    // A merged graph draws its inputs in order, so the cases before keep theirs; cases added
    // since come after it, for the same reason.
    dilated_and_rectangular_convs(out);
    added_later(out);
    return out;
  }();
  return list;
}

ir::Graph backend_graph(const Case& c) {
  ir::Graph g = c.graph();
  passes::lower_maps(g);
  return g;
}

bool has_kernel(ir::OpKind kind) {
  const ir::Skeleton s = ir::op_skeleton(kind);
  return s != ir::Skeleton::None && s != ir::Skeleton::Alias;
}

}  // namespace resnetc::testing::conformance
