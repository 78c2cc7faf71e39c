#pragma once
// The graph builders of the conformance cases (cases.cpp), one per kernel family: small graphs
// of the ops on the shapes a case gives, each with its own inputs.
#include <cstdint>
#include <optional>
#include <vector>

#include "compiler/ir/graph.h"
#include "tests/conv_case.h"

namespace resnetc::testing::conformance {

// Elementwise ops and copies.
ir::Graph relu_add(const ir::Dims& shape);          // relu, add, relu_grad, add
ir::Graph copies(const ir::Dims& shape);            // flatten, reshape back, relu
ir::Graph bias_grad(const ir::Dims& shape);         // the sum over every axis but 1
ir::Graph elementwise_zoo();                        // relu, add, relu_grad, copies on [3, 5, 7, 9] and [2, 4, 4, 4]

// GEMMs.
ir::Graph conv_forward(const ConvCase& c);
ir::Graph conv_grad_input(const ConvCase& c);
ir::Graph conv_grad_weight(const ConvCase& c);
ir::Graph conv_all(const ConvCase& c);              // forward, input and weight gradient of one conv
ir::Graph conv_stats(const ConvCase& c);            // conv -> bn_stats {epilogue=true}
ir::Graph linear_forward(int64_t n, int64_t in, int64_t out, bool bias);
ir::Graph linear_grad_input(int64_t n, int64_t in, int64_t out);
ir::Graph linear_grad_weight(int64_t n, int64_t in, int64_t out);
ir::Graph linear_all(int64_t n, int64_t in, int64_t out, bool bias);  // forward, both gradients, bias_grad

// Pooling: kh, kw, sh, sw, ph, pw.
ir::Attrs window(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw);
ir::Graph pool(ir::OpKind kind, const ir::Dims& shape, const ir::Attrs& window);  // and its gradient
ir::Graph global_avgpool(const ir::Dims& shape);                                   // and its gradient
ir::Graph global_maxpool(const ir::Dims& shape);                                   // and its gradient

// Sigmoid, silu, channel_mul and their gradients on x `shape` [N, C, H, W] and a gate
// [N, C, 1, 1]; the activations also on the gate's gradient and on an [N, C] tensor.
ir::Graph gates(const ir::Dims& shape);
// hardswish and its gradient (its kinks at -3 and 3: inputs scaled past them).
ir::Graph hardswish(const ir::Dims& shape);
// leaky_relu and its gradient with `slope`, or the row's fallback (0.01) when none is given.
ir::Graph leaky_relu(const ir::Dims& shape, std::optional<double> slope);
// The option-A shortcut (strided, zero channels appended) and its gradient.
ir::Graph pad_shortcut(const ir::Dims& shape, int64_t out_channels, int64_t sh, int64_t sw);
// Dropout and drop-path in evaluation: the identity.
ir::Graph dropout_evaluation(const ir::Dims& shape);
// dropout_mask or droppath_mask and its gradient (the same mask on dy), reading the [2] int32
// seed and step.
ir::Graph random_mask(ir::OpKind kind, const ir::Dims& shape, double rate, int64_t salt);

// BatchNorm.
ir::Graph batchnorm_inference(const ir::Dims& shape, double eps = 1e-5);
// bn_stats, bn_apply, both gradients and the running update on one set of statistics.
ir::Graph batchnorm_training(const ir::Dims& shape, double eps = 1e-5, double momentum = 0.1);

// The loss: logits [N, K] and labels -> loss and its gradient, with label smoothing.
ir::Graph loss(int64_t batch, int64_t classes, double label_smoothing = 0);

// The optimizer.
ir::Graph sgd(const ir::Dims& shape, double momentum, double weight_decay, bool nesterov = false);
ir::Graph running_update(const ir::Dims& shape, double momentum);
ir::Graph sgd_group(const std::vector<ir::Dims>& shapes, double momentum, double weight_decay, bool nesterov = false);
// AdamW on one parameter, or a group of them: the step count is a [1] state (drawn like the moments).
ir::Graph adamw(const ir::Dims& shape, double weight_decay, double beta1 = 0.9, double beta2 = 0.999);
ir::Graph adamw_group(const std::vector<ir::Dims>& shapes, double weight_decay, double beta1 = 0.9,
                      double beta2 = 0.999);
ir::Graph running_group(const std::vector<int64_t>& channels, const std::vector<int64_t>& counts, double momentum);

// Fused programs as the passes write them, and every opcode.
ir::Graph fused_bn_apply_add_relu(const ir::Dims& shape);
// The max opcode: max(max(x, other), bias[c]).
ir::Graph fused_max(const ir::Dims& shape);
ir::Graph fused_div_sqrt_exp(const ir::Dims& shape);
ir::Graph fused_bn_backward(const ir::Dims& shape, bool reduce);
ir::Graph fused_bn_training(const ir::Dims& shape);  // forward, both backward programs, the add's mask
ir::Graph fused_fold_into_weights(const ir::Dims& weight_shape);
ir::Graph fused_fold(const ir::Dims& weight_shape);  // folded weight, bias, a reduction over [1, O, K]
ir::Graph fused_rows(const ir::Dims& shape, bool reduce);
ir::Graph fused_bias_relu(const ir::Dims& shape);    // a [N, C] bias + relu + mask, and the bias gradient
enum class Use { Map, Reduce, Broadcast };
ir::Graph fused_every_opcode(const ir::Dims& shape, Use use);
ir::Graph fused_masks(const ir::Dims& shape, bool reduce);  // dropout's and drop-path's draws among other opcodes
ir::Graph fused_exp_log(const ir::Dims& shape, bool reduce);  // exp, log and div in float
ir::Graph fused_dead_code();                         // dead instructions, an unread input, constants
ir::Graph fused_unaligned_view(const ir::Dims& shape);

// A whole training step of tests/tiny_network.h (after the passes of `level`, -1: none).
ir::Graph training_step(double momentum, double weight_decay, int level = -1);
// The training step (momentum 0.9, weight decay 5e-4) of the network written in `network`
// (tests/tiny_network.h, tests/window_network.h) at `batch`, after the passes of `level`.
ir::Graph training_step_of(const char* network, int64_t batch, int level = -1);

}  // namespace resnetc::testing::conformance
