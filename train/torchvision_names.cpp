#include "train/torchvision_names.h"

#include <fmt/format.h>

#include <charconv>
#include <map>
#include <set>
#include <stdexcept>

#include "compiler/ir/compile_error.h"

namespace resnetc::train {
namespace {

// Where a layer sits, read from its hierarchical name (dsl/lower.cpp names them).
struct Place {
  enum Section { Stem, Block, Shortcut, Head, Elsewhere } section = Elsewhere;
  int64_t stage = 0, block = 0;
  std::string scope;  // "stage2.block0", the layers numbered together
};

std::vector<std::string_view> split(std::string_view name) {
  std::vector<std::string_view> parts;
  for (size_t begin = 0;;) {
    const size_t dot = name.find('.', begin);
    parts.push_back(name.substr(begin, dot - begin));
    if (dot == std::string_view::npos) return parts;
    begin = dot + 1;
  }
}

// The number after `word` in "stage12", or none.
std::optional<int64_t> numbered(std::string_view part, std::string_view word) {
  if (!part.starts_with(word) || part.size() == word.size()) return std::nullopt;
  int64_t n = 0;
  const char* end = part.data() + part.size();
  auto [at, error] = std::from_chars(part.data() + word.size(), end, n);
  if (error != std::errc() || at != end) return std::nullopt;
  return n;
}

Place place_of(const std::string& op_name) {
  const std::vector<std::string_view> parts = split(op_name);
  Place p;
  if (parts.size() == 2 && parts[0] == "stem") p.section = Place::Stem;
  if (parts.size() == 2 && parts[0] == "head") p.section = Place::Head;
  const auto stage = parts.size() >= 3 ? numbered(parts[0], "stage") : std::nullopt;
  const auto block = parts.size() >= 3 ? numbered(parts[1], "block") : std::nullopt;
  if (stage && block && parts.size() == 3) p.section = Place::Block;
  if (stage && block && parts.size() == 4 && parts[2] == "shortcut") p.section = Place::Shortcut;
  if (p.section == Place::Block || p.section == Place::Shortcut) {
    p.stage = *stage;
    p.block = *block;
  }
  p.scope = op_name.substr(0, op_name.rfind('.'));
  return p;
}

bool has_tensors(const ir::Graph& g, const ir::Op& op) {
  for (ir::ValueId v : op.inputs) {
    const ir::ValueRole role = g.value(v).role;
    if (role == ir::ValueRole::Parameter || role == ir::ValueRole::State) return true;
  }
  return false;
}

// Walks the graph's layers in order, which is the modules' order in torchvision (a block's
// branch, then its downsample), naming each layer with tensors as torchvision's ResNet does.
class Namer {
 public:
  explicit Namer(const ir::Graph& g) : g_(g) {}

  // torchvision's module name for op `id` ("layer2.0.conv1"), none for a layer without tensors,
  // or a CompileError saying why it has none. Called for every op, in order.
  std::optional<std::string> module(ir::OpId id) {
    const ir::Op& op = g_.op(id);
    const Place p = place_of(op.name);
    const int64_t position = ops_in_[p.scope]++;
    if (!has_tensors(g_, op)) return std::nullopt;
    if (op.kind != ir::OpKind::Conv2d && op.kind != ir::OpKind::BatchNorm && op.kind != ir::OpKind::Linear)
      refuse(op, fmt::format("it has no {} layer", ir::op_kind_name(op.kind)));
    switch (p.section) {
      case Place::Stem: return stem(op, id);
      case Place::Block: return block(op, id, p);
      case Place::Shortcut: return fmt::format("layer{}.{}.downsample.{}", p.stage, p.block, position);
      case Place::Head: return head(op);
      case Place::Elsewhere: break;
    }
    refuse(op, "it is not a layer of the stem, of a block's branch or shortcut, or of the head (a gate's, for one), "
               "and torchvision's ResNet has layers only there");
  }

 private:
  [[noreturn]] static void refuse(const ir::Op& op, const std::string& why) {
    throw ir::CompileError(ir::CompileError::Phase::Graph, op.loc,
                           fmt::format("layer '{}' has no counterpart in torchvision's ResNet: {}", op.name, why));
  }

