#pragma once
// Checks and shapes that several kinds' shape rules share. Each returns the result (or the
// error) the rule passes on: `if (auto r = expect_rank(x, 4, "bn"); !r.ok()) return r;`.
#include <span>
#include <string>
#include <string_view>

#include "compiler/ir/graph.h"
#include "compiler/ir/shape_inference.h"

namespace resnetc::ir::shape_rules {

// Bounds that keep every later size computation (bytes, MACs) inside int64.
inline constexpr int64_t kMaxDim = int64_t{1} << 31;
inline constexpr int64_t kMaxElements = int64_t{1} << 40;

ShapeResult fail(std::string message);
ShapeResult expect_rank(const Dims& x, size_t rank, std::string_view what);
// `a` when both shapes are equal.
ShapeResult same(const Dims& a, const Dims& b, std::string_view what);
ShapeResult expect(const Dims& actual, const Dims& wanted, std::string_view what);
// A backward op's gradient input must be what the forward op would produce from `x`; then `x`.
ShapeResult grad_matches(const ShapeResult& forward, const Dims& dy, const Dims& x);
// `v` must be [C] for the channels C of `x`.
ShapeResult channel_vector(const Dims& v, const Dims& x, std::string_view what);
// The [N, C, 1, 1] gate that scales each (n, c) plane of x.
ShapeResult channel_gate(const Dims& x);

// A convolution's and a pooling window's output shape from x [N,C,H,W] and the attributes;
// `what` names the op in the messages.
ShapeResult conv_output(const Dims& x, const Attrs& a);
ShapeResult pool_output(const Dims& x, const Attrs& a, std::string_view what);

// Option-A shortcut: x[:, :, ::s, ::s] with zero channels appended up to out_channels.
ShapeResult pad_shortcut_output(const Dims& x, const Attrs& a);
// x itself, when the drop probability `rate` is in [0, 1).
ShapeResult drop_rate(const Dims& x, const Attrs& a, std::string_view what);

// x [N,C,H,W] and its batch statistics [2, C], as BatchNorm's training ops read them.
ShapeResult batch_statistics(OpKind kind, const Dims& x, const Dims& stats);
// logits [N, K] and labels [N]; the logits' shape.
ShapeResult logits_and_labels(std::span<const Dims> d);

}  // namespace resnetc::ir::shape_rules
