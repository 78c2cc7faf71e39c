// A training step of the CUDA backend whose gradient buckets the NCCL reducer sums
// (backends/cuda/nccl_reducer.h), on the fake driver and the fake NCCL, which ctest names in
// RESNETC_CUDA_DRIVER and RESNETC_NCCL_LIBRARY. Both fakes append to one log, so it holds the
// order in which the host issued kernels, event records, stream waits and NCCL calls. The fake
// kernels compute nothing and a one-rank fake communicator computes its sum (its values times the
// scalar), so what the step leaves in the gradients is what the reducer summed.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/device_executor.h"
#include "compiler/autodiff/training_graph.h"
#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/passes/pass.h"
#include "compiler/plan/collectives.h"
#include "dsl/frontend.h"
#include "runtime/nccl/communicator.h"
#include "train/executor.h"

using namespace resnetc;
using namespace std::chrono_literals;

namespace {

constexpr const char* kNet =
    "network n {\n input 1x8x8\n stem { conv 4 k3 p1; relu }\n stage basic 8 stride=2\n head { avgpool; fc 10 }\n}";
constexpr const char* kBatchNormNet =
    "block plain(width, stride = 1) {\n branch { conv width k3 stride=stride p1; bn; relu\n conv width k3 p1; bn }\n"
    " shortcut if stride != 1 or in != width { conv width k1 stride=stride bias }\n post { relu }\n}\n"
    "network b {\n input 1x8x8\n stem { conv 4 k3 p1; bn; relu }\n stage plain 8 stride=2\n head { avgpool; fc 10 }\n}";

std::string log_path() {
  return (std::filesystem::temp_directory_path() / ("test_nccl_step_on_fake." + std::to_string(getpid()) + ".log"))
      .string();
}

void truncate(const std::string& path) { std::ofstream(path, std::ios::trunc); }

// Both fakes log to one file, emptied (not removed: the fake driver keeps it open from cuInit on);
// no failure is injected unless a test sets one.
std::string fresh_log() {
  const std::string path = log_path();
  truncate(path);
  setenv("FAKE_NCCL_LOG", path.c_str(), 1);
  setenv("FAKE_CUDA_LOG", path.c_str(), 1);  // read by the fake driver once, at cuInit: the same path throughout
  for (const char* setting : {"FAKE_NCCL_ASYNC_ERROR", "FAKE_NCCL_HANG", "RESNETC_NCCL_TIMEOUT"}) unsetenv(setting);
  setenv("OMPI_COMM_WORLD_RANK", "0", 1);  // the rank the fake NCCL's injections name
  return path;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string handle(const void* p) {
  char text[32];
  std::snprintf(text, sizeof text, "%p", p);
  return text;
}

plan::KernelPlan training_plan(const char* net) {
  dsl::SourceManager sources;
  const ir::Graph training =
      autodiff::make_training_graph(dsl::compile_source(sources, "n.net", net, {std::nullopt, 4}).graph, {0.9, 0});
  return passes::optimized_plan(training, {});
}

cuda::CacheOptions kernel_cache() {
  return {std::filesystem::temp_directory_path() / "resnetc-test-nccl-step-cache", true};
}

struct OneRank {
  void operator()(std::span<std::byte>) const {}
};

// Distinct values in every gradient, none of which 0.25 rounds.
std::map<int, std::vector<float>> fill_gradients(train::PlanExecutor& e, const plan::KernelPlan& plan) {
  std::map<int, std::vector<float>> written;
  float next = 1;
  for (int b : plan::gradient_buffers(plan).buffers) {
    std::vector<float> values(static_cast<size_t>(ir::numel(plan.buffer(b).shape)));
    for (float& v : values) v = next++;
    train::write_buffer(e, b, std::span<const float>(values));
    written[b] = std::move(values);
  }
  return written;
}

std::map<int, std::vector<float>> read_gradients(train::PlanExecutor& e, const plan::KernelPlan& plan) {
  std::map<int, std::vector<float>> got;
  for (int b : plan::gradient_buffers(plan).buffers) {
    std::vector<float> values(static_cast<size_t>(ir::numel(plan.buffer(b).shape)));
    train::read_buffer(e, b, std::span<float>(values));
    got[b] = std::move(values);
  }
  return got;
}

// The log with handles named: the executor's stream "compute", the others and the events by their
// first use ("event1", "stream2", ...); an all-reduce's count kept apart, per collective.
struct Issued {
  std::vector<std::string> calls;
  std::vector<std::vector<size_t>> counts;
};

Issued issued(const std::string& log, const cuda::Stream& compute) {
  std::map<std::string, std::string> names{{handle(compute.get()), "compute"}};
  const auto name = [&](const std::string& h, const char* kind) {
    auto [it, added] = names.emplace(h, "");
    if (added) it->second = std::string(kind) + std::to_string(names.size() - 1);
    return it->second;
  };
  Issued out;
  for (const std::string& line : lines_of(log)) {
    std::istringstream words(line);
    const std::vector<std::string> w{std::istream_iterator<std::string>(words), {}};
    if (w[0] == "launch") {
      out.calls.push_back("launch " + w[1]);
    } else if (w[0] == "record") {
      out.calls.push_back("record " + name(w[1], "event") + " on " + name(w[3], "stream"));
    } else if (w[0] == "wait") {
      out.calls.push_back("wait " + name(w[1], "stream") + " for " + name(w[3], "event"));
    } else if (w[2] == "AllReduce") {
      if (w[5] == "float64") out.counts.emplace_back();
      out.counts.back().push_back(std::stoul(w[4]));
      // "count N TYPE OP [SCALAR] in-place [grouped] on STREAM", without count and stream
      const std::string how = line.substr(line.find(w[5]), line.rfind(" on ") - line.find(w[5]));
      out.calls.push_back("AllReduce " + how + " on " + name(w.back(), "stream"));
    } else {
      if (w[2] == "GroupStart") out.counts.emplace_back();
      out.calls.push_back(w[2] + (w[2] == "CommGetAsyncError" ? " " + w[3] : ""));
    }
  }
  return out;
}

// What the host must issue for a step of `plan` with `collectives` and weight 0.5: the kernels
// before each collective's stop, then for a bucket an event on the compute stream that the sums'
// stream waits for and the bucket's group on that stream; for a BatchNorm's rows, on the compute
// stream, the kernel making the rank's part, its float64 sum, the kernel writing the rows back;
// at the first update the compute stream waits for the sums and the forward statistics are
// unbiased; the updates; the error polls. `counts` are the all-reduces' per collective, as issued.
std::vector<std::string> wanted(const plan::KernelPlan& plan, std::span<const plan::Collective> collectives,
                                size_t first_update, const std::vector<std::vector<size_t>>& counts) {
  const codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(plan);
  std::vector<std::string> want;
  size_t kernel = plan.preamble_kernels;
  const auto launches_until = [&](size_t end) {
    for (const codegen::cuda::CudaLaunch& l : program.launches)
      if (static_cast<size_t>(l.plan_kernel) >= kernel && static_cast<size_t>(l.plan_kernel) < end)
        want.push_back("launch " + l.kernel);
    kernel = std::max(kernel, end);
  };
  // Handles are named by first use: the first bucket's event, then the sums' stream waiting for it
  // (every plan has a bucket), then the event after the sums.
  const std::string sums = "stream2", sums_done = "event3";
  REQUIRE(counts.size() == collectives.size());
  for (size_t i = 0; i < collectives.size(); ++i) {
    const plan::Collective& c = collectives[i];
    launches_until(c.at);
    CHECK(std::accumulate(counts[i].begin(), counts[i].end(), size_t{0}) == static_cast<size_t>(c.floats));
    if (c.kind == plan::CollectiveKind::Gradients) {
      want.insert(want.end(), {"record event1 on compute", "wait " + sums + " for event1", "RedOpCreatePreMulSum",
                               "GroupStart"});
      for (size_t k = 0; k < counts[i].size(); ++k)
        want.push_back("AllReduce float32 premulsum 0.5 in-place grouped on " + sums);
      want.insert(want.end(), {"GroupEnd", "RedOpDestroy"});
    } else {
      REQUIRE(counts[i].size() == 1);
      want.insert(want.end(), {"launch rc_sync_bn_contribution", "AllReduce float64 sum in-place on compute",
                               "launch rc_sync_bn_rows"});
    }
  }
  launches_until(first_update);
  want.insert(want.end(), {"record " + sums_done + " on " + sums, "wait compute for " + sums_done});
  for (const plan::Collective& c : collectives)
    if (c.kind == plan::CollectiveKind::BatchNormForward) want.push_back("launch rc_sync_bn_unbias");
  launches_until(plan.kernels.size());
  want.push_back("CommGetAsyncError 0");
  return want;
}

}  // namespace

TEST_CASE("each bucket is summed on a stream of its own from its stop on, and the updates wait for the sums") {
  const std::string log = fresh_log();
  const plan::KernelPlan plan = training_plan(kNet);
  const std::vector<plan::Collective> buckets = plan::place_collectives(plan, {.bucket_bytes = 1024});
  REQUIRE(buckets.size() >= 3);
  const size_t first_update = plan::gradient_buffers(plan).first_update;
  for (const char* graphs : {"1", "0"}) {
    INFO("RESNETC_CUDA_GRAPHS=" << graphs);
    setenv("RESNETC_CUDA_GRAPHS", graphs, 1);  // read by each executor as it is made
    cuda_backend::CudaBackend backend(0, kernel_cache());
    std::unique_ptr<train::PlanExecutor> executor = backend.compile(plan);
    unsetenv("RESNETC_CUDA_GRAPHS");
    const auto& device = dynamic_cast<const cuda_backend::DeviceExecutor&>(*executor);
    std::unique_ptr<train::DeviceReducer> reducer = backend.device_reducer(0, 1, OneRank{});
    REQUIRE(reducer != nullptr);
    reducer->run_step(*executor, buckets, first_update, 0.5);  // the preamble runs, the graphs are recorded
    truncate(log);
    reducer->run_step(*executor, buckets, first_update, 0.5);
    const Issued got = issued(log, device.stream());
    CHECK(got.calls == wanted(plan, buckets, first_update, got.counts));
  }
}

TEST_CASE("with --sync-bn each BatchNorm's rows are summed on the compute stream between their writer and readers") {
  const std::string log = fresh_log();
  const plan::KernelPlan plan = training_plan(kBatchNormNet);
  for (const int64_t bucket_bytes : {int64_t{1} << 30, int64_t{1024}}) {
    INFO("buckets of " << bucket_bytes << " bytes");
    const std::vector<plan::Collective> collectives =
        plan::place_collectives(plan, {.bucket_bytes = bucket_bytes, .sync_batchnorm = true});
    const auto forward = std::count_if(collectives.begin(), collectives.end(), [](const plan::Collective& c) {
      return c.kind == plan::CollectiveKind::BatchNormForward;
    });
    CHECK(forward == 3);  // the stem's and the block's two
    const size_t first_update = plan::gradient_buffers(plan).first_update;
    cuda_backend::CudaBackend backend(0, kernel_cache());
    std::unique_ptr<train::PlanExecutor> executor = backend.compile(plan);
    const auto& device = dynamic_cast<const cuda_backend::DeviceExecutor&>(*executor);
    std::unique_ptr<train::DeviceReducer> reducer = backend.device_reducer(0, 1, OneRank{});
    reducer->run_step(*executor, collectives, first_update, 0.5);
    truncate(log);
    reducer->run_step(*executor, collectives, first_update, 0.5);
    const Issued got = issued(log, device.stream());
    CHECK(got.calls == wanted(plan, collectives, first_update, got.counts));
  }
}

TEST_CASE("a step summed in buckets leaves the gradients of one sum after the backward pass") {
  fresh_log();
  const plan::KernelPlan plan = training_plan(kNet);
  const size_t first_update = plan::gradient_buffers(plan).first_update;
  cuda_backend::CudaBackend backend(0, kernel_cache());
  std::unique_ptr<train::DeviceReducer> reducer = backend.device_reducer(0, 1, OneRank{});
  // One bucket of everything, at the first update: the sum after the backward pass.
  std::optional<std::map<int, std::vector<float>>> after_backward;
  for (const int64_t bucket_bytes : {int64_t{1} << 30, int64_t{1024}, int64_t{64}}) {
    INFO("buckets of " << bucket_bytes << " bytes");
    const std::vector<plan::Collective> buckets = plan::place_collectives(plan, {.bucket_bytes = bucket_bytes});
    CHECK((buckets.size() == 1) == (bucket_bytes == int64_t{1} << 30));
    std::unique_ptr<train::PlanExecutor> executor = backend.compile(plan);
    const std::map<int, std::vector<float>> written = fill_gradients(*executor, plan);
    reducer->run_step(*executor, buckets, first_update, 0.25f);
    const std::map<int, std::vector<float>> got = read_gradients(*executor, plan);
    // Each gradient summed once: one rank's sum is its values times the weight.
    for (const auto& [b, values] : written)
      for (size_t i = 0; i < values.size(); ++i) REQUIRE(got.at(b)[i] == values[i] * 0.25f);
    if (after_backward)
      CHECK(got == *after_backward);
    else
      after_backward = got;
  }
}

TEST_CASE("a bucket's asynchronous error or a hung sum ends the step naming the rank, and aborts") {
  const plan::KernelPlan plan = training_plan(kNet);
  const std::vector<plan::Collective> buckets = plan::place_collectives(plan, {.bucket_bytes = 1024});
  const size_t first_update = plan::gradient_buffers(plan).first_update;
  for (const bool hang : {false, true}) {
    INFO((hang ? "hung" : "asynchronous error"));
    const std::string log = fresh_log();
    setenv(hang ? "FAKE_NCCL_HANG" : "FAKE_NCCL_ASYNC_ERROR", "0:2", 1);  // the second bucket
    setenv("RESNETC_NCCL_TIMEOUT", "0.3", 1);
    cuda_backend::CudaBackend backend(0, kernel_cache());
    std::unique_ptr<train::PlanExecutor> executor = backend.compile(plan);
    std::unique_ptr<train::DeviceReducer> reducer = backend.device_reducer(0, 1, OneRank{});
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH(reducer->run_step(*executor, buckets, first_update, 0.5f),
                      Catch::Matches(hang ? "rank 0: summing the gradients did not end within 0.3 s .*"
                                          : "rank 0: NCCL reported an asynchronous error while summing the "
                                            "gradients: .*injected asynchronous error.*aborted.*"));
    CHECK(std::chrono::steady_clock::now() - start < 10s);
    std::vector<std::string> lines = lines_of(log);
    REQUIRE(!lines.empty());
    CHECK(lines.back() == "rank 0 CommAbort rank 0");
    // Every bucket was issued before the step waited: the sums overlap the backward pass.
    CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.ends_with("GroupEnd"); }) ==
          static_cast<long>(buckets.size()));
    CHECK_THROWS_WITH(reducer->run_step(*executor, buckets, first_update, 0.5f),
                      "rank 0: NCCL's communicator was aborted after a failure");
  }
}
