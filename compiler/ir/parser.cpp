#include "compiler/ir/parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <memory>
#include <unordered_map>

#include "compiler/ir/maps.h"
#include "compiler/ir/ops.h"
#include "compiler/ir/verifier.h"

namespace resnetc::ir {

namespace {

std::optional<FusedOpcode> fused_opcode_named(std::string_view name) {
  for (int k = 0; k <= static_cast<int>(kLastFusedOpcode); ++k)
    if (fused_opcode_name(static_cast<FusedOpcode>(k)) == name) return static_cast<FusedOpcode>(k);
  return std::nullopt;
}

std::optional<AttrField> attr_field_named(std::string_view name) {
  for (AttrField f : kAllAttrFields)
    if (attr_field_name(f) == name) return f;
  return std::nullopt;
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

bool number_char(char c) {
  return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E' || c == 'i' ||
         c == 'n' || c == 'f' || c == 'a';
}

// A scanner over the text that knows its line and column, and the parser built on it.
class Parser {
 public:
  Parser(std::string_view text, std::string_view file)
      : text_(text), file_(std::make_shared<const std::string>(file)) {}

  Graph run() {
    skip_space_and_comments();
    expect_word("graph");
    g_.name = name();
    expect("{");
    while (true) {
      skip_space_and_comments();
      if (at_end()) fail("expected 'return' before the end of the text");
      if (peek() == '%') {
        value_op();
      } else {
        const Mark at = mark();
        std::string word = identifier("a declaration, an op or 'return'");
        if (word == "input" || word == "param" || word == "state") {
          declaration(word);
        } else if (word == "loss") {
          g_.loss = use();
        } else if (word == "return") {
          g_.output = use();
          break;
        } else {
          update_op(word, at);
        }
      }
    }
    skip_space_and_comments();
    expect("}");
    skip_space_and_comments();
    if (!at_end()) fail("unexpected text after the graph's closing '}'");
    name_updates();
    verify_or_throw(g_, "ir parsing");
    return std::move(g_);
  }

 private:
  struct Mark {
    size_t pos;
    uint32_t line, col;
  };

  // --- scanning ------------------------------------------------------------------------------
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  Mark mark() const { return {pos_, line_, col_}; }
  void advance() {
    if (text_[pos_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++pos_;
  }

  [[noreturn]] void fail_at(const Mark& at, std::string message, uint32_t length = 1) const {
    throw CompileError(CompileError::Phase::Source, SourceLoc{file_, at.line, at.col, nullptr}, std::move(message),
                       length);
  }
  [[noreturn]] void fail(std::string message) const {
    fail_at(mark(), std::move(message), 1);
  }

  // Spaces and tabs only: a `//` after an op on the same line is its location.
  void skip_blanks() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\r')) advance();
  }
  void skip_space_and_comments() {
    while (!at_end()) {
      char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        advance();
      } else if (text_.substr(pos_, 2) == "//") {
        while (!at_end() && peek() != '\n') advance();
      } else {
        break;
      }
    }
  }

  void expect(std::string_view token) {
    skip_blanks();
    if (text_.substr(pos_, token.size()) != token) fail(fmt::format("expected '{}'", token));
    for (size_t i = 0; i < token.size(); ++i) advance();
  }
  bool accept(std::string_view token) {
    skip_blanks();
    if (text_.substr(pos_, token.size()) != token) return false;
    for (size_t i = 0; i < token.size(); ++i) advance();
    return true;
  }

  std::string identifier(std::string_view what) {
    skip_blanks();
    size_t start = pos_;
    while (!at_end() && name_char(peek())) advance();
    if (pos_ == start) fail(fmt::format("expected {}", what));
    return std::string(text_.substr(start, pos_ - start));
  }
  void expect_word(std::string_view word) {
    const Mark at = (skip_blanks(), mark());
    std::string got = identifier(fmt::format("'{}'", word));
    if (got != word) fail_at(at, fmt::format("expected '{}', got '{}'", word, got), static_cast<uint32_t>(got.size()));
  }

  // A plain name, or a quoted one with the printer's escapes.
  std::string name() {
    skip_blanks();
    if (peek() != '"') return identifier("a name");
    advance();
    std::string out;
    while (true) {
      if (at_end() || peek() == '\n') fail("unterminated quoted name");
      char c = peek();
      advance();
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      char e = peek();
      if (e == '"' || e == '\\') {
        out += e;
        advance();
      } else if (e == 'x') {
        advance();
        std::string hex;
        for (int i = 0; i < 2 && !at_end(); ++i, advance()) hex += peek();
        char* end = nullptr;
        long v = std::strtol(hex.c_str(), &end, 16);
        if (hex.size() != 2 || *end != '\0') fail("expected two hex digits after '\\x'");
        out += static_cast<char>(v);
      } else {
        fail("unknown escape in a quoted name (the printer writes \\\", \\\\ and \\xNN)");
      }
    }
  }

  std::string number_text() {
    skip_blanks();
    size_t start = pos_;
    while (!at_end() && number_char(peek())) advance();
    if (pos_ == start) fail("expected a number");
    return std::string(text_.substr(start, pos_ - start));
  }
  int64_t integer() {
    const Mark at = (skip_blanks(), mark());
    size_t start = pos_;
    if (peek() == '-') advance();
    while (!at_end() && peek() >= '0' && peek() <= '9') advance();
    std::string s(text_.substr(start, pos_ - start));
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || s == "-" || *end != '\0' || errno == ERANGE)
      fail_at(at, "expected an integer", static_cast<uint32_t>(std::max<size_t>(s.size(), 1)));
    return v;
  }
  double real() {
    const Mark at = (skip_blanks(), mark());
    std::string s = number_text();
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (*end != '\0') fail_at(at, fmt::format("expected a number, got '{}'", s), static_cast<uint32_t>(s.size()));
    return v;
  }
  Dims dims() {
    expect("[");
    Dims d;
    if (!accept("]")) {
      do d.push_back(integer());
      while (accept(","));
      expect("]");
    }
    return d;
  }
  // "3x3"
  void pair(int64_t (&out)[2]) {
    out[0] = integer();
    expect("x");
    out[1] = integer();
  }
  bool boolean() {
    const Mark at = (skip_blanks(), mark());
    std::string w = identifier("true or false");
    if (w == "true") return true;
    if (w == "false") return false;
    fail_at(at, fmt::format("expected true or false, got '{}'", w), static_cast<uint32_t>(w.size()));
  }
  int32_t reg() {
    expect("r");
    return static_cast<int32_t>(integer());
  }

  // --- values --------------------------------------------------------------------------------
  ValueId define(std::string value_name, const Mark& at, Dims shape, ValueRole role) {
    if (ids_.contains(value_name))
      fail_at(at, fmt::format("%{} is defined twice", value_name), static_cast<uint32_t>(value_name.size() + 1));
    ValueId id = static_cast<ValueId>(g_.values.size());
    g_.values.push_back(Value{value_name, std::move(shape), role, -1, DType::F32});
    ids_.emplace(std::move(value_name), id);
    return id;
  }
  std::pair<std::string, Mark> value_name() {
    skip_blanks();
    const Mark at = mark();
    if (peek() != '%') fail("expected a value ('%name')");
    advance();
    return {name(), at};
  }
  ValueId use() {
    auto [n, at] = value_name();
    auto it = ids_.find(n);
    if (it == ids_.end())
      fail_at(at, fmt::format("%{} is not defined before this use", n), static_cast<uint32_t>(n.size() + 1));
    return it->second;
  }

  void declaration(const std::string& keyword) {
    auto [n, at] = value_name();
    expect(":");
    Dims shape = dims();
    if (keyword == "param") {
      define(std::move(n), at, std::move(shape), ValueRole::Parameter);
    } else if (keyword == "state") {
      define(std::move(n), at, std::move(shape), ValueRole::State);
    } else {
      ValueId id = define(std::move(n), at, std::move(shape), ValueRole::Input);
      if (g_.input == kNoValue) {
        g_.input = id;
      } else if (g_.labels == kNoValue) {
        g_.labels = id;
        g_.values[static_cast<size_t>(id)].dtype = DType::I32;
      } else if (g_.learning_rate == kNoValue) {
        g_.learning_rate = id;
      } else if (g_.rng == kNoValue) {
        g_.rng = id;
        g_.values[static_cast<size_t>(id)].dtype = DType::I32;
      } else {
        fail_at(at, "a graph has at most four inputs: the batch, the labels, the learning rate and the masks' "
                    "seed and step");
      }
    }
  }

  // --- ops -----------------------------------------------------------------------------------
  OpKind kind(const std::string& word, const Mark& at) {
    if (std::optional<OpKind> k = op_kind_from_name(word)) return *k;
    fail_at(at, fmt::format("unknown op '{}'", word), static_cast<uint32_t>(word.size()));
  }

  // `(%a, %b) {attrs}`, then for a value `: [dims]`, then `named X` and the location comment.
  Op op_body(OpKind k) {
    Op op{k, {}, {}, kNoValue, {}, {}};
    expect("(");
    if (!accept(")")) {
      do op.inputs.push_back(use());
      while (accept(","));
      expect(")");
    }
    skip_blanks();
    if (accept("{")) {
      do attribute(op);
      while (accept(","));
      expect("}");
    }
    return op;
  }

  void attribute(Op& op) {
    Attrs& a = op.attrs;
    const Mark at = (skip_blanks(), mark());
    std::string field_name = identifier("an attribute name");
    std::optional<AttrField> field = attr_field_named(field_name);
    // else a map kind's own attribute (maps.def's ATTR): a real number
    const MapKind* m = map_kind(op.kind);
    const bool of_row = m && std::any_of(m->attributes.begin(), m->attributes.end(),
                                         [&](const MapAttribute& r) { return r.name == field_name; });
    if (!field && !of_row)
      fail_at(at, fmt::format("unknown attribute '{}'", field_name), static_cast<uint32_t>(field_name.size()));
    expect("=");
    if (!field) {
      set_map_attribute(op.kind, a, field_name, real());
      return;
    }
    switch (*field) {
      case AttrField::OutChannels: a.out_channels = integer(); break;
      case AttrField::OutFeatures: a.out_features = integer(); break;
      case AttrField::Kernel: pair(a.kernel); break;
      case AttrField::Stride: pair(a.stride); break;
      case AttrField::Padding: pair(a.padding); break;
      case AttrField::Dilation: pair(a.dilation); break;
      case AttrField::CeilMode: a.ceil_mode = boolean(); break;
      case AttrField::CountIncludePad: a.count_include_pad = boolean(); break;
      case AttrField::Groups: a.groups = integer(); break;
      case AttrField::Bias: a.bias = boolean(); break;
      case AttrField::Eps: a.eps = real(); break;
      case AttrField::Momentum: a.momentum = real(); break;
      case AttrField::WeightDecay: a.weight_decay = real(); break;
      case AttrField::Shape: a.shape = dims(); break;
      case AttrField::Offset: a.offset = integer(); break;
      case AttrField::Counts: a.counts = dims(); break;
      case AttrField::Program: a.program = program(); break;
      case AttrField::Epilogue: a.epilogue = boolean(); break;
      case AttrField::Rate: a.rate = real(); break;
      case AttrField::Salt: a.salt = integer(); break;
      case AttrField::Nesterov: a.nesterov = boolean(); break;
      case AttrField::Beta2: a.beta2 = real(); break;
      case AttrField::LabelSmoothing: a.label_smoothing = real(); break;
    }
  }

  // `{r0=load(0); r1=channel(1,0); r2=const(1e-05); r3=add(r0,r2)} -> r3` or `-> sum(r3,r4)`.
  FusedProgram program() {
    FusedProgram p;
    expect("{");
    if (!accept("}")) {
      do {
        const Mark at = (skip_blanks(), mark());
        if (reg() != static_cast<int32_t>(p.instrs.size()))
          fail_at(at, fmt::format("expected register r{} here (registers are numbered in order)", p.instrs.size()));
        expect("=");
        const Mark op_at = (skip_blanks(), mark());
        std::string opname = identifier("a fused opcode");
        std::optional<FusedOpcode> code = fused_opcode_named(opname);
        if (!code) fail_at(op_at, fmt::format("unknown fused opcode '{}'", opname), static_cast<uint32_t>(opname.size()));
        FusedInstr in{*code};
        expect("(");
        switch (*code) {
          case FusedOpcode::Load:
          case FusedOpcode::LoadPlane:
          case FusedOpcode::AtLabel: in.a = static_cast<int32_t>(integer()); break;
          case FusedOpcode::LoadChannel:
            in.a = static_cast<int32_t>(integer());
            expect(",");
            in.b = static_cast<int32_t>(integer());
            break;
          case FusedOpcode::Const: in.value = real(); break;
          case FusedOpcode::MaskKey:
            in.a = static_cast<int32_t>(integer());
            expect(",");
            in.value = real();
            break;
          case FusedOpcode::Gather:
            in.a = static_cast<int32_t>(integer());
            expect(",");
            in.b = static_cast<int32_t>(p.gathers.size());
            p.gathers.push_back(gather_map());
            break;
          default:
            in.a = reg();
            if (reads_register_b(*code)) {
              expect(",");
              in.b = reg();
            }
            if (reads_register_c(*code)) {
              expect(",");
              in.c = reg();
            }
            if (*code == FusedOpcode::Keep || *code == FusedOpcode::KeepSample) {
              expect(",");
              in.value = real();
            }
        }
        expect(")");
        p.instrs.push_back(in);
      } while (accept(";"));
      expect("}");
    }
    expect("->");
    p.reduce = accept("sum(");
    do p.results.push_back(reg());
    while (accept(","));
    if (p.reduce) expect(")");
    return p;
  }

  // A gather's map, `[1,1,2,2]` or `[1,1,1/2,1/2]`: per axis num, or num/den.
  GatherMap gather_map() {
    GatherMap map;
    expect("[");
    if (!accept("]")) {
      do {
        GatherAxis axis{integer(), 1};
        if (accept("/")) axis.den = integer();
        map.push_back(axis);
      } while (accept(","));
      expect("]");
    }
    return map;
  }

  // The rest of an op's line: ` named X` and `// file:line[:col]`.
  void line_end(Op& op, bool* named) {
    skip_blanks();
    if (peek() == 'n' && text_.substr(pos_, 6) == "named ") {
      expect_word("named");
      op.name = name();
      *named = true;
    }
    skip_blanks();
    if (text_.substr(pos_, 2) == "//") {
      advance();
      advance();
      skip_blanks();
      const Mark at = mark();
      size_t start = pos_;
      while (!at_end() && peek() != '\n') advance();
      op.loc = location(std::string_view(text_).substr(start, pos_ - start), at);
    }
    if (!at_end() && peek() != '\n') fail("expected the end of the line");
  }

  // "file:line:col" or "file:line"; the file may itself hold ':' (read from the right).
  SourceLoc location(std::string_view s, const Mark& at) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.remove_suffix(1);
    auto trailing_number = [&](std::string_view& rest) -> std::optional<uint32_t> {
      size_t colon = rest.rfind(':');
      if (colon == std::string_view::npos || colon + 1 == rest.size()) return std::nullopt;
      uint32_t v = 0;
      for (char c : rest.substr(colon + 1)) {
        if (c < '0' || c > '9' || v > 100'000'000) return std::nullopt;
        v = v * 10 + static_cast<uint32_t>(c - '0');
      }
      rest = rest.substr(0, colon);
      return v;
    };
    std::string_view rest = s;
    std::optional<uint32_t> last = trailing_number(rest);
    if (!last) fail_at(at, "expected a location 'file:line:col' after '//'", static_cast<uint32_t>(std::max<size_t>(s.size(), 1)));
    std::string_view before_col = rest;
    std::optional<uint32_t> first = trailing_number(before_col);
    uint32_t line = *last, col = 0;
    if (first) {
      line = *first;
      col = *last;
      rest = before_col;
    }
    if (rest.empty() || line == 0) fail_at(at, "expected a location 'file:line:col' after '//'");
    auto [it, inserted] = files_.try_emplace(std::string(rest));
    if (inserted) it->second = std::make_shared<const std::string>(rest);
    return SourceLoc{it->second, line, col, nullptr};
  }

