// The NCCL communicator (runtime/nccl) on the fake driver and the fake NCCL, which ctest names in
// RESNETC_CUDA_DRIVER and RESNETC_NCCL_LIBRARY: the calls it makes, read back from the fake's
// log, and how it fails. Several ranks live in this one process: the fake's ncclCommInitRank
// does not wait for its peers.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "runtime/cuda/driver.h"
#include "runtime/cuda/stream.h"
#include "runtime/nccl/communicator.h"

using namespace resnetc;
using namespace std::chrono_literals;

namespace {

// The fake's log, emptied; its lines without the "rank R " prefix are read by calls().
std::string fresh_log() {
  const std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/test_nccl_on_fake." +
                           std::to_string(getpid()) + ".log";
  std::remove(path.c_str());
  setenv("FAKE_NCCL_LOG", path.c_str(), 1);
  for (const char* setting : {"FAKE_NCCL_ASYNC_ERROR", "FAKE_NCCL_HANG", "OMPI_COMM_WORLD_RANK"}) unsetenv(setting);
  return path;
}

std::vector<std::string> calls(const std::string& log) {
  std::vector<std::string> lines;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) lines.push_back(line.substr(line.find(' ', 5) + 1));
  return lines;
}

// The sum of `spans`, then the wait for it, as one call.
void sum_scaled(nccl::Communicator& comm, std::span<const nccl::DeviceFloats> spans, float weight,
                const cuda::Stream& stream) {
  comm.start_sum(spans, weight, stream);
  comm.wait(stream);
}

// " on STREAM" as the fake NCCL logs an all-reduce's stream.
std::string on(const cuda::Stream& stream) {
  char text[64];
  std::snprintf(text, sizeof text, " on %p", static_cast<void*>(stream.get()));
  return text;
}

// What one rank's MPI broadcast does, within one process: rank 0's bytes kept, then given.
struct Broadcast {
  std::vector<std::byte> sent;
  int calls = 0;
  void operator()(std::span<std::byte> bytes) {
    ++calls;
    if (sent.empty())
      sent.assign(bytes.begin(), bytes.end());
    else
      std::copy(sent.begin(), sent.end(), bytes.begin());
  }
};

}  // namespace

TEST_CASE("rank 0 alone makes the unique id, and every rank joins with it") {
  const std::string log = fresh_log();
  cuda::Device device;
  Broadcast broadcast;
  {
    nccl::Communicator rank0(0, 2, std::ref(broadcast), 1s);
    nccl::Communicator rank1(1, 2, std::ref(broadcast), 1s);
  }
  CHECK(broadcast.calls == 2);
  REQUIRE(broadcast.sent.size() == 128);
  const std::string id(reinterpret_cast<const char*>(broadcast.sent.data()));
  CHECK(id.rfind("fake-nccl-id ", 0) == 0);
  CHECK(calls(log) == std::vector<std::string>{"GetUniqueId " + id, "CommInitRank rank 0 nranks 2 device 0 id " + id,
                                               "CommInitRank rank 1 nranks 2 device 0 id " + id, "CommDestroy rank 1",
                                               "CommDestroy rank 0"});
}

TEST_CASE("a sum is one group of in-place float32 all-reduces pre-multiplied by the weight on the stream given, "
          "then error polls") {
  const std::string log = fresh_log();
  cuda::Device device;
  cuda::Stream stream(device);
  cuda::DeviceBuffer buffer(device, 64 * sizeof(float));
  Broadcast broadcast;
  nccl::Communicator comm(0, 1, std::ref(broadcast), 1s);
  const nccl::DeviceFloats spans[] = {{buffer.get(), 10}, {buffer.get() + 40 * sizeof(float), 20}};
  sum_scaled(comm, spans, 0.25f, stream);
  const std::vector<std::string> lines = calls(log);
  REQUIRE(lines.size() == 9);
  CHECK(std::vector(lines.begin() + 2, lines.end()) ==
        std::vector<std::string>{"RedOpCreatePreMulSum 0.25 float32", "GroupStart",
                                 "AllReduce count 10 float32 premulsum 0.25 in-place grouped" + on(stream),
                                 "AllReduce count 20 float32 premulsum 0.25 in-place grouped" + on(stream), "GroupEnd",
                                 "RedOpDestroy", "CommGetAsyncError 0"});
}

