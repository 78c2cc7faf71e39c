#include "dsl/parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "dsl/diagnostics.h"
#include "dsl/lexer.h"

namespace resnetc::dsl {
namespace {

// Deep enough for any honest expression, shallow enough that recursion stays cheap.
constexpr int kMaxNesting = 64;
// A gate nests a layer list; deeper than this is a mistake, not a network.
constexpr int kMaxGateNesting = 16;

const std::vector<std::string_view> kTopLevel = {"block", "network"};
const std::vector<std::string_view> kBlockItems = {"let", "pre", "branch", "shortcut", "post"};
const std::vector<std::string_view> kNetworkItems = {"input", "stem", "stage", "head", "train"};

std::string describe(const Token& t) {
  switch (t.kind) {
    case Tok::Ident:
    case Tok::Int:
    case Tok::Float:
    case Tok::Dims: return fmt::format("'{}'", t.text.substr(0, 40));
    case Tok::String: return fmt::format("\"{}\"", t.text.substr(0, 40));
    default: return std::string(tok_name(t.kind));
  }
}

// `k3`, `s2`, `p1`, `d2`, `g32`, `x4`: shorthands for kernel, stride, padding, dilation, groups
// and repeat with a literal; `k1x7`, `s2x1`, `p0x3`, `d2x1` a height x width pair. Only these
// letters followed by a digit, so a name like `c2` stays a name; the rest of the word is
// checked by shorthand_arg.
bool is_shorthand(const std::string& s) {
  return s.size() >= 2 && std::string_view("kspdgx").find(s[0]) != std::string_view::npos &&
         std::isdigit(static_cast<unsigned char>(s[1]));
}

class Parser {
 public:
  explicit Parser(const SourceFile& file) : tokens_(lex(file, lex_error_)) {}

  ast::File file() {
    ast::File out;
    while (true) {
      skip_separators();
      const Token& t = peek();
      if (t.kind == Tok::Eof) return out;
      if (is_word("block")) {
        out.blocks.push_back(block());
      } else if (is_word("network")) {
        out.networks.push_back(network());
      } else if (closed_network_ && t.kind == Tok::Ident &&
                 std::find(kNetworkItems.begin(), kNetworkItems.end(), t.text) != kNetworkItems.end()) {
        // `stage ...` after the network's '}': most likely one '}' too many above.
        Diagnostic d{t.loc, fmt::format("expected 'block' or 'network', found '{}' outside any network", t.text), {},
                     t.length()};
        d.notes.push_back({*closed_network_, "the network was closed by this '}'; is it one too many?"});
        throw CompileError(CompileError::Phase::Source, std::move(d));
      } else {
        unexpected("'block' or 'network'", kTopLevel);
      }
    }
  }

