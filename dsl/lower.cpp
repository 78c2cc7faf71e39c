#include "dsl/lower.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <set>

#include "compiler/ir/builder.h"
#include "dsl/diagnostics.h"
#include "dsl/evaluate.h"
#include "dsl/layer_schema.h"

namespace resnetc::dsl {
namespace {

// Far beyond ResNet-1001 (about 3,000 ops); stops `x100000000` from exhausting memory.
constexpr size_t kMaxOps = 200'000;
constexpr int64_t kMaxRepeat = 10'000;

// Names the layers of one scope: a word used once keeps its name ("conv"), a word used
// several times is numbered from 1 ("conv1", "conv2"), as torchvision names its layers.
class Namer {
 public:
  Namer(std::string scope, std::initializer_list<const ast::LayerList*> lists) : scope_(std::move(scope)) {
    for (const ast::LayerList* list : lists)
      if (list)
        for (const ast::Layer& l : list->layers) ++total_[l.op];
    // Reserve every name the written layers will take, so implicit ops never collide with them.
    for (const auto& [word, count] : total_) {
      if (count == 1) taken_.insert(word);
      for (int i = 1; count > 1 && i <= count; ++i) taken_.insert(fmt::format("{}{}", word, i));
    }
  }
  std::string name(const std::string& word) {
    return qualified(total_[word] > 1 ? fmt::format("{}{}", word, ++used_[word]) : word);
  }
  // For ops the user did not write (an implicit flatten, the residual add).
  std::string unique(const std::string& word) {
    std::string local = word;
    for (int i = 2; taken_.count(local); ++i) local = fmt::format("{}{}", word, i);
    taken_.insert(local);
    return qualified(local);
  }
  std::string qualified(const std::string& local) const { return scope_.empty() ? local : scope_ + "." + local; }

 private:
  std::string scope_;
  std::map<std::string, int> total_, used_;
  std::set<std::string> taken_;
};

class Lowerer {
 public:
  Lowerer(const ast::NetworkDef& net, const BlockTable& blocks, const LowerOptions& options)
      : net_(net), blocks_(blocks), builder_(net.name, input_shape(net, options)) {}

  ir::Graph run() && {
    ir::ValueId x = builder_.input();
    if (net_.stem) {
      Namer namer("stem", {&*net_.stem});
      x = layers(*net_.stem, x, namer, channel_env(x));
    }
    for (size_t i = 0; i < net_.stages.size(); ++i) x = stage(net_.stages[i], i + 1, x);
    stage_ = nullptr;
    if (net_.head) {
      Namer namer("head", {&*net_.head});
      x = layers(*net_.head, x, namer, channel_env(x));
    }
    ir::Graph g = std::move(builder_).finish(x);
    g.output_loc = net_.head && !net_.head->layers.empty() ? net_.head->layers.back().loc : net_.loc;
    return g;
  }

 private:
  static ir::Dims input_shape(const ast::NetworkDef& net, const LowerOptions& options) {
    if (options.batch < 1) error_at(net.loc, fmt::format("batch must be at least 1, got {}", options.batch));
    if (options.input) return {options.batch, (*options.input)[0], (*options.input)[1], (*options.input)[2]};
    if (net.input.empty())
      error_at(net.loc, fmt::format("network '{}' has no input size; add a line like 'input 1x96x96'", net.name),
               static_cast<uint32_t>(std::string_view("network").size()));
    return {options.batch, net.input[0], net.input[1], net.input[2]};
  }

  Env channel_env(ir::ValueId x) const {
    const ir::Dims& d = builder_.shape(x);
    return Env{{"in", d.size() > 1 ? d[1] : d[0]}};
  }

  ir::ValueId add_op(ir::OpKind kind, std::string name, std::vector<ir::ValueId> inputs, const ir::Attrs& attrs,
                     SourceLoc loc, uint32_t length) {
    if (++op_count_ > kMaxOps)
      error_at(stage_ ? *stage_ : loc, fmt::format("network has more than {} layers", kMaxOps), stage_ ? 5 : length);
    loc.instance = stage_;
    try {
      return builder_.add(kind, std::move(name), std::move(inputs), attrs, loc);
    } catch (CompileError& e) {
      e.diagnostic.length = length;  // the builder knows the op, not how long its word is
      throw;
    }
  }

