#pragma once
// What the trainer needs from a backend: a compiled kernel plan whose buffers it can write
// and read, and that it can run. The CPU backend (LLVM) implements it today; the CUDA backend
// implements the same, so the training loop is written once.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "compiler/plan/kernel_plan.h"
#include "runtime/data/dataset.h"

namespace resnetc::train {

// Fills a plan's input and labels with the examples at given indices of one split, from data
// the backend keeps in its own memory (the GPU's: only the indices cross the bus).
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // indices.size() is the plan's batch.
  virtual void feed(std::span<const uint32_t> indices) = 0;
};

class PlanExecutor {
 public:
  virtual ~PlanExecutor() = default;
  // A BatchSource for `split` (its images resized to the plan's input), or null when the
  // backend has none and the trainer assembles batches on the host.
  virtual std::unique_ptr<BatchSource> batch_source(const data::Split& /*split*/) { return nullptr; }
  virtual void write(int buffer, std::span<const std::byte> bytes) = 0;  // the buffer's full size
  virtual void read(int buffer, std::span<std::byte> bytes) = 0;
  virtual void run() = 0;  // every kernel in order
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string device_name() const = 0;  // "cpu", "cuda:0 (NVIDIA H100)"
  // The plan must outlive the executor.
  virtual std::unique_ptr<PlanExecutor> compile(const plan::KernelPlan& plan) = 0;
};

// Typed helpers over PlanExecutor.
template <typename T>
void write_buffer(PlanExecutor& e, int buffer, std::span<const T> values) {
  e.write(buffer, std::as_bytes(values));
}
template <typename T>
void read_buffer(PlanExecutor& e, int buffer, std::span<T> values) {
  e.read(buffer, std::as_writable_bytes(values));
}

}  // namespace resnetc::train
