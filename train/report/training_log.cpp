#include "train/report/training_log.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>

#include "train/run_files.h"

namespace resnetc::report {
namespace {

namespace fs = std::filesystem;
using train::EpochReport;

// The columns resnetc writes, and the member of EpochReport each one fills.
constexpr std::array<std::pair<std::string_view, double EpochReport::*>, 6> kMetrics = {{
    {"loss", &EpochReport::loss},
    {"train_acc", &EpochReport::train_acc},
    {"test_acc", &EpochReport::test_acc},
    {"seconds", &EpochReport::seconds},
    {"examples_per_sec", &EpochReport::examples_per_sec},
    {"lr", &EpochReport::lr},
}};
constexpr std::array<std::string_view, 4> kRequired = {"epoch", "loss", "train_acc", "test_acc"};

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// A number as fmt and Python write them: "nan", "inf", "NaN" and "Infinity" included (strtod
// takes them all), and JSON's null for a value that is missing.
std::optional<double> number(std::string_view text) {
  const std::string s(trimmed(text));
  if (s == "null") return std::nan("");
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return v;
}

std::optional<int64_t> epoch_number(std::string_view text) {
  text = trimmed(text);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1) return std::nullopt;
  return v;
}

// A JSON value of a flat object: a string or a number.
struct JsonValue {
  bool is_string = false;
  std::string text;
  double number = 0;
};

// One line of JSON lines: a flat object, no nesting (resnetc writes nothing else). Empty when
// the line is not one.
std::optional<std::map<std::string, JsonValue>> flat_object(std::string_view s) {
  size_t i = 0;
  auto skip = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
  };
  auto string = [&]() -> std::optional<std::string> {
    if (i >= s.size() || s[i] != '"') return std::nullopt;
    std::string out;
    for (++i; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] != '\\') {
        out += s[i];
        continue;
      }
      if (++i >= s.size()) return std::nullopt;
      switch (s[i]) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          unsigned code = 0;
          if (i + 4 >= s.size() ||
              std::from_chars(s.data() + i + 1, s.data() + i + 5, code, 16).ptr != s.data() + i + 5)
            return std::nullopt;
          i += 4;
          // Names and commands: anything beyond ASCII is kept as a replacement mark.
          out += code < 0x80 ? static_cast<char>(code) : '?';
          break;
        }
        default: out += s[i];
      }
    }
    if (i >= s.size()) return std::nullopt;
    ++i;
    return out;
  };
  std::map<std::string, JsonValue> members;
  skip();
  if (i >= s.size() || s[i++] != '{') return std::nullopt;
  skip();
  const bool empty = i < s.size() && s[i] == '}';
  while (!empty) {
    skip();
    std::optional<std::string> key = string();
    if (!key) return std::nullopt;
    skip();
    if (i >= s.size() || s[i++] != ':') return std::nullopt;
    skip();
    JsonValue value;
    if (i < s.size() && s[i] == '"') {
      std::optional<std::string> text = string();
      if (!text) return std::nullopt;
      value = {true, *text, 0};
    } else {
      const size_t start = i;
      while (i < s.size() && s[i] != ',' && s[i] != '}') ++i;
      const std::string_view token = trimmed(s.substr(start, i - start));
      std::optional<double> v = number(token);
      if (!v) return std::nullopt;
      value = {false, std::string(token), *v};
    }
    members[*key] = value;
    skip();
    if (i >= s.size() || (s[i] != ',' && s[i] != '}')) return std::nullopt;
    if (s[i] == '}') break;
    ++i;  // a comma: another member follows
  }
  ++i;  // the closing brace
  skip();
  if (i != s.size()) return std::nullopt;
  return members;
}

// The line, cut to 60 characters, for a message.
std::string quote(std::string_view line) {
  std::string out(line.substr(0, 60));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return fmt::format("'{}{}'", out, line.size() > 60 ? "..." : "");
}

class LogReader {
 public:
  explicit LogReader(fs::path path) : path_(std::move(path)) {}

  std::vector<LoggedRun> read(const std::string& text) {
    size_t begin = 0;
    // Only lines that end with a newline: the last one may be half written.
    for (size_t end = text.find('\n'); end != std::string::npos; begin = end + 1, end = text.find('\n', begin)) {
      ++line_;
      const std::string_view line = trimmed(std::string_view(text).substr(begin, end - begin));
      if (line.empty()) continue;
      if (!started_ && !train::looks_like_resnetc_log(std::string(line)))
        fail(
            fmt::format("not a resnetc training log: it starts with {}, where resnetc train --log writes '# run ...', "
                        "'epoch,loss,...' or a JSON object with \"run\" or \"epoch\"",
                        quote(line)));
      started_ = true;
      if (line.starts_with('{'))
        json_line(line);
      else
        csv_line(line);
    }
    return std::move(runs_);
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw LogError(fmt::format("{}:{}: {}", path_.string(), line_, message));
  }

  void same_format(bool json) {
    if (json_ && *json_ != json)
      fail(fmt::format("a {} line in a {} log", json ? "JSON" : "CSV", *json_ ? "JSON lines" : "CSV"));
    json_ = json;
  }

  // A header row: a new run, or (resumed) the continuation of the one before.
  void header(std::string id, std::string date, std::string command, bool resumed) {
    if (resumed && !runs_.empty() && runs_.back().has_header) return;
    LoggedRun run;
    run.file = path_;
    run.ordinal = runs_.size() + 1;
    run.has_header = true;
    run.id = std::move(id);
    run.date = std::move(date);
    run.command = std::move(command);
    runs_.push_back(std::move(run));
  }