  ir::ValueId layers(const ast::LayerList& list, ir::ValueId x, Namer& namer, const Env& env) {
    for (const ast::Layer& layer : list.layers) {
      if (layer.gate) {
        x = gate(layer, x, namer, env);
        continue;
      }
      ResolvedLayer r = resolve_layer(layer, env);
      auto length = static_cast<uint32_t>(layer.op.size());
      if (r.kind == ir::OpKind::Linear && builder_.shape(x).size() > 2)
        x = add_op(ir::OpKind::Flatten, namer.unique("flatten"), {x}, {}, layer.loc, length);
      x = add_op(r.kind, namer.name(layer.op), {x}, r.attrs, layer.loc, length);
    }
    return x;
  }

  // `gate NAME { layers }`: x times layers(x), which must end in one value per sample and channel
  // of x. The gate's layers are named in a scope of their own, NAME's ("stage1.block0.se.conv1");
  // the multiply is NAME itself.
  ir::ValueId gate(const ast::Layer& layer, ir::ValueId x, Namer& namer, const Env& env) {
    const std::string name = namer.name(layer.op);
    const ast::LayerList& list = *layer.gate;
    if (list.layers.empty()) error_at(list.loc, "a gate needs layers that compute its [N, C, 1, 1] scale");
    Namer inner(name, {&list});
    const ir::ValueId scale = layers(list, x, inner, env);
    const ir::Dims& xs = builder_.shape(x);
    const ir::Dims& ss = builder_.shape(scale);
    const auto length = static_cast<uint32_t>(std::string_view("gate").size());
    if (xs.size() != 4)
      error_at(layer.loc, fmt::format("a gate scales the channels of a 4-d input, got {}", ir::format_dims(xs)), length);
    const ir::Dims want{xs[0], xs[1], 1, 1};
    if (ss != want) {
      const ast::Layer& last = list.layers.back();
      const std::string hint = ss.size() == 4 && ss[2] == 1 && ss[3] == 1
                                   ? fmt::format("; its last layer must give the input's {} channels", xs[1])
                                   : "; pool it to 1x1 first (avgpool)";
      error_at(last.loc, fmt::format("a gate's layers must end in {} (one scale per channel of its input {}), got {}{}",
                                     ir::format_dims(want), ir::format_dims(xs), ir::format_dims(ss), hint),
               static_cast<uint32_t>(last.op.size()));
    }
    return add_op(ir::OpKind::ChannelMul, name, {x, scale}, {}, layer.loc, length);
  }

  const ast::BlockDef& find_block(const ast::Stage& s) const {
    if (auto it = blocks_.find(s.block); it != blocks_.end()) return *it->second;
    std::vector<std::string_view> names;
    for (const auto& [name, def] : blocks_) names.push_back(name);
    std::string hint = did_you_mean(s.block, names);
    if (hint.empty()) hint = fmt::format(" (blocks are: {})", fmt::join(names, ", "));
    error_at(s.block_loc, fmt::format("unknown block '{}'{}", s.block, hint), static_cast<uint32_t>(s.block.size()));
  }

