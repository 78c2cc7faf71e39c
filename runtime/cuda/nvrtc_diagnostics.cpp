#include "runtime/cuda/nvrtc_diagnostics.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <vector>

namespace resnetc::cuda {
namespace {

constexpr std::size_t kMaxQuotedErrors = 10;  // the first errors explain the rest
constexpr std::size_t kContextLines = 2;

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    lines.push_back(line);
    if (end == std::string_view::npos) {
      break;
    }
    text.remove_prefix(end + 1);
  }
  return lines;
}

struct ErrorReference {
  std::size_t line;          // 1-based
  std::string_view message;  // the log line, for the heading
};

// Parses "<name>(LINE): <severity>: text", keeping it when the severity is an error.
bool parse_error_reference(std::string_view log_line, std::string_view program_name, std::size_t& line) {
  if (!log_line.starts_with(program_name) || log_line.substr(program_name.size()).substr(0, 1) != "(") {
    return false;
  }
  std::string_view rest = log_line.substr(program_name.size() + 1);
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), line);
  if (ec != std::errc{} || line == 0) {
    return false;
  }
  rest.remove_prefix(static_cast<std::size_t>(end - rest.data()));
  if (!rest.starts_with("): ")) {
    return false;
  }
  rest.remove_prefix(3);
  std::string_view severity = rest.substr(0, rest.find(':'));
  return severity.ends_with("error");
}

}  // namespace

std::string quote_error_lines(std::string_view log, std::string_view program_name, std::string_view source) {
  std::vector<ErrorReference> errors;
  for (std::string_view log_line : split_lines(log)) {
    std::size_t line = 0;
    if (errors.size() < kMaxQuotedErrors && parse_error_reference(log_line, program_name, line) &&
        std::ranges::none_of(errors, [&](const ErrorReference& e) { return e.line == line; })) {
      errors.push_back({line, log_line});
    }
  }

  const std::vector<std::string_view> source_lines = split_lines(source);
  const int width = static_cast<int>(fmt::formatted_size("{}", source_lines.size()));
  std::string quoted;
  for (const ErrorReference& error : errors) {
    quoted += fmt::format("{}\n", error.message);
    if (error.line > source_lines.size()) {
      quoted += fmt::format("  (line {} is past the end of the {}-line source)\n", error.line, source_lines.size());
      continue;
    }
    std::size_t first = error.line > kContextLines ? error.line - kContextLines : 1;
    std::size_t last = std::min(source_lines.size(), error.line + kContextLines);
    for (std::size_t n = first; n <= last; ++n) {
      quoted += fmt::format("{} {:>{}} | {}\n", n == error.line ? '>' : ' ', n, width, source_lines[n - 1]);
    }
  }
  return quoted;
}

}  // namespace resnetc::cuda
