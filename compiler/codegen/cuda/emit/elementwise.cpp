// Elementwise kernels: grid-stride loops, 16-byte (float4) loads and stores when the element
// count allows, every shape a constant. The fused maps (relu, add and the other elementwise ops,
// lowered at every level, and the Map kinds' programs), BatchNorm's and the optimizer's
// elementwise passes use this generator.
#include <fmt/format.h>

#include <algorithm>
#include <regex>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"

namespace resnetc::codegen::cuda::detail {
namespace {

bool uses_word(const std::string& code, const std::string& word) {
  return std::regex_search(code, std::regex("\\b" + word + "\\b"));
}

}  // namespace

bool aligned16(const Emitter& e, int buffer) {
  return buffer == kWorkspace || e.plan().buffer(buffer).offset % 16 == 0;
}

std::string elementwise_loop(const Elementwise& k, bool vec, std::string_view total, std::string_view first,
                             std::string_view step) {
  std::string in_loop, out_loop, lane_in, lane_out;
  for (const Elementwise::Stream& s : k.streams) {
    const bool reads = s.mode != Elementwise::Mode::Out, writes = s.mode != Elementwise::Mode::In;
    if (vec) {
      if (reads && s.bf16) {  // four 16-bit elements: two words, the lower element in a word's low half
        in_loop += fmt::format("  const uint2 {0}_4 = reinterpret_cast<const uint2*>({0})[vec];\n", s.name);
        in_loop += fmt::format(
            "  float {0}_a[4] = {{rc_bf16_widen((unsigned short){0}_4.x), "
            "rc_bf16_widen((unsigned short)({0}_4.x >> 16)), rc_bf16_widen((unsigned short){0}_4.y), "
            "rc_bf16_widen((unsigned short)({0}_4.y >> 16))}};\n",
            s.name);
      } else if (reads) {
        in_loop += fmt::format("  const float4 {0}_4 = reinterpret_cast<const float4*>({0})[vec];\n", s.name);
        in_loop += fmt::format("  float {0}_a[4] = {{{0}_4.x, {0}_4.y, {0}_4.z, {0}_4.w}};\n", s.name);
      } else {
        in_loop += fmt::format("  float {}_a[4];\n", s.name);
      }
      lane_in += fmt::format("    {}float {}_v{};\n", writes ? "" : "const ", s.name,
                             reads ? fmt::format(" = {}_a[l]", s.name) : "");
      if (writes) {
        lane_out += fmt::format("    {0}_a[l] = {0}_v;\n", s.name);
        if (s.bf16)
          out_loop += fmt::format(
              "  reinterpret_cast<uint2*>({0})[vec] = make_uint2(rc_bf16_round({0}_a[0]) | "
              "(unsigned)rc_bf16_round({0}_a[1]) << 16, rc_bf16_round({0}_a[2]) | (unsigned)rc_bf16_round({0}_a[3]) "
              "<< 16);\n",
              s.name);
        else
          out_loop += fmt::format(
              "  reinterpret_cast<float4*>({0})[vec] = make_float4({0}_a[0], {0}_a[1], {0}_a[2], {0}_a[3]);\n", s.name);
      }
    } else {
      const std::string element = fmt::format("{}[i]", s.name);
      lane_in += fmt::format("  {}float {}_v{};\n", writes ? "" : "const ", s.name,
                             reads ? fmt::format(" = {}", s.bf16 ? "rc_bf16_widen(" + element + ")" : element) : "");
      const std::string value = s.name + "_v";
      if (writes) lane_out += fmt::format("  {}[i] = {};\n", s.name, s.bf16 ? "rc_bf16_round(" + value + ")" : value);
    }
  }
  std::string code;
  for (size_t start = 0; start < k.code.size();) {
    size_t end = k.code.find('\n', start);
    if (end == std::string::npos) end = k.code.size();
    code += (vec ? "    " : "  ") + k.code.substr(start, end - start) + "\n";
    start = end + 1;
  }
  if (!vec)
    return fmt::format("for (I i = {} * THREADS + threadIdx.x; i < {}; i += {} * THREADS) {{\n", first, total, step) +
           lane_in + code + lane_out + "}\n";
  std::string body = fmt::format("for (I vec = {} * THREADS + threadIdx.x; vec < {} / 4; vec += {} * THREADS) {{\n",
                                 first, total, step);
  body += in_loop;
  body += "#pragma unroll\n  for (int l = 0; l < 4; ++l) {\n";
  if (uses_word(k.code, "i")) body += "    const I i = vec * 4 + l;\n";
  return body + lane_in + code + lane_out + "  }\n" + out_loop + "}\n";
}

void emit_elementwise_kernel(Emitter& e, const Elementwise& kernel) {
  Elementwise k = kernel;
  for (Elementwise::Stream& s : k.streams) s.bf16 = is_bf16(e, s.buffer);
  bool vec = k.vectorize && k.total % 4 == 0;
  for (const Elementwise::Stream& s : k.streams) vec = vec && aligned16(e, s.buffer);  // a view may not be
  const int64_t items = vec ? k.total / 4 : k.total;
  Members m;
  m.text(fmt::format("  using I = {};\n", index_type(std::max(k.max_elements, k.total))));
  m.text(k.members);
  m.constant("TOTAL", k.total).constant("THREADS", 256);

  std::vector<Param> params;
  for (const Elementwise::Stream& s : k.streams)
    params.push_back({s.name,
                      s.mode == Elementwise::Mode::In ? (s.bf16 ? ParamType::InBf16 : ParamType::In)
                                                      : (s.bf16 ? ParamType::OutBf16 : ParamType::Out),
                      s.buffer});
  for (const Param& p : k.extra) params.push_back(p);
  KernelSource s;
  s.family = k.family;
  s.comment = fmt::format("{} ({} elements{})", k.comment, k.total, vec ? ", float4" : "");
  s.members = m.str();
  s.body = k.prologue + elementwise_loop(k, vec, "TOTAL", "(I)blockIdx.x", "(I)gridDim.x");
  s.params = std::move(params);
  s.threads = 256;
  s.grid[0] = e.grid_stride(items, 256);
  e.launch(std::move(s));
}

}  // namespace resnetc::codegen::cuda::detail
