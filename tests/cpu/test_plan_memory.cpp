// A plan's memory: one allocation carved into its three storages, and an allocation failure
// that says what was being allocated, how much, and what to change.
#include <catch2/catch.hpp>

#include <cstdint>
#include <set>

#include "backends/cpu/plan_memory.h"
#include "runtime/host/memory.h"

using resnetc::cpu::PlanMemory;
namespace plan = resnetc::plan;

namespace {

// A plan with an input batch, a weight and an activation; `arena` sizes its arena.
plan::KernelPlan make_plan(int64_t batch, int64_t arena, bool training) {
  plan::KernelPlan p;
  p.name = "net";
  auto add = [&p](std::string name, plan::Storage storage, int64_t offset, int64_t bytes, resnetc::ir::Dims shape) {
    plan::Buffer b;
    b.name = std::move(name);
    b.storage = storage;
    b.offset = offset;
    b.bytes = bytes;
    b.shape = std::move(shape);
    p.buffers.push_back(b);
    return static_cast<int>(p.buffers.size() - 1);
  };
  p.input = add("input", plan::Storage::Input, 0, batch * 4, {batch, 1});
  add("weight", plan::Storage::Persistent, 0, 64, {16});
  add("activation", plan::Storage::Arena, 64, 128, {32});
  if (training) p.learning_rate = add("lr", plan::Storage::Input, plan::align_buffer(batch * 4), 4, {1});
  p.storage_bytes[static_cast<int>(plan::Storage::Persistent)] = 64;
  p.storage_bytes[static_cast<int>(plan::Storage::Input)] = plan::align_buffer(batch * 4) + 64;
  p.storage_bytes[static_cast<int>(plan::Storage::Arena)] = arena;
  return p;
}

}  // namespace

TEST_CASE("plan memory: storages do not overlap, buffers start zeroed and aligned", "[cpu]") {
  const plan::KernelPlan p = make_plan(8, 192, true);
  PlanMemory memory(p);
  std::set<const float*> starts;
  for (int i = 0; i < static_cast<int>(p.buffers.size()); ++i) {
    const std::span<float> b = memory.buffer(i);
    CHECK(reinterpret_cast<uintptr_t>(b.data()) % plan::kBufferAlignment == 0);
    CHECK(b.size() == static_cast<size_t>(p.buffers[static_cast<size_t>(i)].bytes / 4));
    for (float v : b) CHECK(v == 0.0f);
    starts.insert(b.data());
  }
  CHECK(starts.size() == p.buffers.size());
  // Offsets count from each storage's own start: the arena's buffer at 64 is past the rest.
  CHECK(memory.buffer(2).data() >= memory.buffer(0).data() + 8);
  CHECK(memory.buffer(2).data() >= memory.buffer(1).data() + 16);
}

TEST_CASE("plan memory: too large a plan is an OutOfMemory naming it, its batch and the bytes", "[cpu]") {
  // 1 EiB: more than any machine's memory and address space, so the allocator refuses it.
  const int64_t arena = int64_t{1} << 60;
  CHECK_THROWS_MATCHES(PlanMemory(make_plan(4096, arena, true)), resnetc::host::OutOfMemory,
                       Catch::Message("out of memory allocating the buffers of net's training step at batch 4096 "
                                      "(1.00 EiB); try a smaller --batch"));
  CHECK_THROWS_MATCHES(PlanMemory(make_plan(256, arena, false)), resnetc::host::OutOfMemory,
                       Catch::Message("out of memory allocating the buffers of net's evaluation at batch 256 "
                                      "(1.00 EiB); try a smaller --batch"));
}

TEST_CASE("format_bytes: sizes as a user reads them", "[cpu]") {
  using resnetc::host::format_bytes;
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(1023) == "1023 B");
  CHECK(format_bytes(1536) == "1.5 KiB");
  CHECK(format_bytes(size_t{3} << 20) == "3.0 MiB");
  CHECK(format_bytes(size_t{13} << 30 | size_t{921} << 20) == "13.90 GiB");
}
