#pragma once
// What the trainer needs from a backend: a compiled kernel plan whose buffers it can write
// and read, and that it can run. The CPU backend (LLVM) implements it today; the CUDA backend
// implements the same, so the training loop is written once.
#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "compiler/plan/kernel_plan.h"

namespace resnetc::train {

class PlanExecutor {
 public:
  virtual ~PlanExecutor() = default;
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
