#include "compiler/plan/precision.h"

namespace resnetc::plan {

std::string_view precision_name(Precision p) {
  switch (p) {
    case Precision::Fp32: return "fp32";
    case Precision::Tf32: return "tf32";
    case Precision::Bf16: return "bf16";
  }
  return "?";
}

std::optional<Precision> parse_precision(std::string_view name) {
  for (Precision p : {Precision::Fp32, Precision::Tf32, Precision::Bf16})
    if (precision_name(p) == name) return p;
  return std::nullopt;
}

}  // namespace resnetc::plan