  ir::ValueId stage(const ast::Stage& s, size_t index, ir::ValueId x) {
    const ast::BlockDef& def = find_block(s);
    stage_ = std::make_shared<const SourceLoc>(s.loc);
    int64_t repeat = 1;
    const ast::Arg* repeat_arg = nullptr;
    const ast::Arg* stride = nullptr;
    std::vector<const ast::Arg*> passed;
    for (const ast::Arg& arg : s.args) {
      if (arg.width)
        error_at(arg.loc, "a stage argument is one number; height x width pairs like k1x7 belong to a layer's window",
                 static_cast<uint32_t>(std::max<size_t>(1, arg.key.size())));
      auto once = [&](const ast::Arg*& slot, std::string_view what) {
        if (slot)
          error_at(arg.loc, fmt::format("the {} of a stage is given twice", what),
                   static_cast<uint32_t>(arg.key.size()));
        slot = &arg;
      };
      if (arg.key == "x" || arg.key == "repeat") {
        once(repeat_arg, "repeat count");
        repeat = evaluate(*arg.value, {});
        if (repeat < 1 || repeat > kMaxRepeat)
          error_at(arg.loc, fmt::format("a stage repeats its block 1 to {} times, not {}", kMaxRepeat, repeat), 2);
      } else if (arg.key == "s" || arg.key == "stride") {
        once(stride, "stride");
      } else {
        passed.push_back(&arg);
      }
    }
    for (int64_t b = 0; b < repeat; ++b) {
      std::string scope = fmt::format("stage{}.block{}", index, b);
      try {
        // Binding evaluates the block's defaults and lets, which may fail inside the prelude.
        Env env = bind(def, s, passed, b == 0 ? stride : nullptr, x);
        x = block(def, env, x, scope);
      } catch (CompileError& e) {
        const SourceLoc& at = e.diagnostic.loc;
        bool on_stage_line = at.file == s.loc.file && at.line == s.loc.line;  // no note needed
        if (!on_stage_line)
          e.diagnostic.notes.push_back({s.loc, fmt::format("in block '{}' ({}) instantiated here", def.name, scope)});
        throw;
      }
    }
    return x;
  }

  // The block's parameters from the stage's arguments, the defaults, then its `let`s.
  Env bind(const ast::BlockDef& def, const ast::Stage& s, const std::vector<const ast::Arg*>& args,
           const ast::Arg* stride, ir::ValueId x) const {
    Env env = channel_env(x);
    std::vector<std::string_view> param_names;
    for (const ast::Param& p : def.params) param_names.push_back(p.name);
    auto set = [&](const std::string& name, const ast::Arg& arg) {
      if (env.count(name) && name != "in")
        error_at(arg.loc, fmt::format("parameter '{}' of block '{}' is given twice", name, def.name),
                 static_cast<uint32_t>(std::max<size_t>(1, arg.key.size())));
      env[name] = evaluate(*arg.value, {});
    };
    size_t next_positional = 0;
    for (const ast::Arg* arg : args) {
      if (arg->key.empty()) {
        if (next_positional >= def.params.size())
          error_at(arg->loc, fmt::format("block '{}' takes {} parameter{} ({}), but more were given", def.name,
                                         def.params.size(), def.params.size() == 1 ? "" : "s",
                                         fmt::join(param_names, ", ")));
        if (def.params[next_positional].name == "stride")
          error_at(arg->loc, fmt::format("give the stride by name, as stride={}: a stage applies it to its first "
                                         "block only",
                                         evaluate(*arg->value, {})));
        set(def.params[next_positional++].name, *arg);
      } else if (std::find(param_names.begin(), param_names.end(), arg->key) != param_names.end()) {
        set(arg->key, *arg);
      } else {
        error_at(arg->loc, fmt::format("block '{}' has no parameter '{}'{}", def.name, arg->key,
                                       did_you_mean(arg->key, param_names)),
                 static_cast<uint32_t>(arg->key.size()));
      }
    }
    if (stride) {
      if (std::find(param_names.begin(), param_names.end(), "stride") == param_names.end())
        error_at(stride->loc, fmt::format("block '{}' has no 'stride' parameter (its parameters: {})", def.name,
                                          param_names.empty() ? "none" : fmt::format("{}", fmt::join(param_names, ", "))),
                 static_cast<uint32_t>(stride->key.size()));
      set("stride", *stride);
    }
    for (const ast::Param& p : def.params) {
      if (env.count(p.name)) continue;
      if (!p.default_value)
        error_at(s.loc, fmt::format("block '{}' needs a value for its parameter '{}', like 'stage {} {}=...'",
                                    def.name, p.name, def.name, p.name),
                 5);
      env[p.name] = evaluate(*p.default_value, env);
    }
    for (const ast::Let& let : def.lets) env[let.name] = evaluate(*let.value, env);
    return env;
  }

