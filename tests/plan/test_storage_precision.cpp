// Which activations a bf16 plan stores in bf16 (compiler/plan/storage_precision.h), on the seed's
// ResNet-18 training step: only under bf16 with the backend's consent; each one written by an
// elementwise kernel, read as a bf16 contraction's activation operand and otherwise only by
// fused and channel-reduction kernels; the bytes and the printed plan follow.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <array>
#include <set>
#include <string>
#include <vector>

#include "compiler/autodiff/training_graph.h"
#include "compiler/passes/pass.h"
#include "compiler/plan/collectives.h"
#include "compiler/plan/kernel_plan.h"
#include "dsl/frontend.h"

using namespace resnetc;
using ir::OpKind;
using plan::Precision;

namespace {

ir::Graph resnet18_training_step(int64_t batch) {
  dsl::SourceManager sources;
  ir::Graph forward = dsl::compile_file(sources, std::string(RESNETC_SOURCE_DIR) + "/examples/d2l-resnet18.net",
                                        {std::array<int64_t, 3>{1, 96, 96}, batch})
                          .graph;
  ir::Graph training = autodiff::make_training_graph(forward, {0.9, 5e-4});
  passes::run_pipeline(training, {});
  return training;
}

bool channel_reduction(OpKind kind) {
  return kind == OpKind::BiasGrad || kind == OpKind::BnStats || kind == OpKind::BnGradWeight || kind == OpKind::BnGradInput;
}

int64_t total_bytes_moved(const plan::KernelPlan& p) {
  int64_t total = 0;
  for (const plan::Kernel& k : p.kernels) total += plan::bytes_moved(p, k);
  return total;
}

std::set<int> bf16_buffers(const plan::KernelPlan& p) {
  std::set<int> out;
  for (size_t i = 0; i < p.buffers.size(); ++i)
    if (p.buffers[i].dtype == ir::DType::BF16) out.insert(static_cast<int>(i));
  return out;
}

}  // namespace

TEST_CASE("plan: bf16 activations only under bf16 with the backend's consent, fp32 plans unchanged", "[plan][bf16]") {
  const ir::Graph training = resnet18_training_step(4);
  const std::string fp32 = plan::print_plan(plan::make_plan(training));
  CHECK(plan::print_plan(plan::make_plan(training, {.bf16_activations = true})) == fp32);
  CHECK(fp32.find("bf16") == std::string::npos);
  const plan::KernelPlan refused = plan::make_plan(training, {.precision = Precision::Bf16});
  CHECK(bf16_buffers(refused).empty());
  const plan::KernelPlan tf32 = plan::make_plan(training, {.precision = Precision::Tf32, .bf16_activations = true});
  CHECK(bf16_buffers(tf32).empty());
}

