#pragma once
// Small graphs shared by the IR tests, built the way the DSL lowering builds them.
#include <memory>
#include <string>

#include "compiler/ir/builder.h"
#include "compiler/ir/graph.h"

namespace resnetc::ir::testing {

inline SourceLoc at(uint32_t line, uint32_t col) {
  static const auto file = std::make_shared<const std::string>("tiny.net");
  return SourceLoc{file, line, col};
}

inline Attrs conv_attrs(int64_t out, int64_t k, int64_t s, int64_t p, int64_t groups = 1, bool bias = false) {
  Attrs a;
  a.out_channels = out;
  a.kernel[0] = a.kernel[1] = k;
  a.stride[0] = a.stride[1] = s;
  a.padding[0] = a.padding[1] = p;
  a.groups = groups;
  a.bias = bias;
  return a;
}

inline Attrs pool_attrs(int64_t k, int64_t s, int64_t p) {
  Attrs a;
  a.kernel[0] = a.kernel[1] = k;
  a.stride[0] = a.stride[1] = s;
  a.padding[0] = a.padding[1] = p;
  return a;
}

inline Attrs fc_attrs(int64_t out, bool bias = true) {
  Attrs a;
  a.out_features = out;
  a.bias = bias;
  return a;
}

// stem (conv-bn-relu-maxpool), one basic residual block (conv-bn-relu-conv-bn-add-relu) and a
// head (global avgpool, flatten, linear with bias) on a [1, 3, 16, 16] input.
inline Graph tiny_resnet() {
  GraphBuilder b("tiny", {1, 3, 16, 16});
  ValueId x = b.add(OpKind::Conv2d, "stem.conv", {b.input()}, conv_attrs(4, 3, 1, 1), at(2, 3));
  x = b.add(OpKind::BatchNorm, "stem.bn", {x}, {}, at(3, 3));
  x = b.add(OpKind::Relu, "stem.relu", {x}, {}, at(4, 3));
  ValueId block_in = b.add(OpKind::MaxPool, "stem.pool", {x}, pool_attrs(3, 2, 1), at(5, 3));
  x = b.add(OpKind::Conv2d, "stage1.block0.conv1", {block_in}, conv_attrs(4, 3, 1, 1), at(8, 5));
  x = b.add(OpKind::BatchNorm, "stage1.block0.bn1", {x}, {}, at(9, 5));
  x = b.add(OpKind::Relu, "stage1.block0.relu1", {x}, {}, at(10, 5));
  x = b.add(OpKind::Conv2d, "stage1.block0.conv2", {x}, conv_attrs(4, 3, 1, 1), at(11, 5));
  x = b.add(OpKind::BatchNorm, "stage1.block0.bn2", {x}, {}, at(12, 5));
  x = b.add(OpKind::Add, "stage1.block0.add", {x, block_in}, {}, at(13, 5));
  x = b.add(OpKind::Relu, "stage1.block0.relu2", {x}, {}, at(14, 5));
  x = b.add(OpKind::GlobalAvgPool, "head.pool", {x}, {}, at(17, 3));
  x = b.add(OpKind::Flatten, "head.flatten", {x}, {}, at(18, 3));
  x = b.add(OpKind::Linear, "head.fc", {x}, fc_attrs(10), at(19, 3));
  return std::move(b).finish(x);
}

inline OpId find_op(const Graph& g, std::string_view name) {
  for (size_t i = 0; i < g.ops.size(); ++i)
    if (g.ops[i].name == name) return static_cast<OpId>(i);
  throw std::logic_error("no op " + std::string(name));
}

inline ValueId find_value(const Graph& g, std::string_view name) {
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].name == name) return static_cast<ValueId>(i);
  throw std::logic_error("no value " + std::string(name));
}

}  // namespace resnetc::ir::testing
