#include "backends/cpu/cpu_precision.h"

#include <fmt/format.h>
#include <llvm/Support/Host.h>

#include <stdexcept>

namespace resnetc::codegen::llvm_backend {

std::optional<std::string> cpu_precision_refusal(plan::Precision precision, const llvm::StringMap<bool>& features) {
  switch (precision) {
    case plan::Precision::Fp32: return std::nullopt;
    case plan::Precision::Tf32:
      return std::string("--precision tf32: TF32 is a format of NVIDIA tensor cores, the CPU has none; use fp32 (the "
                         "CPU's default) or bf16");
    case plan::Precision::Bf16: {
      const auto has = [&](const char* name) {
        auto it = features.find(name);
        return it != features.end() && it->second;
      };
      if (has("avx512bf16") && has("avx512f")) return std::nullopt;
      return std::string("--precision bf16: this CPU lacks avx512_bf16 (the vdpbf16ps instruction of Zen 4 and "
                         "later, Cooper Lake and Sapphire Rapids and later); use fp32");
    }
  }
  return std::nullopt;
}

void check_host_precision(const plan::KernelPlan& plan) {
  if (plan.precision == plan::Precision::Fp32) return;
  llvm::StringMap<bool> features;
  llvm::sys::getHostCPUFeatures(features);  // false (and empty) where LLVM cannot tell: refused below
  if (auto refusal = cpu_precision_refusal(plan.precision, features)) throw std::runtime_error(*refusal);
}

}  // namespace resnetc::codegen::llvm_backend
