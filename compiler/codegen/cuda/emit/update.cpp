// The updates, in place: the optimizer, PyTorch's SGD (dampening 0, weight decay added to the
// gradient, Nesterov or not) or AdamW, elementwise, the learning rate (and AdamW's step count)
// read from its [1] buffer once per thread; and BatchNorm's running statistics, one thread per
// channel.
// A group of updates (made by the passes) is one launch: each member a range of blocks that
// runs the single update's loop over that member (emit_update_group).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "compiler/codegen/cuda/emit/emitter.h"

namespace resnetc::codegen::cuda::detail {
namespace {

// `if (b < FIRST) ... else ...` down to one member, so a block finds its member in
// log2(members) uniform branches.
std::string member_tree(const std::vector<GroupMember>& group, const std::vector<int64_t>& first, size_t lo,
                        size_t hi) {
  if (hi - lo == 1)
    return subst(group[lo].call, {{"B", first[lo] == 0 ? std::string("b") : fmt::format("b - {}", first[lo])}});
  const size_t mid = (lo + hi) / 2;
  return fmt::format("if (b < {}) {{\n{}\n}} else {{\n{}\n}}", first[mid],
                     indent_lines(member_tree(group, first, lo, mid), "  "),
                     indent_lines(member_tree(group, first, mid, hi), "  "));
}

void emit_group_launch(Emitter& e, const UpdateGroup& g, size_t lo, size_t hi) {
  std::vector<GroupMember> part(g.group.begin() + static_cast<std::ptrdiff_t>(lo),
                                g.group.begin() + static_cast<std::ptrdiff_t>(hi));
  std::vector<int64_t> first;
  int64_t blocks = 0;
  KernelSource s;
  s.params = g.shared;
  for (const GroupMember& m : part) {
    first.push_back(blocks);
    blocks += m.blocks;
    s.params.insert(s.params.end(), m.params.begin(), m.params.end());
  }
  if (blocks > 0x7fffffff) throw std::invalid_argument(fmt::format("CUDA emitter: {}: over 2^31 blocks", e.where()));
  s.family = g.family;
  s.comment =
      lo == 0 && hi == g.group.size()
          ? fmt::format("{}: {} members in {} blocks", g.comment, part.size(), blocks)
          : fmt::format("{}: members {} to {} of {}, in {} blocks", g.comment, lo, hi - 1, g.group.size(), blocks);
  s.members = g.members;
  s.body = g.prologue + "const int b = blockIdx.x;\n" + member_tree(part, first, 0, part.size()) + "\n";
  s.threads = g.threads;
  s.grid[0] = static_cast<unsigned>(blocks);
  e.launch(std::move(s));
}

}  // namespace

void emit_update_group(Emitter& e, const UpdateGroup& g) {
  size_t lo = 0, params = g.shared.size();
  for (size_t m = 0; m < g.group.size(); ++m) {
    const size_t more = g.group[m].params.size();
    if (m > lo && params + more > kMaxKernelParams) {
      emit_group_launch(e, g, lo, m);
      lo = m;
      params = g.shared.size();
    }
    params += more;
  }
  if (lo < g.group.size()) emit_group_launch(e, g, lo, g.group.size());
}

namespace {

// BatchNorm running statistics from a [2, C] stats buffer: one thread per channel.
void emit_running_update(Emitter& e) {
  const ir::Attrs& a = e.attrs();
  const ir::Dims& x = a.shape;
  const int64_t c = x[1], n = x[0] * x[2] * x[3];
  if (n < 2)
    throw std::invalid_argument(fmt::format(
        "CUDA emitter: {}: the running variance needs more than 1 value per channel, but the input {} has 1",
        e.where(), ir::format_dims(x)));
  Members m;
  m.constant("C", c).constant("THREADS", 128);
  m.constant_f("MOMENTUM", a.momentum).constant_f("KEEP", 1.0 - a.momentum);
  m.constant_f("UNBIAS", static_cast<double>(n) / static_cast<double>(n - 1));
  KernelSource s;
  s.family = "bn_running_update";
  s.comment =
      fmt::format("BatchNorm running statistics, momentum {}, variance unbiased by n/(n-1), n = {}", a.momentum, n);
  s.members = m.str();
  s.body =
      "const int c = blockIdx.x * THREADS + threadIdx.x;\n"
      "if (c < C) {\n"
      "  rm[c] = KEEP * rm[c] + MOMENTUM * stats[c];\n"
      "  rv[c] = KEEP * rv[c] + MOMENTUM * (stats[C + c] * UNBIAS);\n"
      "}\n";
  s.params = {{"rm", ParamType::Out, e.in_index(0)},
              {"rv", ParamType::Out, e.in_index(1)},
              {"stats", ParamType::In, e.in_index(2)}};
  s.threads = 128;
  s.grid[0] = static_cast<unsigned>(ceil_div(c, 128));
  e.launch(std::move(s));
}

// A group of them (made by the passes), (running_mean, running_var, stats) per member and
// counts[m] member m's n: one launch, each member a range of blocks.
void emit_running_update_group(Emitter& e) {
  const plan::Kernel& k = e.kernel();
  const ir::Attrs& a = k.attrs;
  UpdateGroup g;
  g.family = "bn_running_update_group";
  g.comment = fmt::format("BatchNorm running statistics, momentum {}, variance unbiased by n/(n-1)", a.momentum);
  g.threads = 128;
  const char* names[3] = {"rm", "rv", "stats"};
  for (size_t first = 0; first + 3 <= k.inputs.size(); first += 3) {
    const size_t member = first / 3;
    const int64_t c = e.in(first).shape.at(0), n = a.counts.at(member);
    if (n < 2)
      throw std::invalid_argument(fmt::format(
          "CUDA emitter: {}: the running variance of member {} needs more than 1 value per channel, but n = {}",
          e.where(), member, n));
    GroupMember gm;
    for (size_t j = 0; j < 3; ++j)
      gm.params.push_back({fmt::format("{}{}", names[j], member),
                           ir::writes_input(k.kind, first + j) ? ParamType::Out : ParamType::In,
                           e.in_index(first + j)});
    gm.blocks = ceil_div(c, 128);
    gm.call = fmt::format("member<{0}>(rm{2}, rv{2}, stats{2}, {1}, $B);", c,
                          float_literal(static_cast<double>(n) / static_cast<double>(n - 1)), member);
    g.group.push_back(std::move(gm));
  }
  Members m;
  m.constant("THREADS", 128).constant_f("MOMENTUM", a.momentum).constant_f("KEEP", 1.0 - a.momentum);
  // One member's C channels, one thread each, by its blocks (`block` the index among them).
  m.text(
      "  template <int C>\n"
      "  static __device__ __forceinline__ void member(float* __restrict__ rm, float* __restrict__ rv,\n"
      "                                                const float* __restrict__ stats, float unbias,\n"
      "                                                int block) {\n"
      "    const int c = block * THREADS + threadIdx.x;\n"
      "    if (c < C) {\n"
      "      rm[c] = KEEP * rm[c] + MOMENTUM * stats[c];\n"
      "      rv[c] = KEEP * rv[c] + MOMENTUM * (stats[C + c] * unbias);\n"
      "    }\n"
      "  }\n");
  g.members = m.str();
  emit_update_group(e, g);
}

}  // namespace

void emit_update(Emitter& e) {
  const plan::Kernel& k = e.kernel();
  if (k.kind == ir::OpKind::BnRunningUpdate) return emit_running_update(e);
  if (k.kind == ir::OpKind::BnRunningUpdateGroup) return emit_running_update_group(e);
  const ir::Attrs& a = k.attrs;
  using Mode = Elementwise::Mode;
  const bool adamw = k.kind == ir::OpKind::AdamwUpdate || k.kind == ir::OpKind::AdamwUpdateGroup;
  const bool group = k.kind == ir::OpKind::SgdUpdateGroup || k.kind == ir::OpKind::SgdMomentumUpdateGroup ||
                     k.kind == ir::OpKind::AdamwUpdateGroup;
  const bool momentum = k.kind == ir::OpKind::SgdMomentumUpdate || k.kind == ir::OpKind::SgdMomentumUpdateGroup;
  if (!group && k.kind != ir::OpKind::SgdUpdate && !momentum && !adamw)
    throw std::invalid_argument("CUDA emitter: not an update: " + e.where());
  Elementwise w;
  Members m;
  if (a.weight_decay != 0) m.constant_f("WEIGHT_DECAY", a.weight_decay);
  const std::string decay = a.weight_decay != 0 ? " + WEIGHT_DECAY * p_v" : "";
  w.prologue = "const float rate = lr[0];\n";
  // The per-thread scalars the code reads, passed on to a group's member functions.
  std::vector<std::string> scalars{"rate"};
  if (adamw) {
    // The bias corrections in double, as PyTorch computes them in Python: step_size = lr / (1 - beta1^t).
    m.constant_f("BETA1", a.momentum).constant_f("BETA2", a.beta2).constant_f("EPS", a.eps);
    m.constant_d("LOG_BETA1", std::log(a.momentum)).constant_d("LOG_BETA2", std::log(a.beta2));
    w.prologue +=
        "const double t = (double)step[0];\n"
        "const float step_size = (float)((double)rate / (1.0 - exp(t * LOG_BETA1)));\n"
        "const float inv_bc2 = (float)(1.0 / sqrt(1.0 - exp(t * LOG_BETA2)));\n";
    scalars = {"rate", "step_size", "inv_bc2"};
    w.family = "adamw";
    w.comment = fmt::format("AdamW: p *= 1 - lr * {}; m, v with betas ({}, {}); p -= lr / (1 - beta1^t) * m / "
                            "(sqrt(v / (1 - beta2^t)) + {})",
                            a.weight_decay, a.momentum, a.beta2, a.eps);
    w.streams = {{"p", Mode::InOut, -1}, {"g", Mode::In, -1}, {"avg", Mode::InOut, -1}, {"sq", Mode::InOut, -1}};
    w.code = std::string(a.weight_decay != 0 ? "p_v *= 1.0f - rate * WEIGHT_DECAY;\n" : "") +
             "avg_v = BETA1 * avg_v + (1.0f - BETA1) * g_v;\n"
             "sq_v = BETA2 * sq_v + (1.0f - BETA2) * (g_v * g_v);\n"
             "p_v -= step_size * avg_v / (sqrtf(sq_v) * inv_bc2 + EPS);";
  } else if (momentum) {
    m.constant_f("MOMENTUM", a.momentum);
    w.family = a.nesterov ? "sgd_nesterov" : "sgd_momentum";
    w.streams = {{"p", Mode::InOut, -1}, {"g", Mode::In, -1}, {"v", Mode::InOut, -1}};
    if (a.nesterov) {
      w.comment = fmt::format("SGD with Nesterov momentum: d = g + {} * p; v = {} * v + d; p -= lr * (d + {} * v)",
                              a.weight_decay, a.momentum, a.momentum);
      w.code = "const float d_v = g_v" + decay + ";\nv_v = MOMENTUM * v_v + d_v;\np_v -= rate * (d_v + MOMENTUM * v_v);";
    } else {
      w.comment = fmt::format("SGD with momentum: v = {} * v + g + {} * p; p -= lr * v", a.momentum, a.weight_decay);
      w.code = "v_v = MOMENTUM * v_v + g_v" + decay + ";\np_v -= rate * v_v;";
    }
  } else {
    w.family = "sgd";
    w.comment = fmt::format("SGD: p -= lr * (g + {} * p)", a.weight_decay);
    w.streams = {{"p", Mode::InOut, -1}, {"g", Mode::In, -1}};
    w.code = "p_v -= rate * (g_v" + decay + ");";
  }
  if (!group) {
    w.streams[0].buffer = e.in_index(0);
    w.streams[1].buffer = e.in_index(1);
    if (momentum) w.streams[2].buffer = e.in_index(3);
    if (adamw) {
      w.streams[2].buffer = e.in_index(4);
      w.streams[3].buffer = e.in_index(5);
    }
    w.total = ir::numel(e.in(0).shape);
    w.max_elements = w.total;
    w.extra = {{"lr", ParamType::In, e.in_index(2)}};
    if (adamw) w.extra.push_back({"step", ParamType::In, e.in_index(3)});
    w.members = m.str();
    emit_elementwise_kernel(e, w);
    return;
  }

  // A group: lr (and AdamW's step), then (param, grad[, velocity]) or (param, grad, exp_avg,
  // exp_avg_sq) per member; each member runs the single update's loop, float4 or not, over its
  // own range of blocks.
  const size_t stride = w.streams.size();
  const size_t lead = adamw ? 2 : 1;
  UpdateGroup g;
  g.family = w.family + "_group";
  g.comment = w.comment;
  g.shared = {{"lr", ParamType::In, e.in_index(0)}};
  if (adamw) g.shared.push_back({"step", ParamType::In, e.in_index(1)});
  g.prologue = w.prologue;
  int64_t largest = 0;
  bool scalar = false, vector = false;
  for (size_t first = lead; first + stride <= k.inputs.size(); first += stride) {
    const size_t member = (first - lead) / stride;
    const int64_t n = ir::numel(e.in(first).shape);
    largest = std::max(largest, n);
    GroupMember gm;
    bool vec = n % 4 == 0;
    for (size_t j = 0; j < stride; ++j) {
      vec = vec && aligned16(e, e.in_index(first + j));
      gm.params.push_back({fmt::format("{}{}", w.streams[j].name, member),
                           ir::writes_input(k.kind, first + j) ? ParamType::Out : ParamType::In,
                           e.in_index(first + j)});
    }
    (vec ? vector : scalar) = true;
    gm.blocks = e.grid_stride(vec ? n / 4 : n, 256);
    std::string args;
    for (const Param& p : gm.params) args += p.name + ", ";
    for (const std::string& scalar_name : scalars) args += scalar_name + ", ";
    gm.call = fmt::format("{}<{}, {}>({}$B);", vec ? "member4" : "member", n, gm.blocks, args);
    g.group.push_back(std::move(gm));
  }
  Members h;
  h.text(fmt::format("  using I = {};\n", index_type(largest))).text(m.str()).constant("THREADS", 256);
  std::string signature;
  for (const Elementwise::Stream& s : w.streams)
    signature +=
        fmt::format("{} {}, ", s.mode == Mode::In ? "const float* __restrict__" : "float* __restrict__", s.name);
  for (const std::string& scalar_name : scalars) signature += fmt::format("float {}, ", scalar_name);
  // One member's N elements, by the BLOCKS blocks of its range (`block` the index among them).
  for (bool vec : {false, true})
    if (vec ? vector : scalar)
      h.text(
          fmt::format("  template <I N, int BLOCKS>\n"
                      "  static __device__ __forceinline__ void {}({}int block) {{\n{}\n  }}\n",
                      vec ? "member4" : "member", signature,
                      indent_lines(elementwise_loop(w, vec, "N", "(I)block", "(I)BLOCKS"), "    ")));
  g.members = h.str();
  emit_update_group(e, g);
}

}  // namespace resnetc::codegen::cuda::detail
