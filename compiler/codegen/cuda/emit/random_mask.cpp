// dropout_mask and droppath_mask as elementwise kernels: keep is drawn by the counter-based
// hash of compiler/ir/random_mask.h, written here as the same 32-bit unsigned operations the
// reference executor and the LLVM renderer compute, so the GPU draws the CPU's masks. The key
// is computed once per thread from the rng buffer (seed, step) and the layer's salt.
#include <fmt/format.h>

#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"
#include "compiler/ir/random_mask.h"

namespace resnetc::codegen::cuda::detail {
namespace {

namespace rm = ir::random_mask;

std::string hash_helpers() {
  return fmt::format(
      "  static __device__ __forceinline__ unsigned mix(unsigned x) {{\n"
      "    x ^= x >> 16;\n"
      "    x *= {}u;\n"
      "    x ^= x >> 15;\n"
      "    x *= {}u;\n"
      "    x ^= x >> 16;\n"
      "    return x;\n"
      "  }}\n"
      "  static __device__ __forceinline__ bool keeps(unsigned key, unsigned long long index) {{\n"
      "    const unsigned bits = mix(mix(key ^ (unsigned)index) ^ (unsigned)(index >> 32));\n"
      // "+ 1 >", not ">=": THRESHOLD is 0 at p = 0, where NVRTC warns that unsigned >= 0 is pointless.
      "    return (bits >> 8) + 1u > THRESHOLD;\n"
      "  }}\n",
      rm::kMul1, rm::kMul2);
}

}  // namespace

void emit_random_mask(Emitter& e) {
  using Mode = Elementwise::Mode;
  const bool per_sample = e.kernel().kind == ir::OpKind::DropPathMask;
  if (!per_sample && e.kernel().kind != ir::OpKind::DropoutMask)
    throw std::invalid_argument("CUDA emitter: not a mask op: " + e.where());
  const ir::Attrs& a = e.attrs();
  const ir::Dims& shape = e.out().shape;
  Elementwise w;
  w.total = ir::numel(shape);
  w.max_elements = w.total;
  Members m;
  m.text(fmt::format("  static constexpr unsigned THRESHOLD = {}u, SALT = {}u;\n", rm::threshold(a.rate),
                     static_cast<uint32_t>(a.salt)));
  m.constant_f("SCALE", static_cast<double>(rm::scale(a.rate)));
  if (per_sample) m.constant("PER_SAMPLE", w.total / shape[0]);
  m.text(hash_helpers());
  w.members = m.str();
  w.family = per_sample ? "droppath_mask" : "dropout_mask";
  w.comment = fmt::format("y = x * keep / (1 - {}), keep drawn per {}, {}", a.rate, per_sample ? "sample" : "element",
                          ir::format_dims(shape));
  w.streams = {{"x", Mode::In, e.in_index(0)}, {"y", Mode::Out, e.out_index()}};
  w.extra = {{"rng", ParamType::InInt, e.in_index(1)}};
  w.prologue = "const unsigned key = mix((unsigned)rng[0] ^ mix((unsigned)rng[1] ^ mix(SALT)));\n";
  w.code = per_sample ? "y_v = keeps(key, (unsigned long long)(i / PER_SAMPLE)) ? x_v * SCALE : 0.0f;"
                      : "y_v = keeps(key, (unsigned long long)i) ? x_v * SCALE : 0.0f;";
  emit_elementwise_kernel(e, w);
}

}  // namespace resnetc::codegen::cuda::detail