TEST_CASE("an asynchronous error aborts the communicator and names the rank") {
  const std::string log = fresh_log();
  setenv("OMPI_COMM_WORLD_RANK", "3", 1);
  setenv("FAKE_NCCL_ASYNC_ERROR", "3:2", 1);
  cuda::Device device;
  cuda::Stream stream(device);
  cuda::DeviceBuffer buffer(device, 16 * sizeof(float));
  Broadcast broadcast;
  broadcast.sent.resize(128);  // rank 3 receives: rank 0 made the id
  std::snprintf(reinterpret_cast<char*>(broadcast.sent.data()), 128, "fake-nccl-id 1");
  nccl::Communicator comm(3, 4, std::ref(broadcast), 1s);
  const nccl::DeviceFloats spans[] = {{buffer.get(), 16}};
  sum_scaled(comm, spans, 0.5f, stream);
  CHECK_THROWS_WITH(sum_scaled(comm, spans, 0.5f, stream),
                    Catch::Matches("rank 3: NCCL reported an asynchronous error while summing the gradients: unhandled "
                                   "system error.*: fake NCCL: injected asynchronous error.*aborted.*"));
  CHECK(calls(log).back() == "CommAbort rank 3");
  CHECK_THROWS_WITH(sum_scaled(comm, spans, 0.5f, stream), "rank 3: NCCL's communicator was aborted after a failure");
}

TEST_CASE("a sum that does not end within the timeout aborts and names the rank") {
  const std::string log = fresh_log();
  setenv("OMPI_COMM_WORLD_RANK", "0", 1);
  setenv("FAKE_NCCL_HANG", "0:1", 1);
  cuda::Device device;
  cuda::Stream stream(device);
  cuda::DeviceBuffer buffer(device, 16 * sizeof(float));
  Broadcast broadcast;
  nccl::Communicator comm(0, 2, std::ref(broadcast), 200ms);
  const nccl::DeviceFloats spans[] = {{buffer.get(), 16}};
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(sum_scaled(comm, spans, 0.5f, stream),
                    Catch::Matches("rank 0: summing the gradients did not end within 0.2 s \\(RESNETC_NCCL_TIMEOUT\\): "
                                   "another rank hangs or has died.*"));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(calls(log).back() == "CommAbort rank 0");
  CHECK(stream.done());  // the abort ended the hung all-reduce
}

TEST_CASE("a call that NCCL refuses aborts and names the rank") {
  const std::string log = fresh_log();
  cuda::Device device;
  cuda::Stream stream(device);
  cuda::DeviceBuffer buffer(device, 16 * sizeof(float));
  Broadcast broadcast;
  nccl::Communicator comm(0, 1, std::ref(broadcast), 1s);
  const nccl::DeviceFloats empty[] = {{buffer.get(), 0}};
  CHECK_THROWS_WITH(sum_scaled(comm, empty, 1.0f, stream),
                    Catch::Matches("rank 0: ncclAllReduce: invalid argument.*: ncclAllReduce: no data; NCCL's "
                                   "communicator was aborted.*"));
  CHECK(calls(log).back() == "CommAbort rank 0");
}

TEST_CASE("RESNETC_NCCL_TIMEOUT is a number of seconds, 600 when unset") {
  unsetenv("RESNETC_NCCL_TIMEOUT");
  CHECK(nccl::timeout_from_environment() == 600s);
  setenv("RESNETC_NCCL_TIMEOUT", "2.5", 1);
  CHECK(nccl::timeout_from_environment() == 2500ms);
  for (const char* bad : {"soon", "-1", "0", "3s"}) {
    setenv("RESNETC_NCCL_TIMEOUT", bad, 1);
    CHECK_THROWS_WITH(nccl::timeout_from_environment(),
                      std::string("RESNETC_NCCL_TIMEOUT=") + bad + " is not a number of seconds");
  }
  unsetenv("RESNETC_NCCL_TIMEOUT");
}