  void row(const EpochReport& report) {
    // Without header rows, a run ends where the epoch goes back.
    if (runs_.empty() || (!runs_.back().has_header && !runs_.back().epochs.empty() &&
                          report.epoch <= runs_.back().epochs.back().epoch)) {
      LoggedRun run;
      run.file = path_;
      run.ordinal = runs_.size() + 1;
      runs_.push_back(std::move(run));
    }
    runs_.back().epochs.push_back(report);
  }

  // "# run ID DATE[ (resumed_after_epoch E)]: COMMAND", then "epoch,loss,..." or rows.
  void csv_line(std::string_view line) {
    same_format(false);
    if (line.starts_with("# run ")) {
      const std::string_view rest = line.substr(6);
      const size_t colon = rest.find(": ");
      const std::string_view fields = rest.substr(0, colon);
      const size_t space = fields.find(' ');
      if (colon == std::string_view::npos || space == std::string_view::npos)
        fail(fmt::format("a run header is '# run ID DATE: COMMAND', got {}", quote(line)));
      const std::string_view date = fields.substr(space + 1, fields.find(' ', space + 1) - space - 1);
      header(std::string(fields.substr(0, space)), std::string(date), std::string(rest.substr(colon + 2)),
             fields.find("resumed_after_epoch") != std::string_view::npos);
      columns_.clear();
      return;
    }
    if (line.starts_with("epoch,")) {
      columns_.clear();
      std::string name;
      for (std::istringstream in{std::string(line)}; std::getline(in, name, ',');) columns_.push_back(name);
      for (std::string_view required : kRequired)
        if (std::find(columns_.begin(), columns_.end(), required) == columns_.end())
          fail(fmt::format("the column names lack '{}': {}", required, quote(line)));
      return;
    }
    if (columns_.empty()) fail(fmt::format("a row before the column names (epoch,loss,...): {}", quote(line)));
    std::vector<std::string_view> fields;
    for (size_t start = 0;;) {
      const size_t comma = line.find(',', start);
      fields.push_back(line.substr(start, comma - start));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (fields.size() != columns_.size())
      fail(fmt::format("a row of {} fields where the columns are {} ({}): {}", fields.size(), columns_.size(),
                       fmt::join(columns_, ","), quote(line)));
    EpochReport report;
    for (size_t k = 0; k < fields.size(); ++k) set(report, columns_[k], fields[k], line);
    row(report);
  }

  void json_line(std::string_view line) {
    same_format(true);
    std::optional<std::map<std::string, JsonValue>> object = flat_object(line);
    if (!object) fail(fmt::format("not a JSON object of names and values: {}", quote(line)));
    auto text = [&](const char* key) {
      auto it = object->find(key);
      return it != object->end() && it->second.is_string ? it->second.text : std::string();
    };
    if (object->contains("run")) {
      header(text("run"), text("date"), text("command"), object->contains("resumed_after_epoch"));
      return;
    }
    if (!object->contains("epoch"))
      fail(fmt::format("a JSON line with neither \"run\" nor \"epoch\": {}", quote(line)));
    for (std::string_view required : kRequired)
      if (!object->contains(std::string(required)))
        fail(fmt::format("an epoch without \"{}\": {}", required, quote(line)));
    EpochReport report;
    for (const auto& [key, value] : *object) set(report, key, value.text, line);
    row(report);
  }

  // One field of a row; names resnetc does not write are ignored, for logs of a later version.
  void set(EpochReport& report, std::string_view column, std::string_view text, std::string_view line) {
    if (column == "epoch") {
      std::optional<int64_t> epoch = epoch_number(text);
      if (!epoch) fail(fmt::format("the epoch is '{}', not a whole number from 1: {}", trimmed(text), quote(line)));
      report.epoch = *epoch;
      return;
    }
    for (const auto& [name, member] : kMetrics) {
      if (column != name) continue;
      const std::string_view token = trimmed(text);
      std::optional<double> v = number(token);
      if (!v) fail(fmt::format("{} is '{}', not a number: {}", name, token, quote(line)));
      report.*member = *v;
    }
  }

  fs::path path_;
  size_t line_ = 0;
  bool started_ = false;
  std::optional<bool> json_;
  std::vector<std::string> columns_;
  std::vector<LoggedRun> runs_;
};

std::string kind_of(const fs::file_status& s) {
  switch (s.type()) {
    case fs::file_type::directory: return "a directory";
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::character: return "a character device";
    case fs::file_type::block: return "a block device";
    case fs::file_type::socket: return "a socket";
    default: return "not a regular file";
  }
}

}  // namespace

std::vector<LoggedRun> read_training_log(const fs::path& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) throw LogError(fmt::format("cannot read the log {}: there is no such file", path.string()));
  if (!fs::is_regular_file(status))
    throw LogError(fmt::format("{} is {}, not a training log", path.string(), kind_of(status)));
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open())
    throw LogError(fmt::format("cannot read the log {}: {}", path.string(),
                               std::error_code(errno, std::generic_category()).message()));
  std::ostringstream text;
  text << in.rdbuf();
  return LogReader(path).read(text.str());
}

}  // namespace resnetc::report