TEST_CASE("plan: the d2l ResNet-18's bf16 activations are those between elementwise kernels and bf16 contractions",
          "[plan][bf16]") {
  const ir::Graph training = resnet18_training_step(4);
  const plan::KernelPlan without = plan::make_plan(training, {.precision = Precision::Bf16});
  const plan::KernelPlan p = plan::make_plan(training, {.precision = Precision::Bf16, .bf16_activations = true});
  const std::set<int> bf16 = bf16_buffers(p);
  REQUIRE(p.kernels.size() == without.kernels.size());
  std::vector<int> writer(p.buffers.size(), -1);
  std::vector<std::vector<std::pair<int, size_t>>> readers(p.buffers.size());
  for (size_t k = 0; k < p.kernels.size(); ++k) {
    if (p.kernels[k].output >= 0) writer[static_cast<size_t>(p.kernels[k].output)] = static_cast<int>(k);
    for (size_t i = 0; i < p.kernels[k].inputs.size(); ++i)
      readers[static_cast<size_t>(p.kernels[k].inputs[i])].emplace_back(static_cast<int>(k), i);
  }
  size_t forward = 0, backward = 0;
  for (int b : bf16) {
    const plan::Buffer& buffer = p.buffer(b);
    INFO(buffer.name);
    CHECK(buffer.storage == plan::Storage::Arena);
    CHECK(buffer.view_of < 0);
    CHECK(buffer.bytes == ir::numel(buffer.shape) * 2);
    CHECK(b != p.loss);
    CHECK(b != p.logits);
    const plan::Kernel& w = p.kernels.at(static_cast<size_t>(writer[static_cast<size_t>(b)]));
    CHECK(((w.kind == OpKind::Fused && !w.attrs.program.reduce) || w.kind == OpKind::BnGradInput));
    bool contraction = false;
    for (const auto& [k, input] : readers[static_cast<size_t>(b)]) {
      const plan::Kernel& r = p.kernels[static_cast<size_t>(k)];
      if (r.kind == OpKind::Conv2d || r.kind == OpKind::Linear) {
        CHECK(input == 0);
        contraction = true;
        ++forward;
      } else if (r.kind == OpKind::ConvGradInput || r.kind == OpKind::ConvGradWeight || r.kind == OpKind::LinearGradInput) {
        CHECK((input == 0 || r.kind == OpKind::ConvGradWeight));
        CHECK(r.operands == Precision::Bf16);
        contraction = true;
        ++backward;
      } else {
        CHECK((r.kind == OpKind::Fused || channel_reduction(r.kind)));
      }
    }
    CHECK(contraction);
    CHECK(p.buffer(b).shape == without.buffer(b).shape);
  }
  // Every BatchNorm + relu output (the convolutions' inputs) and BatchNorm backward's input
  // gradients that reach a convolution's; convolutions write float32.
  CHECK(forward >= 16);
  CHECK(backward >= 16);
  for (const plan::Kernel& k : p.kernels)
    if (k.kind == OpKind::Conv2d || k.kind == OpKind::ConvGradInput) CHECK(bf16.count(k.output) == 0);
  // A view keeps float32 (its offset counts floats): the fc's x, the flattened pooling.
  for (const plan::Kernel& k : p.kernels)
    if (k.kind == OpKind::LinearGradWeight) CHECK(bf16.count(k.inputs[1]) == 0);

  // Half the bytes of each, moved and kept.
  int64_t saved = 0;
  for (int b : bf16) saved += ir::numel(p.buffer(b).shape) * 2 * static_cast<int64_t>(readers[static_cast<size_t>(b)].size() + 1);
  CHECK(total_bytes_moved(p) == total_bytes_moved(without) - saved);
  CHECK(p.unplanned_arena_bytes < without.unplanned_arena_bytes);
  CHECK(p.bytes(plan::Storage::Arena) < without.bytes(plan::Storage::Arena));
  const std::string text = plan::print_plan(p);
  const plan::Buffer& one = p.buffer(*bf16.begin());
  CHECK(text.find(fmt::format("%{}{}bf16@a+{}", one.name, ir::format_dims(one.shape), one.offset)) != std::string::npos);

  // Collectives sum float32 gradients and statistics only.
  for (bool sync : {false, true})
    for (const plan::Collective& c : plan::place_collectives(p, {.sync_batchnorm = sync}))
      for (int b : c.buffers) CHECK(bf16.count(b) == 0);
}

TEST_CASE("plan: without reuse, bf16 buffers are laid out at their own size", "[plan][bf16]") {
  const ir::Graph training = resnet18_training_step(2);
  const plan::KernelPlan p =
      plan::make_plan(training, {.reuse_memory = false, .precision = Precision::Bf16, .bf16_activations = true});
  REQUIRE(!bf16_buffers(p).empty());
  int64_t end = 0;
  for (const plan::Buffer& b : p.buffers) {
    if (b.storage != plan::Storage::Arena) continue;
    if (b.view_of >= 0) {
      const plan::Buffer& source = p.buffer(b.view_of);
      CHECK(b.offset >= source.offset);
      CHECK(b.offset + b.bytes <= source.offset + source.bytes);
      continue;
    }
    CHECK(b.offset == end);
    end += plan::align_buffer(b.bytes);
  }
  CHECK(p.bytes(plan::Storage::Arena) == end);
}
