#include "dsl/layer_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "compiler/ir/maps.h"
#include "dsl/diagnostics.h"

namespace resnetc::dsl {
namespace {

struct Key {
  std::string_view name, short_name;
};

struct Schema {
  std::string_view word;
  ir::OpKind kind;
  std::string_view positional;  // what the one positional argument means, or "" for none
  std::vector<Key> keys;
  std::vector<std::string_view> flags;
  // The positional argument is a decimal: a probability, or a map kind's first row attribute
  // (ir/maps.h), which it then sets.
  bool real_positional = false;
};

const std::vector<Key> kWindowKeys = {{"kernel", "k"}, {"stride", "s"}, {"padding", "p"}};
// count_include_pad has no alias: it is 1 (PyTorch's default) or 0.
const std::vector<Key> kAvgPoolKeys = {{"kernel", "k"}, {"stride", "s"}, {"padding", "p"}, {"count_include_pad", ""}};

const std::vector<Schema>& schemas() {
  static const std::vector<Schema> all = {
      {"conv", ir::OpKind::Conv2d, "output channels", {{"kernel", "k"}, {"stride", "s"}, {"padding", "p"}, {"groups", "g"}, {"dilation", "d"}}, {"bias"}},
      {"bn", ir::OpKind::BatchNorm, "", {}, {}},
      {"relu", ir::OpKind::Relu, "", {}, {}},
      {"maxpool", ir::OpKind::MaxPool, "", kWindowKeys, {"ceil_mode"}},
      {"avgpool", ir::OpKind::AvgPool, "", kAvgPoolKeys, {"ceil_mode"}},
      {"flatten", ir::OpKind::Flatten, "", {}, {}},
      {"fc", ir::OpKind::Linear, "outputs", {}, {}},
      {"sigmoid", ir::OpKind::Sigmoid, "", {}, {}},
      {"silu", ir::OpKind::Silu, "", {}, {}},
      {"hardswish", ir::OpKind::Hardswish, "", {}, {}},
      {"leaky_relu", ir::OpKind::LeakyRelu, "negative slope", {}, {}, true},
      {"padshortcut", ir::OpKind::PadShortcut, "output channels", {{"stride", "s"}}, {}},
      {"dropout", ir::OpKind::Dropout, "probability of dropping", {}, {}, true},
      {"droppath", ir::OpKind::DropPath, "probability of dropping", {}, {}, true},
  };
  return all;
}

// Names people bring from other frameworks, mapped to ours.
const std::map<std::string_view, std::string_view> kSynonyms = {
    {"conv2d", "conv"}, {"convolution", "conv"}, {"batchnorm", "bn"}, {"batchnorm2d", "bn"},
    {"batch_norm", "bn"}, {"linear", "fc"}, {"dense", "fc"}, {"maxpool2d", "maxpool"},
    {"avgpool2d", "avgpool"}, {"pool", "maxpool"}, {"gap", "avgpool"}, {"activation", "relu"},
};

const Schema& find_schema(const ast::Layer& layer) {
  for (const Schema& s : schemas())
    if (s.word == layer.op) return s;
  std::string hint;
  if (auto it = kSynonyms.find(layer.op); it != kSynonyms.end()) {
    hint = fmt::format("; did you mean '{}'?", it->second);
  } else {
    std::vector<std::string_view> words;
    for (const Schema& s : schemas()) words.push_back(s.word);
    hint = did_you_mean(layer.op, words);
    if (hint.empty()) hint = fmt::format(" (layers are: {})", fmt::join(words, ", "));
  }
  error_at(layer.loc, fmt::format("unknown layer '{}'{}", layer.op, hint), static_cast<uint32_t>(layer.op.size()));
}

// The window keys take a height x width pair (`k1x7`); one number means both.
bool takes_pair(std::string_view key) {
  return key == "kernel" || key == "stride" || key == "padding" || key == "dilation";
}

struct Given {
  int64_t value;
  int64_t width;  // == value unless a pair was given
  SourceLoc loc;
};

// A decimal literal is only a probability (dropout, droppath); anywhere else evaluate() says
// an integer was expected, before any other error of the layer, as when the parser said so.
void refuse_misplaced_decimals(const Schema& schema, const ast::Layer& layer) {
  for (const ast::Arg& arg : layer.args)
    if (arg.value->kind == ast::Expr::Kind::Real && !(arg.key.empty() && schema.real_positional))
      evaluate(*arg.value, {});
}

// The probability of dropping: a decimal literal, or an integer expression; in [0, 1).
double probability_value(const Schema& schema, const ast::Arg& arg, const Env& env) {
  const ast::Expr& e = *arg.value;
  const bool literal = e.kind == ast::Expr::Kind::Real;
  const double p = literal ? e.real : static_cast<double>(evaluate(e, env));
  if (!(p >= 0 && p < 1))
    error_at(arg.loc,
             fmt::format("'{0}' takes the probability of dropping, in [0, 1), like '{0} 0.3'; got {1}", schema.word,
                         literal ? e.name : fmt::format("{}", p)),
             literal ? static_cast<uint32_t>(e.name.size()) : 1);
  return p;
}

// A map kind's row attribute: a decimal literal (negated too) or an integer expression, at
// least the row's minimum.
double attribute_value(const Schema& schema, const ast::Arg& arg, const Env& env, const ir::MapAttribute& attribute) {
  const ast::Expr& e = *arg.value;
  const bool negated = e.kind == ast::Expr::Kind::Unary && e.name == "-" && e.lhs->kind == ast::Expr::Kind::Real;
  const ast::Expr& literal = negated ? *e.lhs : e;
  const std::string example = fmt::format("like '{} {}'", schema.word, attribute.fallback);
  if (e.kind == ast::Expr::Kind::Name && !env.count(e.name))
    error_at(arg.loc, fmt::format("'{}' takes a number as its {}, {}; got '{}'", schema.word, schema.positional, example,
                                  e.name),
             static_cast<uint32_t>(e.name.size()));
  double v = 0;
  if (literal.kind == ast::Expr::Kind::Real)
    v = negated ? -literal.real : literal.real;
  else
    v = static_cast<double>(evaluate(e, env));
  if (!(v >= attribute.minimum) || !std::isfinite(v))
    error_at(arg.loc, fmt::format("'{}' takes a {} of at least {}, {}; got {}", schema.word, schema.positional,
                                  attribute.minimum, example, v));
  return v;
}

// Which other layers take a word `schema` does not, for the error's hint: "; 'bias' is a flag of conv only".
std::string taken_by_others(const Schema& schema, std::string_view word, bool flag) {
  std::vector<std::string_view> owners;
  std::string_view name = word;  // a key's full name when `word` is its alias
  for (const Schema& s : schemas()) {
    if (s.word == schema.word) continue;
    bool has = flag && std::find(s.flags.begin(), s.flags.end(), word) != s.flags.end();
    for (const Key& k : s.keys)
      if (!flag && (k.name == word || k.short_name == word)) has = true, name = k.name;
    if (has) owners.push_back(s.word);
  }
  if (owners.empty()) return {};
  return fmt::format("; '{}' is {} of {} only", name, flag ? "a flag" : "an argument", fmt::join(owners, " and "));
}

}  // namespace

void check_layer_word(const ast::Layer& layer) {
  if (!layer.gate) {
    refuse_misplaced_decimals(find_schema(layer), layer);
    return;
  }
  for (const ast::Layer& inner : layer.gate->layers) check_layer_word(inner);
}

ResolvedLayer resolve_layer(const ast::Layer& layer, const Env& env) {
  const Schema& schema = find_schema(layer);
  std::optional<Given> positional;
  std::map<std::string_view, Given> keys;
  std::vector<std::string_view> flags_set;

  std::optional<double> probability, attribute;
  const ir::MapKind* row = ir::map_kind(schema.kind);
  refuse_misplaced_decimals(schema, layer);
  for (const ast::Arg& arg : layer.args) {
    uint32_t width = std::max<uint32_t>(1, static_cast<uint32_t>(arg.key.size()));
    if (arg.key.empty()) {
      const ast::Expr& e = *arg.value;
      bool is_flag = e.kind == ast::Expr::Kind::Name &&
                     std::find(schema.flags.begin(), schema.flags.end(), e.name) != schema.flags.end();
      if (is_flag) {
        if (std::find(flags_set.begin(), flags_set.end(), e.name) != flags_set.end())
          error_at(arg.loc, fmt::format("'{}' is given twice", e.name), static_cast<uint32_t>(e.name.size()));
        flags_set.push_back(e.name);
        continue;
      }
      if (e.kind == ast::Expr::Kind::Name) {
        if (std::string elsewhere = taken_by_others(schema, e.name, true); !elsewhere.empty())
          error_at(arg.loc, fmt::format("'{}' takes no flag '{}'{}", schema.word, e.name, elsewhere),
                   static_cast<uint32_t>(e.name.size()));
      }
      if (schema.positional.empty())
        error_at(arg.loc, fmt::format("'{}' takes no positional argument", schema.word));
      if (positional)
        error_at(arg.loc, fmt::format("'{}' takes one positional argument (the {}); name the others, like k3",
                                      schema.word, schema.positional));
      if (schema.real_positional && row) {
        attribute = attribute_value(schema, arg, env, row->attributes.at(0));
        positional = Given{0, 0, arg.loc};
      } else if (schema.real_positional) {
        probability = probability_value(schema, arg, env);
        positional = Given{0, 0, arg.loc};
      } else {
        const int64_t value = evaluate(e, env);
        positional = Given{value, value, arg.loc};
      }
      continue;
    }
    auto key = std::find_if(schema.keys.begin(), schema.keys.end(),
                            [&](const Key& k) { return k.name == arg.key || k.short_name == arg.key; });
    if (key == schema.keys.end()) {
      std::vector<std::string_view> names;
      for (const Key& k : schema.keys) {
        names.push_back(k.name);
        if (!k.short_name.empty()) names.push_back(k.short_name);
      }
      std::string hint = did_you_mean(arg.key, names);
      if (schema.keys.empty()) hint = fmt::format(" ('{}' takes no arguments)", schema.word);
      if (std::string elsewhere = taken_by_others(schema, arg.key, false); !elsewhere.empty()) hint = elsewhere;
      error_at(arg.loc, fmt::format("unknown argument '{}' for '{}'{}", arg.key, schema.word, hint), width);
    }
    if (keys.count(key->name)) error_at(arg.loc, fmt::format("argument '{}' is given twice", key->name), width);
    if (arg.width && !takes_pair(key->name))
      error_at(arg.loc, fmt::format("'{}' takes one number, not a height x width pair", key->name), width);
    const int64_t value = evaluate(*arg.value, env);
    keys[key->name] = Given{value, arg.width ? evaluate(*arg.width, env) : value, arg.loc};
  }

  auto required = [&](std::string_view key, std::string_view example) -> int64_t {
    if (auto it = keys.find(key); it != keys.end()) return it->second.value;
    error_at(layer.loc, fmt::format("'{}' needs a {} size, like {}", schema.word, key, example),
             static_cast<uint32_t>(layer.op.size()));
  };
  auto optional = [&](std::string_view key, int64_t fallback) {
    auto it = keys.find(key);
    return it == keys.end() ? fallback : it->second.value;
  };
  // A window key into attribute pair `out`: height, width.
  auto window_pair = [&](std::string_view key, int64_t (&out)[2], int64_t fallback_h, int64_t fallback_w) {
    auto it = keys.find(key);
    out[0] = it == keys.end() ? fallback_h : it->second.value;
    out[1] = it == keys.end() ? fallback_w : it->second.width;
  };
  auto has_flag = [&](std::string_view f) {
    return std::find(flags_set.begin(), flags_set.end(), f) != flags_set.end();
  };

  ResolvedLayer out{schema.kind, {}};
  ir::Attrs& a = out.attrs;
  switch (schema.kind) {
    case ir::OpKind::Conv2d: {
      if (!positional)
        error_at(layer.loc, "'conv' needs its number of output channels, like 'conv 64 k3'", 4);
      a.out_channels = positional->value;
      required("kernel", "k3");
      window_pair("kernel", a.kernel, 0, 0);
      window_pair("stride", a.stride, 1, 1);
      window_pair("padding", a.padding, 0, 0);
      window_pair("dilation", a.dilation, 1, 1);
      a.groups = optional("groups", 1);
      a.bias = has_flag("bias");
      break;
    }
    case ir::OpKind::MaxPool:
    case ir::OpKind::AvgPool: {
      if (keys.empty() && flags_set.empty()) {  // `avgpool` or `maxpool` alone pools each channel to 1x1
        out.kind = schema.kind == ir::OpKind::AvgPool ? ir::OpKind::GlobalAvgPool : ir::OpKind::GlobalMaxPool;
        break;
      }
      required("kernel", "k3");
      window_pair("kernel", a.kernel, 0, 0);
      window_pair("stride", a.stride, a.kernel[0], a.kernel[1]);  // PyTorch's default: stride = kernel
      window_pair("padding", a.padding, 0, 0);
      a.ceil_mode = has_flag("ceil_mode");
      if (auto it = keys.find("count_include_pad"); it != keys.end()) {
        if (it->second.value != 0 && it->second.value != 1)
          error_at(it->second.loc, fmt::format("count_include_pad is 1 (count the padding, PyTorch's default) or 0, "
                                               "got {}",
                                               it->second.value),
                   static_cast<uint32_t>(std::string_view("count_include_pad").size()));
        a.count_include_pad = it->second.value == 1;
      }
      break;
    }
    case ir::OpKind::Linear:
      if (!positional) error_at(layer.loc, "'fc' needs its number of outputs, like 'fc 10'", 2);
      a.out_features = positional->value;
      a.bias = true;
      break;
    case ir::OpKind::Dropout:
    case ir::OpKind::DropPath:
      if (!probability)
        error_at(layer.loc, fmt::format("'{0}' needs the probability of dropping, like '{0} 0.3'", schema.word),
                 static_cast<uint32_t>(layer.op.size()));
      a.rate = *probability;
      break;
    case ir::OpKind::PadShortcut:
      if (!positional)
        error_at(layer.loc, "'padshortcut' needs its number of output channels, like 'padshortcut 32 stride=2'", 11);
      a.out_channels = positional->value;
      a.stride[0] = a.stride[1] = optional("stride", 1);
      break;
    default:
      if (attribute) ir::set_map_attribute(schema.kind, a, row->attributes.at(0).name, *attribute);
      break;
  }
  return out;
}

}  // namespace resnetc::dsl
