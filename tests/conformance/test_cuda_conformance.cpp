// Every conformance case (cases.h) emitted as CUDA and run under emulation against the
// double-precision reference executor. Compiling a program for emulation costs seconds, so the
// cases are merged into a few graphs (merge.h) and each graph runs under the options that push
// the kernels down their paths: the GEMM cases under every tile configuration, split-K and TF32
// mma.sync; the others with tied inputs (maxpool's first-maximum rule), with every reduction
// split in chunks and every grid-stride loop looping, and with two blocks per grid-stride loop
// and short reduction chunks on other random inputs. The large cases (sized for the CPU's
// threads: emulated, they take seconds a variant) and those on scaled inputs (their kernels'
// paths are the unscaled cases') run under the default options, and the GEMMs also with TF32.
#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/plan/kernel_plan.h"
#include "tests/batchnorm_draw.h"
#include "tests/conformance/cases.h"
#include "tests/conformance/graphs.h"
#include "tests/conformance/merge.h"
#include "tests/conformance/skeleton_check.h"
#include "tests/cuda_codegen/emulation_test.h"

using namespace resnetc;
using testing::EmulationOptions;
using testing::conformance::Group;

namespace {

const std::vector<Group>& groups() {
  static const std::vector<Group> merged = testing::conformance::merged_groups(testing::conformance::cases());
  return merged;
}

void check(const Group& group, EmulationOptions o) {
  o.tolerance = std::max(o.tolerance, group.tolerance);
  o.input_scale *= group.input_scale;
  o.positive_inputs = group.positive_inputs;
  o.batchnorm_near_identity = group.batchnorm_near_identity;
  const testing::EmulationResult r = testing::compare_emulated(group.graph, o);
  std::string cases;
  for (const testing::EmulationMismatch& m : r.mismatches)
    cases += fmt::format("\n  case '{}': {}", testing::conformance::case_of(testing::conformance::cases(), m.value), m.value);
  INFO(r.describe() << cases);
  CHECK(r.ok());
}

}  // namespace

TEST_CASE("emulated CUDA matches the reference executor on every conformance case", "[conformance][cuda][emulation]") {
  for (const Group& group : groups()) {
    const std::string name = fmt::format("{} {}cases, tolerance {}, {}inputs scaled by {}", group.members.size(),
                                         group.large ? "large " : "", group.tolerance,
                                         group.positive_inputs ? "positive " : "", group.input_scale);
    EmulationOptions ties;
    ties.quantize_inputs = true;  // maxpool windows with several equal maxima
    if (group.large || group.input_scale != 1.0f) {
      DYNAMIC_SECTION(name << ": the default options, tied inputs") { check(group, ties); }
      if (group.gemm) DYNAMIC_SECTION(name << ": TF32 mma.sync") { check(group, testing::tensor_cores({})); }
    } else if (group.gemm) {
      DYNAMIC_SECTION(name << ": FMA, the tiles chosen for the shapes") { check(group, {}); }
      DYNAMIC_SECTION(name << ": FMA, 128x64 tiles") { check(group, testing::big_tiles({})); }
      DYNAMIC_SECTION(name << ": FMA, K split") { check(group, testing::split_everything({})); }
      DYNAMIC_SECTION(name << ": TF32 mma.sync, the tiles chosen for the shapes") { check(group, testing::tensor_cores({})); }
      DYNAMIC_SECTION(name << ": TF32 mma.sync, 128x64 tiles") { check(group, testing::tensor_cores(testing::big_tiles({}))); }
      DYNAMIC_SECTION(name << ": TF32 mma.sync, K split") {
        check(group, testing::tensor_cores(testing::split_everything({})));
      }
    } else {
      DYNAMIC_SECTION(name << ": one block per channel, one pass per grid, tied inputs") { check(group, ties); }
      DYNAMIC_SECTION(name << ": channels split in chunks, grid-stride loops, tied inputs") {
        check(group, testing::split_everything(ties));
      }
      DYNAMIC_SECTION(name << ": two blocks per loop, reductions in chunks of 40, other random inputs") {
        EmulationOptions o;
        o.seed = 7;
        o.input_scale = 3.0f;
        o.cuda.grid_stride_blocks = 2;
        o.cuda.min_reduce_chunk = 40;
        check(group, o);
      }
    }
  }
}

TEST_CASE("the CUDA emitter emits every kind whose skeleton has a kernel, and only those", "[conformance][cuda]") {
  testing::conformance::check_kernel_skeletons(
      [](const plan::KernelPlan& plan) { codegen::cuda::emit_cuda(plan); },
      [](const plan::Kernel& k) { return fmt::format("no kernel for '{}' ({})", k.name, ir::op_kind_name(k.kind)); });
}

TEST_CASE("the cases that draw BatchNorm near the identity find a weight and a bias of every BatchNorm", "[conformance]") {
  for (const testing::conformance::Case& c : testing::conformance::cases()) {
    if (!c.batchnorm_near_identity) continue;
    const ir::Graph g = testing::conformance::backend_graph(c);
    size_t weights = 0, biases = 0, running_vars = 0;
    for (size_t i = 0; i < g.values.size(); ++i) {
      const testing::BatchnormAffine kind = testing::batchnorm_affine(g, static_cast<ir::ValueId>(i));
      weights += kind == testing::BatchnormAffine::Weight;
      biases += kind == testing::BatchnormAffine::Bias;
      running_vars += g.values[i].name.ends_with(".running_var");
    }
    INFO(c.name);
    CHECK(running_vars > 0);
    CHECK(weights == running_vars);
    CHECK(biases == running_vars);
  }
}