  void value_op() {
    auto [n, at] = value_name();
    expect("=");
    const Mark kind_at = (skip_blanks(), mark());
    OpKind k = kind(identifier("an op"), kind_at);
    if (is_update(k)) fail_at(kind_at, fmt::format("{} defines no value", op_kind_name(k)));
    Op op = op_body(k);
    expect(":");
    Dims shape = dims();
    ValueId out = define(n, at, std::move(shape), ValueRole::Activation);
    op.output = out;
    op.name = n;
    bool named = false;
    line_end(op, &named);
    g_.values[static_cast<size_t>(out)].producer = static_cast<OpId>(g_.ops.size());
    g_.ops.push_back(std::move(op));
  }

  void update_op(const std::string& word, const Mark& at) {
    OpKind k = kind(word, at);
    if (!is_update(k)) fail_at(at, fmt::format("{} defines a value: write '%name = {}(...)'", word, word),
                               static_cast<uint32_t>(word.size()));
    Op op = op_body(k);
    bool named = false;
    line_end(op, &named);
    if (!named) unnamed_updates_.push_back(static_cast<OpId>(g_.ops.size()));
    g_.ops.push_back(std::move(op));
  }

  // Updates print no name: give them the names autodiff and group-updates give them.
  void name_updates() {
    std::map<std::string, int> seen;
    for (OpId id : unnamed_updates_) {
      Op& op = g_.ops[static_cast<size_t>(id)];
      auto target = [&]() -> std::string {
        if (op.inputs.empty()) return "update";
        return g_.values[static_cast<size_t>(op.inputs[0])].name;
      };
      switch (op.kind) {
        case OpKind::SgdUpdate:
        case OpKind::SgdMomentumUpdate:
        case OpKind::AdamwUpdate: op.name = target() + ".update"; break;
        case OpKind::BnRunningUpdate: {
          std::string mean = target();
          constexpr std::string_view suffix = ".running_mean";
          if (mean.ends_with(suffix)) mean.resize(mean.size() - suffix.size());
          op.name = mean + ".running_update";
          break;
        }
        case OpKind::SgdUpdateGroup:
        case OpKind::SgdMomentumUpdateGroup:
        case OpKind::AdamwUpdateGroup:
          op.name = numbered(seen, "optimizer.update");
          break;
        default: op.name = numbered(seen, "batchnorm.running_update");
      }
    }
  }
  static std::string numbered(std::map<std::string, int>& seen, const std::string& base) {
    int n = seen[base]++;
    return n == 0 ? base : fmt::format("{}.{}", base, n);
  }

  std::string_view text_;
  std::shared_ptr<const std::string> file_;
  size_t pos_ = 0;
  uint32_t line_ = 1, col_ = 1;
  Graph g_;
  std::unordered_map<std::string, ValueId> ids_;
  std::map<std::string, std::shared_ptr<const std::string>, std::less<>> files_;
  std::vector<OpId> unnamed_updates_;
};

}  // namespace

Graph parse_ir(std::string_view text, std::string_view file_name) { return Parser(text, file_name).run(); }

}  // namespace resnetc::ir
