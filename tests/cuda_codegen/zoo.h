#pragma once
// Test graphs for the CUDA emitter: every kernel kind on shapes that divide none of the tile
// sizes (GEMM tiles of 16..128 rows and 16..64 columns, K steps of 16, 256-thread blocks, float4
// vectors). Run under emulation (test_emulated_kernels.cpp) and compiled with NVRTC
// (test_nvrtc_examples.cpp).
#include <string>
#include <tuple>

#include "compiler/ir/builder.h"
#include "tests/conv_case.h"

namespace resnetc::testing::zoo {

using ir::OpKind;
using ir::ValueRole;

using Conv = ConvCase;

inline const Conv kConvs[] = {
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
    {{2, 3, 7, 9}, 5, 1, 7, 1, 1, 0, 3},             // 1x7
    {{2, 3, 9, 7}, 6, 7, 1, 2, 1, 3, 0, 1, true},    // 7x1, stride 2x1
    {{2, 4, 7, 9}, 6, 3, 3, 1, 1, 2, 2, 1, false, 2, 2},  // dilation 2
    {{2, 6, 9, 8}, 9, 3, 5, 2, 2, 3, 2, 3, false, 3, 2},  // dilation 3x2 with stride 2 and groups: mixed dx phases
};

struct Fc {
  int64_t batch, in, out;
  bool bias;
};
inline const Fc kFcs[] = {{3, 37, 70, true}, {5, 20, 10, false}, {33, 50, 40, true}, {2, 130, 3, true}};

inline ir::ValueId input(ir::GraphBuilder& g, const std::string& name, ir::Dims shape) {
  return g.add_value(name, std::move(shape), ValueRole::Input);
}

// Convolutions and fully connected layers: each forward, data gradient and weight gradient.
inline ir::Graph gemm_zoo() {
  ir::GraphBuilder g("gemm_zoo", {1, 1, 1, 1});
  ir::ValueId last = g.input();
  int i = 0;
  for (const Conv& c : kConvs) {
    const std::string name = "conv" + std::to_string(i++);
    const ir::ValueId x = input(g, name + ".x", c.x);
    const ir::ValueId y = g.add(OpKind::Conv2d, name, {x}, c.attrs(), {});
    const ir::ValueId w = g.graph().ops.back().inputs[1];
    const ir::ValueId dy = input(g, name + ".dy", g.shape(y));
    ir::Attrs a = c.attrs();
    a.bias = false;
    a.shape = c.x;
    g.apply(OpKind::ConvGradInput, name + ".grad_input", {dy, w}, a, {});
    g.apply(OpKind::ConvGradWeight, name + ".grad_weight", {dy, x}, a, {});
    last = y;
  }
  i = 0;
  for (const Fc& f : kFcs) {
    const std::string name = "fc" + std::to_string(i++);
    ir::Attrs a;
    a.out_features = f.out;
    a.bias = f.bias;
    const ir::ValueId x = input(g, name + ".x", {f.batch, f.in});
    const ir::ValueId y = g.add(OpKind::Linear, name, {x}, a, {});
    const ir::ValueId w = g.graph().ops.back().inputs[1];
    const ir::ValueId dy = input(g, name + ".dy", g.shape(y));
    g.apply(OpKind::LinearGradInput, name + ".grad_input", {dy, w}, {}, {});
    g.apply(OpKind::LinearGradWeight, name + ".grad_weight", {dy, x}, {}, {});
    g.apply(OpKind::BiasGrad, name + ".bias_grad", {dy}, {}, {});
  }
  return std::move(g).finish(last);
}

inline ir::Attrs window(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  ir::Attrs a;
  a.kernel[0] = kh;
  a.kernel[1] = kw;
  a.stride[0] = sh;
  a.stride[1] = sw;
  a.padding[0] = ph;
  a.padding[1] = pw;
  return a;
}

// Dropout's [2] int32 (seed, step) input, made once per graph.
inline ir::ValueId mask_seed(ir::GraphBuilder& g) {
  for (size_t i = 0; i < g.graph().values.size(); ++i)
    if (g.graph().values[i].name == "rng") return static_cast<ir::ValueId>(i);
  return g.add_value("rng", {2}, ValueRole::Input, ir::DType::I32);
}

inline ir::Attrs mask_attrs(double rate, int64_t salt) {
  ir::Attrs a;
  a.rate = rate;
  a.salt = salt;
  return a;
}

// Everything but the GEMMs.
inline ir::Graph other_zoo() {
  ir::GraphBuilder g("other_zoo", {3, 5, 7, 9});
  const ir::ValueId x = g.input();
  const ir::Dims xs = g.shape(x);

  // Elementwise, both the float4 (multiple of 4) and the scalar path (945 elements).
  const ir::ValueId v4 = input(g, "v4", {2, 4, 4, 4});
  const ir::ValueId relu = g.add(OpKind::Relu, "relu", {x}, {}, {});
  g.add(OpKind::Relu, "relu4", {v4}, {}, {});
  const ir::ValueId b = input(g, "b", xs);
  g.add(OpKind::Add, "add", {x, b}, {}, {});
  g.apply(OpKind::ReluGrad, "relu.grad", {b, relu}, {}, {});
  g.add(OpKind::Flatten, "flatten", {x}, {}, {});
  ir::Attrs reshape;
  reshape.shape = {5, 3, 63};
  g.apply(OpKind::Reshape, "reshape", {x}, reshape, {});

  // Pooling and gradients.
  auto ceil = [](ir::Attrs a) {
    a.ceil_mode = true;
    return a;
  };
  const ir::Attrs windows[] = {window(3, 3, 2, 2, 1, 1), window(2, 2, 2, 2, 0, 0), window(3, 3, 1, 1, 1, 1),
                               window(3, 2, 2, 1, 0, 1), window(5, 5, 3, 3, 2, 2),
                               ceil(window(2, 2, 2, 2, 0, 0)),   // 7x9: the last row and column hang off
                               ceil(window(3, 2, 2, 3, 1, 1))};
  int i = 0;
  for (const ir::Attrs& a : windows) {
    for (OpKind kind : {OpKind::MaxPool, OpKind::AvgPool}) {
      const std::string name = std::string(kind == OpKind::MaxPool ? "max" : "avg") + std::to_string(i);
      const ir::ValueId y = g.add(kind, name, {x}, a, {});
      const ir::ValueId dy = input(g, name + ".dy", g.shape(y));
      ir::Attrs grad = a;
      grad.shape = xs;
      if (kind == OpKind::MaxPool)
        g.apply(OpKind::MaxPoolGrad, name + ".grad", {dy, x}, grad, {});
      else
        g.apply(OpKind::AvgPoolGrad, name + ".grad", {dy}, grad, {});
    }
    ++i;
  }
  for (ir::Attrs a : {window(3, 3, 2, 2, 1, 1), ceil(window(3, 3, 2, 2, 1, 1)), ceil(window(2, 2, 2, 2, 0, 0))}) {
    a.count_include_pad = false;  // the divisor per window
    const std::string name = "avg_nopad" + std::to_string(i++);
    const ir::ValueId y = g.add(OpKind::AvgPool, name, {x}, a, {});
    ir::Attrs grad = a;
    grad.shape = xs;
    g.apply(OpKind::AvgPoolGrad, name + ".grad", {input(g, name + ".dy", g.shape(y))}, grad, {});
  }
  const ir::ValueId gap = g.add(OpKind::GlobalAvgPool, "gap", {x}, {}, {});
  ir::Attrs gap_grad;
  gap_grad.shape = xs;
  g.apply(OpKind::GlobalAvgPoolGrad, "gap.grad", {input(g, "gap.dy", g.shape(gap))}, gap_grad, {});
  const ir::ValueId wide = input(g, "wide", {2, 3, 10, 10});  // 100 > 32 lanes per plane
  g.add(OpKind::GlobalAvgPool, "gap.wide", {wide}, {}, {});
  const ir::ValueId gmp = g.add(OpKind::GlobalMaxPool, "gmp", {x}, {}, {});
  g.apply(OpKind::MaxPoolGrad, "gmp.grad", {input(g, "gmp.dy", g.shape(gmp)), x}, window(xs[2], xs[3], 1, 1, 0, 0), {});

  // Option-A shortcuts and their gradients: float4 (480 and 216 outputs) and scalar (1323).
  for (auto [out, sh, sw] : {std::tuple{8, 2, 2}, std::tuple{6, 2, 3}, std::tuple{7, 1, 1}}) {
    const std::string name = "pad" + std::to_string(out);
    ir::Attrs pad;
    pad.out_channels = out;
    pad.stride[0] = sh, pad.stride[1] = sw;
    const ir::ValueId y = g.add(OpKind::PadShortcut, name, {x}, pad, {});
    ir::Attrs grad;
    grad.stride[0] = sh, grad.stride[1] = sw;
    grad.shape = xs;
    g.apply(OpKind::PadShortcutGrad, name + ".grad", {input(g, name + ".dy", g.shape(y))}, grad, {});
  }

  // Dropout and drop-path: the identity in evaluation, masks in training (float4 and scalar).
  g.add(OpKind::Dropout, "dropout", {x}, [] { ir::Attrs a; a.rate = 0.3; return a; }(), {});
  g.add(OpKind::DropPath, "droppath", {x}, [] { ir::Attrs a; a.rate = 0.2; return a; }(), {});
  g.apply(OpKind::DropoutMask, "dropout.mask", {x, mask_seed(g)}, mask_attrs(0.3, 1), {});
  g.apply(OpKind::DropoutMask, "dropout.mask4", {v4, mask_seed(g)}, mask_attrs(0.5, 2), {});
  g.apply(OpKind::DropPathMask, "droppath.mask", {x, mask_seed(g)}, mask_attrs(0.4, 3), {});

  // BatchNorm: inference, and the training ops on one set of statistics.
  ir::Attrs bn;
  bn.eps = 1e-3;
  g.add(OpKind::BatchNorm, "bn", {x}, bn, {});
  const ir::ValueId stats = g.apply(OpKind::BnStats, "bn.stats", {x}, bn, {});
  const ir::ValueId weight = g.add_value("bnt.weight", {xs[1]}, ValueRole::Parameter);
  const ir::ValueId bias = g.add_value("bnt.bias", {xs[1]}, ValueRole::Parameter);
  g.apply(OpKind::BnApply, "bn.apply", {x, stats, weight, bias}, bn, {});
  const ir::ValueId dy = input(g, "bn.dy", xs);
  g.apply(OpKind::BnGradWeight, "bn.grad_weight", {dy, x, stats}, bn, {});
  g.apply(OpKind::BnGradInput, "bn.grad_input", {dy, x, stats, weight}, bn, {});
  ir::Attrs running;
  running.momentum = 0.1;
  running.shape = xs;
  g.apply(OpKind::BnRunningUpdate, "bn.running",
          {g.add_value("bnt.running_mean", {xs[1]}, ValueRole::State),
           g.add_value("bnt.running_var", {xs[1]}, ValueRole::State), stats},
          running, {});
  g.apply(OpKind::BiasGrad, "bias_grad", {dy}, {}, {});

  // The loss and its gradient: 10 classes, and 1000 classes over 37 rows (several rows per
  // warp and several lanes per row).
  ir::ValueId logits = g.input();
  for (auto [rows, classes] : {std::pair<int64_t, int64_t>{37, 1000}, {3, 10}}) {
    const std::string name = "xent" + std::to_string(classes);
    logits = input(g, name + ".logits", {rows, classes});
    const ir::ValueId labels = g.add_value(name + ".labels", {rows}, ValueRole::Input, ir::DType::I32);
    g.apply(OpKind::SoftmaxCrossEntropy, name, {logits, labels}, {}, {});
    g.apply(OpKind::SoftmaxCrossEntropyGrad, name + ".grad", {logits, labels}, {}, {});
  }

  // The optimizer.
  const ir::ValueId lr = input(g, "lr", {1});
  ir::Attrs sgd;
  sgd.weight_decay = 1e-2;
  g.apply(OpKind::SgdUpdate, "sgd", {g.add_value("p0", {3, 7}, ValueRole::Parameter), input(g, "g0", {3, 7}), lr}, sgd,
          {});
  g.apply(OpKind::SgdUpdate, "sgd.plain", {g.add_value("p1", {16}, ValueRole::Parameter), input(g, "g1", {16}), lr}, {},
          {});
  ir::Attrs momentum;
  momentum.momentum = 0.9;
  momentum.weight_decay = 5e-4;
  g.apply(OpKind::SgdMomentumUpdate, "sgd.momentum",
          {g.add_value("p2", {4, 5, 3}, ValueRole::Parameter), input(g, "g2", {4, 5, 3}), lr,
           g.add_value("p2.velocity", {4, 5, 3}, ValueRole::State)},
          momentum, {});
  return std::move(g).finish(logits);  // the 10-class logits: labels are drawn below 10
}

// The gating ops (sigmoid, silu, channel_mul) and their gradients, before lower-gates makes
// them fused maps (the CUDA emitter has no kernels of their own for them): on [3, 5, 7, 9] (945
// elements: the scalar path) and [2, 4, 4, 4] (float4), their gates [N, C, 1, 1], and the
// activations on a gate itself and on a 2-d [N, C] tensor.
inline ir::Graph gate_zoo() {
  ir::GraphBuilder g("gate_zoo", {3, 5, 7, 9});
  ir::ValueId last = g.input();
  for (const ir::Dims& xs : {ir::Dims{3, 5, 7, 9}, ir::Dims{2, 4, 4, 4}}) {
    const std::string name = xs[1] == 5 ? "odd" : "float4";
    const ir::ValueId x = input(g, name + ".x", xs);
    const ir::ValueId gate = input(g, name + ".gate", {xs[0], xs[1], 1, 1});
    const ir::ValueId dy = input(g, name + ".dy", xs);
    const ir::ValueId s = g.add(OpKind::Sigmoid, name + ".sigmoid", {x}, {}, {});
    g.add(OpKind::Silu, name + ".silu", {x}, {}, {});
    g.add(OpKind::ChannelMul, name + ".scale", {x, gate}, {}, {});
    g.apply(OpKind::SigmoidGrad, name + ".sigmoid.grad", {dy, s}, {}, {});
    g.apply(OpKind::SiluGrad, name + ".silu.grad", {dy, x}, {}, {});
    g.apply(OpKind::ChannelMul, name + ".scale.grad_input", {dy, gate}, {}, {});
    const ir::ValueId dg = g.apply(OpKind::ChannelMulGradGate, name + ".scale.grad_gate", {dy, x}, {}, {});
    g.add(OpKind::Sigmoid, name + ".gate_sigmoid", {dg}, {}, {});
    last = g.add(OpKind::Silu, name + ".rows_silu", {input(g, name + ".rows", {xs[0], xs[1]})}, {}, {});
  }
  return std::move(g).finish(last);
}

}  // namespace resnetc::testing::zoo