  // The torchvision name of a BatchNorm: bnK after convK, which must be of its own section.
  std::string bn_after_conv(const ir::Op& op, const std::string& scope, std::string_view where) {
    const ir::Value& x = g_.value(op.inputs[0]);
    const auto conv = x.producer >= 0 ? conv_number_.find(x.producer) : conv_number_.end();
    if (conv == conv_number_.end() || place_of(g_.op(x.producer).name).scope != scope)
      refuse(op, fmt::format("each BatchNorm of its {} follows a convolution (bnK after convK), and this one "
                             "normalizes '{}'",
                             where, x.name));
    if (!normalized_.insert(x.producer).second) refuse(op, fmt::format("'{}' is normalized twice", x.name));
    return fmt::format("bn{}", conv->second);
  }

  std::string stem(const ir::Op& op, ir::OpId id) {
    if (op.kind == ir::OpKind::Conv2d) {
      if (++stem_convs_ > 1) refuse(op, "its stem has one convolution (conv1)");
      conv_number_[id] = 1;
      return "conv1";
    }
    if (op.kind == ir::OpKind::BatchNorm) return bn_after_conv(op, "stem", "stem");
    refuse(op, "its stem has a convolution and a BatchNorm only (conv1, bn1)");
  }

  std::string block(const ir::Op& op, ir::OpId id, const Place& p) {
    const std::string prefix = fmt::format("layer{}.{}", p.stage, p.block);
    if (op.kind == ir::OpKind::Conv2d) {
      const int number = ++convs_in_[p.scope];
      conv_number_[id] = number;
      return fmt::format("{}.conv{}", prefix, number);
    }
    if (op.kind == ir::OpKind::BatchNorm) return fmt::format("{}.{}", prefix, bn_after_conv(op, p.scope, "blocks"));
    refuse(op, "its blocks have convolutions and BatchNorms only");
  }

  std::string head(const ir::Op& op) {
    if (op.kind != ir::OpKind::Linear) refuse(op, "its head has one fc layer and no other layer with weights");
    if (++head_fcs_ > 1) refuse(op, "its head has one fc layer");
    return "fc";
  }

  const ir::Graph& g_;
  int stem_convs_ = 0, head_fcs_ = 0;
  std::map<std::string, int64_t> ops_in_;  // scope -> its layers so far (a downsample's index)
  std::map<std::string, int> convs_in_;    // scope -> its convolutions so far
  std::map<ir::OpId, int> conv_number_;    // convolution -> K of its torchvision convK
  std::set<ir::OpId> normalized_;          // convolutions a BatchNorm follows
};

}  // namespace

TorchvisionNames::TorchvisionNames(const ir::Graph& forward) {
  Namer namer(forward);
  for (size_t i = 0; i < forward.ops.size(); ++i) {
    const ir::Op& op = forward.ops[i];
    const std::optional<std::string> module = namer.module(static_cast<ir::OpId>(i));
    if (!module) continue;
    for (ir::ValueId v : op.inputs) {
      const ir::Value& value = forward.value(v);
      if (value.role != ir::ValueRole::Parameter && value.role != ir::ValueRole::State) continue;
      if (!value.name.starts_with(op.name + "."))
        throw std::logic_error(fmt::format("tensor '{}' is not named after its layer '{}'", value.name, op.name));
      entries_.push_back({fmt::format("{}.{}", *module, value.name.substr(op.name.size() + 1)), value.name});
    }
    if (op.kind == ir::OpKind::BatchNorm) entries_.push_back({*module + ".num_batches_tracked", ""});
  }
  for (size_t i = 0; i < entries_.size(); ++i) {
    by_torchvision_.emplace(entries_[i].torchvision, i);
    if (!entries_[i].resnetc.empty()) by_resnetc_.emplace(entries_[i].resnetc, i);
  }
}

std::optional<std::string_view> TorchvisionNames::to_torchvision(std::string_view resnetc) const {
  const auto it = by_resnetc_.find(resnetc);
  if (it == by_resnetc_.end()) return std::nullopt;
  return entries_[it->second].torchvision;
}

std::optional<std::string_view> TorchvisionNames::to_resnetc(std::string_view torchvision) const {
  const auto it = by_torchvision_.find(torchvision);
  if (it == by_torchvision_.end() || entries_[it->second].resnetc.empty()) return std::nullopt;
  return entries_[it->second].resnetc;
}

bool TorchvisionNames::is_batch_counter(std::string_view torchvision) {
  return torchvision.ends_with(".num_batches_tracked");
}

}  // namespace resnetc::train
