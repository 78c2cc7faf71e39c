#include "dsl/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace resnetc::dsl {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid.
size_t utf8_length(std::string_view s, size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  return n;
}

// The source line made safe for a terminal (control bytes and broken UTF-8 become '?'),
// and the caret line's indentation, both cut to a window around the caret.
struct ShownLine {
  std::string text, indent;
};

ShownLine show_line(std::string_view line, uint32_t col) {
  constexpr size_t kWindow = 100;
  size_t caret = std::min<size_t>(col > 0 ? col - 1 : 0, line.size());
  size_t begin = caret > kWindow ? caret - kWindow : 0;
  size_t end = std::min(line.size(), caret + kWindow);
  ShownLine out;
  if (begin > 0) out.text = "...", out.indent = "   ";
  for (size_t i = begin; i < end;) {
    size_t n = utf8_length(line, i);
    char c = line[i];
    bool control = n == 1 && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) && c != '\t';
    if (n == 0 || control) {
      out.text += '?', n = 1;
    } else {
      out.text.append(line.substr(i, n));
    }
    if (i < caret) out.indent += c == '\t' ? '\t' : ' ';
    i += n;
  }
  if (end < line.size()) out.text += "...";
  return out;
}

std::string location_prefix(const SourceLoc& loc) {
  std::string file = loc.file ? *loc.file : std::string("<unknown>");
  if (loc.line == 0) return file;
  return fmt::format("{}:{}:{}", file, loc.line, loc.col);
}

void render_one(std::string& out, const SourceLoc& loc, std::string_view kind, std::string_view message,
                uint32_t length, const SourceManager& sources) {
  out += fmt::format("{}: {}: {}\n", location_prefix(loc), kind, message);
  const SourceFile* file = sources.find(loc);
  if (!file || loc.line == 0) return;
  ShownLine shown = show_line(file->line(loc.line), loc.col);
  std::string gutter = fmt::format("{:>5}", loc.line);
  out += fmt::format("{} | {}\n", gutter, shown.text);
  out += fmt::format("{} | {}^{}\n", std::string(gutter.size(), ' '), shown.indent,
                     std::string(length > 1 ? std::min<uint32_t>(length, 80) - 1 : 0, '~'));
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1])) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

void error_at(const SourceLoc& loc, std::string message, uint32_t length) {
  throw CompileError(CompileError::Phase::Source, loc, std::move(message), length);
}

std::string render(const Diagnostic& d, const SourceManager& sources) {
  Diagnostic shown = d;
  const SourceFile* file = sources.find(d.loc);
  if (file && file->is_prelude) {
    // The user did not write the prelude: point at their line, keep the prelude as a note.
    auto user = std::find_if(d.notes.begin(), d.notes.end(), [&](const Note& n) {
      const SourceFile* f = sources.find(n.loc);
      return f && !f->is_prelude;
    });
    if (user != d.notes.end()) {
      shown.loc = user->loc;
      shown.length = 1;
      shown.notes.erase(shown.notes.begin() + (user - d.notes.begin()));
      // "in block 'basic' (stage2.block0) instantiated here" becomes a note at the prelude line.
      std::string where = user->message.substr(0, user->message.rfind(" instantiated here"));
      shown.notes.insert(shown.notes.begin(), Note{d.loc, where + ", at this line of the built-in block"});
    } else if (const SourceFile* stage = d.loc.instance ? sources.find(*d.loc.instance) : nullptr;
               stage && !stage->is_prelude) {
      // Found after lowering (autodiff, a pass): the op remembers the stage of its block.
      shown.loc = *d.loc.instance;
      shown.length = 1;
      shown.notes.insert(shown.notes.begin(), Note{d.loc, "in the built-in block this stage uses, at this line"});
    }
  }
  std::string out;
  render_one(out, shown.loc, "error", shown.message, shown.length, sources);
  for (const Note& n : shown.notes) render_one(out, n.loc, "note", n.message, 1, sources);
  return out;
}

std::string nearest(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;  // only plausible typos
  for (std::string_view c : candidates) {
    size_t d = edit_distance(word.substr(0, 64), c);
    if (d < best_distance) best = c, best_distance = d;
  }
  return std::string(best);
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string n = nearest(word, candidates);
  return n.empty() ? std::string() : fmt::format("; did you mean '{}'?", n);
}

}  // namespace resnetc::dsl