  ir::ValueId block(const ast::BlockDef& def, const Env& env, ir::ValueId x, const std::string& scope) {
    Namer namer(scope, {def.pre ? &*def.pre : nullptr, &*def.branch, def.post ? &*def.post : nullptr});
    ir::ValueId pre = def.pre ? layers(*def.pre, x, namer, env) : x;
    ir::ValueId branch = layers(*def.branch, pre, namer, env);

    ir::ValueId shortcut = x;
    bool projected = false;
    if (def.shortcut) {
      projected = !def.shortcut->condition || evaluate(*def.shortcut->condition, env) != 0;
      if (projected) {
        Namer shortcut_namer(scope + ".shortcut", {&def.shortcut->layers});
        ir::ValueId source = def.shortcut->from_pre ? pre : x;
        shortcut = layers(def.shortcut->layers, source, shortcut_namer, env);
      }
    }
    const ir::Dims &b = builder_.shape(branch), &sc = builder_.shape(shortcut);
    SourceLoc where = def.shortcut ? def.shortcut->loc : def.loc;
    if (b != sc) {
      std::string why = projected        ? "the shortcut's layers do not produce the branch's shape"
                        : def.shortcut ? "the shortcut's condition is false here, so it is the identity"
                                       : "the block has no shortcut projection, so it is the identity";
      error_at(where, fmt::format("residual add of two different shapes: branch {} and shortcut {} ({})",
                                  ir::format_dims(b), ir::format_dims(sc), why),
               def.shortcut ? 8 : 5);
    }
    ir::ValueId sum = add_op(ir::OpKind::Add, namer.unique("add"), {branch, shortcut}, {}, where, 8);
    return def.post ? layers(*def.post, sum, namer, env) : sum;
  }

  const ast::NetworkDef& net_;
  const BlockTable& blocks_;
  ir::GraphBuilder builder_;
  size_t op_count_ = 0;
  // The stage being lowered: its blocks' ops point back to it, and a size limit is reported there.
  std::shared_ptr<const SourceLoc> stage_;
};

}  // namespace

void check_block_definition(const ast::BlockDef& def) {
  std::set<std::string> names{"in"};
  auto declare = [&](const std::string& name, const SourceLoc& loc, std::string_view what) {
    if (name == "in")
      error_at(loc, fmt::format("'in' is reserved (the block's input channels) and cannot be a {}", what), 2);
    if (!names.insert(name).second)
      error_at(loc, fmt::format("'{}' is already defined in block '{}'", name, def.name),
               static_cast<uint32_t>(name.size()));
  };
  for (const ast::Param& p : def.params) {
    if (p.name == "x" || p.name == "repeat" || p.name == "s")
      error_at(p.loc, fmt::format("'{}' cannot be a block parameter: a stage reads it as its {}", p.name,
                                  p.name == "s" ? "stride" : "repeat count"),
               static_cast<uint32_t>(p.name.size()));
    declare(p.name, p.loc, "parameter");
  }
  for (const ast::Let& l : def.lets) declare(l.name, l.loc, "name");
  if (!def.branch)
    error_at(def.loc, fmt::format("block '{}' has no 'branch' section: the residual branch is required", def.name),
             5);
  if (def.branch->layers.empty())
    error_at(def.branch->loc, fmt::format("the branch of block '{}' has no layers", def.name));
  if (def.shortcut && def.shortcut->from_pre && !def.pre)
    error_at(def.shortcut->loc, fmt::format("'shortcut from pre' needs a 'pre' section in block '{}'", def.name), 8);
  // Check the layer words now, so a mistake in a block no stage uses is still reported.
  for (const auto* list : {def.pre ? &*def.pre : nullptr, &*def.branch, def.post ? &*def.post : nullptr,
                           def.shortcut ? &def.shortcut->layers : nullptr})
    if (list)
      for (const ast::Layer& layer : list->layers) check_layer_word(layer);
}

ir::Graph lower_network(const ast::NetworkDef& net, const BlockTable& blocks, const LowerOptions& options) {
  return Lowerer(net, blocks, options).run();
}

}  // namespace resnetc::dsl
