// The op table's invariants: every kind has one row with a unique name that round-trips,
// arity and writes are consistent, and the attribute schema is well formed.
#include <catch2/catch.hpp>

#include <limits>
#include <set>
#include <stdexcept>
#include <vector>
#include <string_view>

#include "compiler/ir/channel_reduction.h"
#include "compiler/ir/ops.h"
#include "compiler/ir/update_rule.h"
#include "compiler/ir/row_reduction.h"
#include "compiler/ir/window_reduction.h"

namespace resnetc::ir {
namespace {

std::vector<OpKind> all_kinds() {
  std::vector<OpKind> kinds;
  for (int k = 0; k <= static_cast<int>(kLastOpKind); ++k) kinds.push_back(static_cast<OpKind>(k));
  return kinds;
}

TEST_CASE("every op kind has a unique name that op_kind_from_name maps back") {
  std::set<std::string_view> names;
  for (OpKind kind : all_kinds()) {
    REQUIRE(is_known_op_kind(kind));
    CHECK(op_info(kind).kind == kind);
    const std::string_view name = op_kind_name(kind);
    CHECK_FALSE(name.empty());
    CHECK(names.insert(name).second);
    CHECK(op_kind_from_name(name) == kind);
  }
  CHECK_FALSE(op_kind_from_name("conv").has_value());
  CHECK_FALSE(op_kind_from_name("").has_value());
  CHECK_FALSE(is_known_op_kind(static_cast<OpKind>(static_cast<int>(kLastOpKind) + 1)));
  CHECK(op_skeleton(static_cast<OpKind>(static_cast<int>(kLastOpKind) + 1)) == Skeleton::None);  // no kernel
}

TEST_CASE("updates write only their data inputs and variadic kinds take members") {
  for (OpKind kind : all_kinds()) {
    const OpInfo& row = op_info(kind);
    CHECK(row.lead_writes >> row.lead == 0);  // no bit beyond the lead inputs
    if (row.group == 0) CHECK(row.group_writes == 0);
    CHECK(is_variadic(kind) == (row.group != 0));
    bool writes_any = false;
    for (size_t k = 0; k < 12; ++k) writes_any = writes_any || writes_input(kind, k);
    CHECK(is_update(kind) == writes_any);
  }
  CHECK(writes_input(OpKind::SgdMomentumUpdate, 0));
  CHECK_FALSE(writes_input(OpKind::SgdMomentumUpdate, 1));
  CHECK(writes_input(OpKind::SgdMomentumUpdate, 3));
  // lr, then (param, grad, velocity) per member.
  CHECK_FALSE(writes_input(OpKind::SgdMomentumUpdateGroup, 0));
  CHECK(writes_input(OpKind::SgdMomentumUpdateGroup, 4));
  CHECK_FALSE(writes_input(OpKind::SgdMomentumUpdateGroup, 5));
  CHECK(writes_input(OpKind::SgdMomentumUpdateGroup, 6));
  CHECK_FALSE(is_update(OpKind::Conv2d));
}

TEST_CASE("attributes have unique names and a default Attrs is at every default") {
  std::set<std::string_view> names;
  for (AttrField f : kAllAttrFields) {
    CHECK(names.insert(attr_field_name(f)).second);
    CHECK(attr_is_default(Attrs{}, f));
  }
  CHECK(op_uses_attr(OpKind::Conv2d, AttrField::Groups));
  CHECK_FALSE(op_uses_attr(OpKind::Relu, AttrField::Kernel));
}

}  // namespace
}  // namespace resnetc::ir