 private:
  // Reaching the token where lexing stopped reports the lexical error, so errors come in
  // source order: a syntax error on line 2 is reported before a stray byte on line 9.
  const Token& peek(size_t ahead = 0) const {
    size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    if (lex_error_ && i == tokens_.size() - 1) throw CompileError(CompileError::Phase::Source, *lex_error_);
    return tokens_[i];
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool is(Tok k) const { return peek().kind == k; }
  bool is_word(std::string_view w) const { return is(Tok::Ident) && peek().text == w; }

  [[noreturn]] void unexpected(std::string_view expected, const std::vector<std::string_view>& words = {}) {
    const Token& t = peek();
    std::string hint = t.kind == Tok::Ident ? did_you_mean(t.text, words) : "";
    error_at(t.loc, fmt::format("expected {}, found {}{}", expected, describe(t), hint), t.length());
  }

  const Token& expect(Tok k, std::string_view what) {
    if (!is(k)) unexpected(what);
    return next();
  }

  std::string name(std::string_view what) { return expect(Tok::Ident, what).text; }

  void skip_separators() {
    while (is(Tok::Newline) || is(Tok::Semicolon)) next();
  }
  void skip_newlines() {
    while (is(Tok::Newline)) next();
  }
  bool at_statement_end() const {
    return is(Tok::Newline) || is(Tok::Semicolon) || is(Tok::RBrace) || is(Tok::Eof);
  }
  void end_statement() {
    if (!at_statement_end()) unexpected("end of line or ';'");
  }

  // Consumes the '}' that closes the brace opened at `open`; a missing one points back.
  void close_brace(const SourceLoc& open, std::string_view what) {
    if (is(Tok::RBrace)) {
      next();
      return;
    }
    const Token& t = peek();
    Diagnostic d{t.loc, fmt::format("expected '}}' to close {}, found {}", what, describe(t)), {}, t.length()};
    d.notes.push_back({open, "the '{' opened here"});
    throw CompileError(CompileError::Phase::Source, std::move(d));
  }

  ast::BlockDef block() {
    ast::BlockDef b;
    b.loc = next().loc;
    b.name = name("a block name after 'block'");
    expect(Tok::LParen, "'(' and the block's parameters");
    skip_newlines();
    while (!is(Tok::RParen)) {
      ast::Param p;
      p.loc = peek().loc;
      p.name = name("a parameter name");
      if (is(Tok::Assign)) next(), p.default_value = expr();
      b.params.push_back(std::move(p));
      skip_newlines();
      if (!is(Tok::RParen)) expect(Tok::Comma, "',' or ')'");
      skip_newlines();
    }
    next();
    SourceLoc open = expect(Tok::LBrace, "'{' to start the block's body").loc;
    while (true) {
      skip_separators();
      if (is(Tok::RBrace) || is(Tok::Eof)) break;
      block_item(b);
      end_statement();
    }
    close_brace(open, fmt::format("block '{}'", b.name));
    return b;
  }

  void block_item(ast::BlockDef& b) {
    if (!is(Tok::Ident)) unexpected("'let', 'pre', 'branch', 'shortcut' or 'post'");
    const Token& word = peek();
    auto once = [&](auto& slot, std::string_view section) {
      if (slot) error_at(word.loc, fmt::format("block '{}' already has a '{}' section", b.name, section), word.length());
      next();
    };
    if (word.text == "let") {
      next();
      ast::Let let;
      let.loc = peek().loc;
      let.name = name("a name after 'let'");
      expect(Tok::Assign, "'=' after the name");
      let.value = expr();
      b.lets.push_back(std::move(let));
    } else if (word.text == "pre") {
      once(b.pre, "pre");
      b.pre = layer_list("'pre'");
    } else if (word.text == "branch") {
      once(b.branch, "branch");
      b.branch = layer_list("'branch'");
    } else if (word.text == "post") {
      once(b.post, "post");
      b.post = layer_list("'post'");
    } else if (word.text == "shortcut") {
      once(b.shortcut, "shortcut");
      ast::Shortcut s;
      s.loc = word.loc;
      if (is_word("from")) {
        next();
        if (is_word("pre")) {
          s.from_pre = true;
        } else if (!is_word("input")) {
          unexpected("'input' or 'pre' after 'from'", {"input", "pre"});
        }
        next();
      }
      if (is_word("if")) next(), s.condition = expr();
      s.layers = layer_list("'shortcut'");
      b.shortcut = std::move(s);
    } else {
      unexpected("'let', 'pre', 'branch', 'shortcut' or 'post'", kBlockItems);
    }
  }

  ast::LayerList layer_list(std::string_view what) {
    ast::LayerList list;
    list.loc = expect(Tok::LBrace, fmt::format("'{{' to start the layers of {}", what)).loc;
    while (true) {
      skip_separators();
      if (is(Tok::RBrace) || is(Tok::Eof)) break;
      list.layers.push_back(layer());
      end_statement();
    }
    close_brace(list.loc, fmt::format("the layers of {}", what));
    return list;
  }

  ast::Layer layer() {
    ast::Layer l;
    l.loc = peek().loc;
    l.op = name("a layer such as 'conv', 'bn' or 'relu'");
    // `gate { layers }` or `gate NAME { layers }`: a nested layer list, not arguments.
    const bool named_gate = is(Tok::Ident) && peek(1).kind == Tok::LBrace;
    if (l.op == "gate" && (is(Tok::LBrace) || named_gate)) {
      if (named_gate) l.op = next().text;
      if (++gate_depth_ > kMaxGateNesting)
        error_at(l.loc, fmt::format("gates nested more than {} levels deep", kMaxGateNesting), 4);
      l.gate = std::make_unique<ast::LayerList>(layer_list("a gate"));
      --gate_depth_;
      return l;
    }
    l.args = args();
    return l;
  }

  std::vector<ast::Arg> args() {
    std::vector<ast::Arg> out;
    while (!at_statement_end()) {
      ast::Arg a;
      a.loc = peek().loc;
      if (is(Tok::Ident) && peek(1).kind == Tok::Assign) {
        a.key = next().text;
        next();
        if (is(Tok::Float)) {
          a.value = real_literal();
        } else if (is(Tok::Dims)) {
          pair_arg(next(), a);
        } else {
          a.value = argument_expr();
        }
      } else if (is(Tok::Ident) && is_shorthand(peek().text)) {
        shorthand_arg(next(), a);
      } else if (is(Tok::Float)) {
        a.value = real_literal();
      } else if (is(Tok::Minus) && peek(1).kind == Tok::Float) {
        // `-0.1`: a negative decimal, which the layer refuses with its own message (leaky_relu's slope)
        const Token minus = next();
        auto e = ast::make_expr(ast::Expr::Kind::Unary, minus.loc);
        e->name = minus.text;
        e->lhs = real_literal();
        a.value = std::move(e);
      } else {
        a.value = argument_expr();
      }
      out.push_back(std::move(a));
    }
    return out;
  }

  // A decimal as a whole argument; the layer's schema says whether it takes one.
  ast::ExprPtr real_literal() {
    const Token& t = next();
    auto e = ast::make_expr(ast::Expr::Kind::Real, t.loc);
    e->real = t.float_value;
    e->name = t.text;
    return e;
  }

  // `k3` or `k1x7`: the key letter, then one number or a height x width pair.
  void shorthand_arg(const Token& t, ast::Arg& a) {
    a.key = t.text.substr(0, 1);
    const std::string_view rest = std::string_view(t.text).substr(1);
    const size_t cross = rest.find('x');
    auto digits_only = [](std::string_view d) {
      return !d.empty() && std::all_of(d.begin(), d.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    };
    const bool one = cross == std::string_view::npos && digits_only(rest);
    const bool two = cross != std::string_view::npos && digits_only(rest.substr(0, cross)) && digits_only(rest.substr(cross + 1));
    const bool pairs = std::string_view("kspd").find(a.key[0]) != std::string_view::npos;
    if (!one && !two)
      error_at(t.loc, pairs ? fmt::format("malformed shorthand '{}': expected '{}' then a number, or a height x width "
                                          "pair like {}1x7",
                                          t.text, a.key, a.key)
                            : fmt::format("malformed shorthand '{}': expected '{}' then a number, like {}4", t.text,
                                          a.key, a.key),
               t.length());
    if (two && !pairs)
      error_at(t.loc, fmt::format("'{}' takes one number, not a pair: only k, s, p and d (kernel, stride, padding, "
                                  "dilation) take height x width",
                                  a.key),
               t.length());
    a.value = literal(rest.substr(0, cross), t);
    if (two) a.width = literal(rest.substr(cross + 1), t);
  }

  // `kernel=1x7`: the dimensions token as a height x width pair.
  void pair_arg(const Token& t, ast::Arg& a) {
    const size_t cross = t.text.find('x');
    if (t.text.find('x', cross + 1) != std::string::npos)
      error_at(t.loc, fmt::format("'{}' has {} numbers: a pair is height x width, like {}=1x7", t.text,
                                  std::count(t.text.begin(), t.text.end(), 'x') + 1, a.key),
               t.length());
    a.value = literal(std::string_view(t.text).substr(0, cross), t);
    a.width = literal(std::string_view(t.text).substr(cross + 1), t);
  }

  static ast::ExprPtr literal(std::string_view digits, const Token& t) {
    if (digits.size() > 18) error_at(t.loc, fmt::format("number in '{}' is too large", t.text), t.length());
    auto value = ast::make_expr(ast::Expr::Kind::Int, t.loc);
    value->value = std::stoll(std::string(digits));
    return value;
  }

  ast::NetworkDef network() {
    ast::NetworkDef n;
    n.loc = next().loc;
    n.name = name("a network name after 'network'");
    SourceLoc open = expect(Tok::LBrace, "'{' to start the network").loc;
    while (true) {
      skip_separators();
      if (is(Tok::RBrace) || is(Tok::Eof)) break;
      network_item(n);
      end_statement();
    }
    SourceLoc close = peek().loc;
    close_brace(open, fmt::format("network '{}'", n.name));
    closed_network_ = close;
    return n;
  }

  void network_item(ast::NetworkDef& n) {
    if (!is(Tok::Ident)) unexpected("'input', 'stem', 'stage', 'head' or 'train'");
    const Token word = peek();
    auto once = [&](bool present, std::string_view section) {
      if (present)
        error_at(word.loc, fmt::format("network '{}' already has a '{}' section", n.name, section), word.length());
      next();
    };
    if (word.text == "input") {
      once(!n.input.empty(), "input");
      n.input_loc = peek().loc;
      n.input = dims_value();
    } else if (word.text == "stem") {
      once(n.stem.has_value(), "stem");
      if (!n.stages.empty() || n.head) error_at(word.loc, "'stem' must come before the stages and the head", word.length());
      n.stem = layer_list("'stem'");
    } else if (word.text == "stage") {
      next();
      if (n.head) error_at(word.loc, "'stage' must come before 'head'", word.length());
      ast::Stage s;
      s.loc = word.loc;
      s.block_loc = peek().loc;
      s.block = name("a block name after 'stage'");
      s.args = args();
      n.stages.push_back(std::move(s));
    } else if (word.text == "head") {
      once(n.head.has_value(), "head");
      n.head = layer_list("'head'");
    } else if (word.text == "train") {
      once(!n.train.empty() || n.train_loc.valid(), "train");
      n.train_loc = word.loc;
      train_section(n);
    } else {
      unexpected("'input', 'stem', 'stage', 'head' or 'train'", kNetworkItems);
    }
  }

  std::vector<int64_t> dims_value() {
    const Token& t = expect(Tok::Dims, "the input size as CxHxW, like 1x96x96");
    std::vector<int64_t> dims;
    size_t start = 0;
    while (start <= t.text.size()) {
      size_t x = t.text.find('x', start);
      std::string part = t.text.substr(start, x == std::string::npos ? std::string::npos : x - start);
      if (part.size() > 9) error_at(t.loc, fmt::format("dimension {} in '{}' is too large", part, t.text), t.length());
      dims.push_back(std::stoll(part));
      if (x == std::string::npos) break;
      start = x + 1;
    }
    if (dims.size() != 3)
      error_at(t.loc, fmt::format("input must be CxHxW (3 numbers), got '{}' ({} numbers)", t.text, dims.size()),
               t.length());
    for (int64_t d : dims)
      if (d < 1) error_at(t.loc, fmt::format("input dimensions must be at least 1, got '{}'", t.text), t.length());
    return dims;
  }

  void train_section(ast::NetworkDef& n) {
    SourceLoc open = expect(Tok::LBrace, "'{' to start the training settings").loc;
    while (true) {
      skip_separators();
      if (is(Tok::RBrace) || is(Tok::Eof)) break;
      ast::Setting s;
      s.loc = peek().loc;
      s.key = name("a training setting such as 'epochs' or 'lr'");
      const Token& v = peek();
      if (v.kind != Tok::Int && v.kind != Tok::Float && v.kind != Tok::Ident && v.kind != Tok::String)
        unexpected(fmt::format("a value for '{}'", s.key));
      s.value = next();
      // Data set names are hyphenated (fashion-mnist): join `word-word` written without spaces.
      while (s.value.kind == Tok::Ident && is(Tok::Minus) && adjacent(s.value, peek()) && peek(1).kind == Tok::Ident &&
             adjacent(peek(), peek(1))) {
        next();
        s.value.text += "-" + next().text;
      }
      if (is(Tok::String)) s.second = next();
      n.train.push_back(std::move(s));
      end_statement();
    }
    close_brace(open, "the training settings");
  }

  static bool adjacent(const Token& a, const Token& b) {
    return a.loc.line == b.loc.line && a.loc.col + a.text.size() == b.loc.col;
  }

  // An argument's value. Arguments are separated by spaces only, so `fc 10 -1` would silently
  // be `fc 9`: outside parentheses, a `+` or `-` with a space before it and none after is an
  // error instead.
  ast::ExprPtr argument_expr() {
    const bool outer = in_argument_;
    in_argument_ = true;
    ast::ExprPtr e = expr();
    in_argument_ = outer;
    return e;
  }

  void reject_sign_like_operator() const {
    const Token& op = peek();
    if (!in_argument_ || (op.kind != Tok::Plus && op.kind != Tok::Minus) || adjacent(tokens_[pos_ - 1], op) ||
        !adjacent(op, peek(1)))
      return;
    error_at(op.loc,
             op.kind == Tok::Minus
                 ? fmt::format("'-{0}' after a space would subtract {0} from the argument before it; write '- {0}' "
                               "for that, or '(-{0})' for an argument of its own",
                               peek(1).text)
                 : fmt::format("'+{0}' after a space would add {0} to the argument before it; write '+ {0}' for "
                               "that, or '{0}' for an argument of its own",
                               peek(1).text),
             op.length() + peek(1).length());
  }

  // Expressions: or < and < not < comparison < + - < * / % < unary minus < primary.
  ast::ExprPtr expr() {
    if (++depth_ > kMaxNesting) error_at(peek().loc, fmt::format("expression nested more than {} levels deep", kMaxNesting));
    ast::ExprPtr e = binary(0);
    --depth_;
    return e;
  }

  static int precedence(const Token& t) {
    if (t.kind == Tok::Ident) return t.text == "or" ? 1 : t.text == "and" ? 2 : 0;
    switch (t.kind) {
      case Tok::Eq: case Tok::NotEq: case Tok::Less: case Tok::LessEq: case Tok::Greater: case Tok::GreaterEq: return 4;
      case Tok::Plus: case Tok::Minus: return 5;
      case Tok::Star: case Tok::Slash: case Tok::Percent: return 6;
      default: return 0;
    }
  }

  ast::ExprPtr binary(int min_prec) {
    ast::ExprPtr lhs = unary();
    while (true) {
      int prec = precedence(peek());
      if (prec == 0 || prec <= min_prec) return lhs;
      reject_sign_like_operator();
      const Token op = next();
      // Comparisons do not chain: `a < b < c` is an error, not (a < b) < c.
      ast::ExprPtr rhs = binary(prec);
      if (prec == 4 && precedence(peek()) == 4)
        error_at(peek().loc, "comparisons cannot be chained; use 'and'", peek().length());
      auto e = ast::make_expr(ast::Expr::Kind::Binary, op.loc);
      e->name = op.text;
      e->lhs = std::move(lhs);
      e->rhs = std::move(rhs);
      lhs = std::move(e);
    }
  }

  ast::ExprPtr unary() {
    if (is(Tok::Minus) || is_word("not")) {
      const Token op = next();
      if (++depth_ > kMaxNesting) error_at(op.loc, fmt::format("expression nested more than {} levels deep", kMaxNesting));
      auto e = ast::make_expr(ast::Expr::Kind::Unary, op.loc);
      e->name = op.text;
      e->lhs = op.kind == Tok::Minus ? unary() : binary(3);  // `not` binds looser than comparisons
      --depth_;
      return e;
    }
    return primary();
  }

  ast::ExprPtr primary() {
    const Token& t = peek();
    if (t.kind == Tok::Int) {
      next();
      auto e = ast::make_expr(ast::Expr::Kind::Int, t.loc);
      e->value = t.int_value;
      return e;
    }
    if (t.kind == Tok::Ident && t.text != "and" && t.text != "or" && t.text != "not") {
      next();
      auto e = ast::make_expr(ast::Expr::Kind::Name, t.loc);
      e->name = t.text;
      return e;
    }
    if (t.kind == Tok::LParen) {
      next();
      const bool outer = in_argument_;
      in_argument_ = false;  // `(10 -1)` is unambiguous
      ast::ExprPtr e = expr();
      in_argument_ = outer;
      expect(Tok::RParen, "')'");
      return e;
    }
    if (t.kind == Tok::Float) error_at(t.loc, fmt::format("expected an integer, found {}", describe(t)), t.length());
    unexpected("a value (a number, a name or '(')");
  }

  std::optional<SourceLoc> closed_network_;  // where the last network's '}' was
  std::optional<Diagnostic> lex_error_;  // declared before tokens_: the constructor fills both
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  bool in_argument_ = false;  // parsing an argument's value, outside parentheses
  int depth_ = 0;
  int gate_depth_ = 0;  // gates inside gates: bounded, as expressions are, so recursion cannot exhaust the stack
};

}  // namespace

ast::File parse(const SourceFile& file) { return Parser(file).file(); }

}  // namespace resnetc::dsl