namespace resnetc::ir {
namespace {

TEST_CASE("every Window kind, and no other, is a window reduction the renderers render") {
  const Dims x{2, 3, 7, 9};
  for (int k = 0; k <= static_cast<int>(kLastOpKind); ++k) {
    const auto kind = static_cast<OpKind>(k);
    INFO(op_kind_name(kind));
    if (op_skeleton(kind) == Skeleton::Window) {
      CHECK_NOTHROW(window_reduction(kind, Attrs{}, x));
    } else {
      CHECK_THROWS_AS(window_reduction(kind, Attrs{}, x), std::logic_error);
    }
  }
}

TEST_CASE("a pooling kind's reduction: its start, combining opcode and finalization, as PyTorch pools") {
  using F = WindowReduction::Finalize;
  const Dims x{2, 3, 7, 9};
  Attrs a;
  a.kernel[0] = a.kernel[1] = 3;
  a.stride[0] = a.stride[1] = 2;
  a.padding[0] = a.padding[1] = 1;
  const WindowReduction max = window_reduction(OpKind::MaxPool, a, x);
  CHECK((max.combine == FusedOpcode::Max && max.init == -std::numeric_limits<double>::infinity()));
  CHECK((max.finalize == F::None && !max.whole_plane && !max.gradient));
  CHECK((max.kernel[1] == 3 && max.stride[0] == 2 && max.padding[1] == 1));
  const WindowReduction avg = window_reduction(OpKind::AvgPool, a, x);
  CHECK((avg.combine == FusedOpcode::Add && avg.init == 0 && avg.finalize == F::DivideByArea));
  a.ceil_mode = true;  // a window may hang past the padded image: each divides by its count
  CHECK(window_reduction(OpKind::AvgPool, a, x).finalize == F::DivideByCount);
  a.ceil_mode = false;
  a.count_include_pad = false;
  const WindowReduction clipped = window_reduction(OpKind::AvgPoolGrad, a, x);
  CHECK((clipped.finalize == F::DivideByCount && !clipped.count_include_pad && clipped.gradient));
  const WindowReduction global = window_reduction(OpKind::GlobalMaxPool, Attrs{}, x);
  CHECK((global.whole_plane && global.combine == FusedOpcode::Max && global.kernel[0] == 7 && global.kernel[1] == 9));
  CHECK((global.stride[0] == 1 && global.padding[0] == 0));
  const WindowReduction mean = window_reduction(OpKind::GlobalAvgPool, Attrs{}, x);
  CHECK((mean.whole_plane && mean.combine == FusedOpcode::Add && mean.finalize == F::DivideByArea));
}

TEST_CASE("every Loss kind, and no other, is a row reduction the renderers render") {
  const std::vector<Dims> shapes{{3, 7}, {3}};
  for (int k = 0; k <= static_cast<int>(kLastOpKind); ++k) {
    const auto kind = static_cast<OpKind>(k);
    INFO(op_kind_name(kind));
    if (op_skeleton(kind) != Skeleton::Loss) {
      CHECK_THROWS_AS(row_reduction(kind, Attrs{}, shapes), std::logic_error);
      continue;
    }
    const RowReduction r = row_reduction(kind, Attrs{}, shapes);
    CHECK(r.map.empty() != r.total.empty());  // a mean over the rows, or a map at each element
    for (const FusedInstr& in : r.row.instrs) CHECK((in.code != FusedOpcode::Load && in.code != FusedOpcode::OnLabel));
    for (const FusedInstr& in : r.total.instrs) CHECK((in.code == FusedOpcode::LoadChannel ? in.a == r.sums() : true));
    for (size_t f = 0; f < r.folds.size(); ++f)  // a fold reads the folds before it only
      for (const FusedInstr& in : r.folds[f].term.instrs)
        if (in.code == FusedOpcode::LoadChannel) CHECK((in.a == r.folded() && static_cast<size_t>(in.b) < f));
  }
}

TEST_CASE("softmax cross-entropy's row reduction: a maximum, a sum of exp(x - max), label smoothing as PyTorch's") {
  const std::vector<Dims> shapes{{4, 10}, {4}};
  const RowReduction loss = row_reduction(OpKind::SoftmaxCrossEntropy, Attrs{}, shapes);
  REQUIRE(loss.folds.size() == 2);
  CHECK((loss.folds[0].combine == FusedOpcode::Max && loss.folds[0].init == -std::numeric_limits<double>::infinity()));
  CHECK((loss.folds[1].combine == FusedOpcode::Add && loss.folds[1].init == 0));
  CHECK(format_program(loss.folds[1].term) == "{r0=load(0); r1=channel(2,0); r2=sub(r0,r1); r3=exp(r2)} -> r3");
  CHECK(format_program(loss.row) ==
        "{r0=channel(2,0); r1=channel(2,1); r2=log(r1); r3=add(r0,r2); r4=at_label(0); r5=sub(r3,r4)} -> r5");
  CHECK(format_program(loss.total) == "{r0=channel(4,0); r1=const(4); r2=div(r0,r1)} -> r2");  // the mean
  Attrs smooth;
  smooth.label_smoothing = 0.2;
  const RowReduction smoothed = row_reduction(OpKind::SoftmaxCrossEntropy, smooth, shapes);
  REQUIRE(smoothed.folds.size() == 3);  // and the row's sum, weighed by s/K
  CHECK(format_program(smoothed.row) ==
        "{r0=channel(2,0); r1=channel(2,1); r2=log(r1); r3=add(r0,r2); r4=at_label(0); r5=const(0.8); r6=mul(r5,r4); "
        "r7=sub(r3,r6); r8=const(0.02); r9=channel(2,2); r10=mul(r8,r9); r11=sub(r7,r10)} -> r11");
  const RowReduction grad = row_reduction(OpKind::SoftmaxCrossEntropyGrad, smooth, shapes);
  CHECK(grad.folds.size() == 2);
  CHECK(format_program(grad.row) == "{r0=channel(2,0); r1=channel(2,1); r2=log(r1); r3=add(r0,r2)} -> r3");
  // (softmax - q) / N, the target q = (1 - s) onehot + s/K: 1 - 0.2 + 0.02 in double at the label
  CHECK(format_program(grad.map) ==
        "{r0=load(0); r1=channel(3,0); r2=sub(r0,r1); r3=exp(r2); r4=const(0.8200000000000001); r5=const(0.02); r6=on_label(r4,r5); "
        "r7=sub(r3,r6); r8=const(0.25); r9=mul(r7,r8)} -> r9");
}

TEST_CASE("the per-channel kinds, and no other kind, are channel reductions the renderers render") {
  const std::vector<Dims> shapes{{2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3}, {3}};
  const std::set<OpKind> reductions{OpKind::BnStats, OpKind::BnGradWeight, OpKind::BnGradInput, OpKind::BiasGrad};
  const std::set<OpKind> maps{OpKind::BatchNorm, OpKind::BnApply};  // no terms: a finalize and a map
  for (int k = 0; k <= static_cast<int>(kLastOpKind); ++k) {
    const auto kind = static_cast<OpKind>(k);
    INFO(op_kind_name(kind));
    if (reductions.contains(kind) || maps.contains(kind)) {
      CHECK(op_skeleton(kind) == Skeleton::PerChannel);
      const ChannelReduction r = channel_reduction(kind, Attrs{}, shapes);
      CHECK(!r.finalize.reduce);
      CHECK(r.terms.empty() == maps.contains(kind));
      if (maps.contains(kind)) CHECK(!r.map.empty());
      if (reductions.contains(kind)) CHECK(r.terms.reduce);
      for (const FusedInstr& in : r.finalize.instrs) CHECK(in.code != FusedOpcode::Load);  // per channel only
      for (const FusedInstr& in : r.terms.instrs) CHECK(!(in.code == FusedOpcode::LoadChannel && in.a == r.sums()));
      // A map's coefficients are the finalize's results.
      for (const FusedInstr& in : r.map.instrs)
        if (in.code == FusedOpcode::LoadChannel && in.a == r.coefficients())
          CHECK(static_cast<size_t>(in.b) < r.finalize.results.size());
    } else {
      CHECK_THROWS_AS(channel_reduction(kind, Attrs{}, shapes), std::logic_error);
    }
  }
}

TEST_CASE("a per-channel reduction's terms and finalization: bn_stats sums x - shift and its square") {
  const std::vector<Dims> x{{2, 3, 4, 5}};
  const ChannelReduction stats = channel_reduction(OpKind::BnStats, Attrs{}, x);
  CHECK(format_program(stats.terms) == "{r0=load(0); r1=channel(1,0); r2=sub(r0,r1); r3=mul(r2,r2)} -> sum(r2,r3)");
  CHECK(stats.finalize.results.size() == 2);  // [2, C]: the mean, the variance
  CHECK(stats.finalize.instrs[0].code == FusedOpcode::Const);
  CHECK(stats.finalize.instrs[0].value == 1.0 / 40);  // 1 / (N * H * W)
  Attrs eps;
  eps.eps = 0.25;
  const ChannelReduction dw = channel_reduction(OpKind::BnGradWeight, eps, {{{2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3}}});
  CHECK(dw.space_input == 1);
  CHECK(format_program(dw.finalize) ==
        "{r0=channel(4,0); r1=channel(2,1); r2=const(0.25); r3=add(r1,r2); r4=rsqrt(r3); r5=mul(r0,r4)} -> r5");
  const ChannelReduction bias = channel_reduction(OpKind::BiasGrad, Attrs{}, {{{7, 3}}});
  CHECK(format_program(bias.terms) == "{r0=load(0)} -> sum(r0)");
}

TEST_CASE("an update's rule: its scalars, each member's arrays, and what it writes where") {
  for (int k = 0; k <= static_cast<int>(kLastOpKind); ++k) {
    const auto kind = static_cast<OpKind>(k);
    INFO(op_kind_name(kind));
    if (op_skeleton(kind) != Skeleton::Update) CHECK_THROWS_AS(update_rule(kind, Attrs{}, {}), std::logic_error);
  }
  Attrs a;
  a.momentum = 0.9;
  a.nesterov = true;
  a.weight_decay = 0.5;
  // lr, then (param, grad, velocity) per member: each writes the velocity, then the param.
  const UpdateRule sgd = update_rule(OpKind::SgdMomentumUpdateGroup, a, {{{1}, {3}, {3}, {3}, {5}, {5}, {5}}});
  CHECK(sgd.scalars == std::vector<int32_t>{0});
  REQUIRE(sgd.members.size() == 2);
  CHECK(sgd.members[1].arrays == std::vector<int32_t>{4, 5, 6});
  CHECK(sgd.members[1].writes == std::vector<int32_t>{2, 0});
  CHECK(format_program(sgd.members[0].element) ==
        "{r0=load(0); r1=load(1); r2=const(0.5); r3=mul(r2,r0); r4=add(r1,r3); r5=const(0.9); r6=load(2); "
        "r7=mul(r5,r6); r8=add(r7,r4); r9=mul(r5,r8); r10=add(r4,r9); r11=channel(3,0); r12=mul(r11,r10); "
        "r13=sub(r0,r12)} -> r8,r13");
  // AdamW's single form: lr and step are inputs 2 and 3; the prologue makes two more scalars.
  const UpdateRule adamw = update_rule(OpKind::AdamwUpdate, Attrs{}, {{{4}, {4}, {1}, {1}, {4}, {4}}});
  CHECK(adamw.scalars == std::vector<int32_t>{2, 3});
  CHECK(adamw.prologue.results.size() == 2);
  CHECK(adamw.members.at(0).arrays == std::vector<int32_t>{0, 1, 4, 5});
  CHECK(adamw.members.at(0).writes == std::vector<int32_t>{2, 3, 0});
  // A running update's factors come from each member's n; n = 1 is refused.
  Attrs counts;
  counts.counts = {4, 1};
  CHECK_THROWS_WITH(update_rule(OpKind::BnRunningUpdateGroup, counts, {{{2}, {2}, {2, 2}, {3}, {3}, {2, 3}}}),
                    Catch::Contains("more than 1 value per channel, but member 1 has n = 1"));
}

}  // namespace
}  // namespace resnetc::ir
