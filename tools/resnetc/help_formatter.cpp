#include "tools/resnetc/help_formatter.h"

#include <sstream>

namespace resnetc::cli {
namespace {

constexpr size_t kWidth = 80;

// `text` with its lines broken at spaces so none is longer than `width` (a longer word stays whole).
std::string wrap(const std::string& text, size_t width) {
  std::string out, line;
  std::istringstream lines(text);
  for (std::string given; std::getline(lines, given);) {
    std::istringstream words(given);
    line.clear();
    for (std::string word; words >> word;) {
      if (!line.empty() && line.size() + 1 + word.size() > width) out += line + "\n", line.clear();
      line += (line.empty() ? "" : " ") + word;
    }
    out += line + "\n";
  }
  if (!text.ends_with('\n') && !out.empty()) out.pop_back();
  return out;
}

}  // namespace

HelpFormatter::HelpFormatter(std::map<std::string, std::string> usage) : usage_(std::move(usage)) {
  column_width(26);
}

// The usage line first (CLI11 puts the description first), the commands before the options, and
// one blank line between parts (CLI11 puts two between groups).
std::string HelpFormatter::make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const {
  const std::string footer = make_footer(app);
  return make_usage(app, name) + "\n" + make_description(app) + make_subcommands(app, mode) + "\n" +
         make_groups(app, mode) + (footer.empty() ? "" : "\n" + footer);
}

std::string HelpFormatter::make_group(std::string group, bool is_positional,
                                      std::vector<const CLI::Option*> opts) const {
  std::string out = group + ":\n";
  for (const CLI::Option* opt : opts) out += make_option(opt, is_positional);
  return out;
}

std::string HelpFormatter::make_usage(const CLI::App* app, std::string) const {
  return "usage: " + usage_.at(app->get_name()) + "\n";
}

std::string HelpFormatter::make_description(const CLI::App* app) const {
  return app->get_description().empty() ? "" : wrap(app->get_description(), kWidth) + "\n";
}

std::string HelpFormatter::make_footer(const CLI::App* app) const {
  return app->get_footer().empty() ? "" : wrap(app->get_footer(), kWidth) + "\n";
}

// The usage line names the positionals and the description says what they are.
std::string HelpFormatter::make_positionals(const CLI::App*) const { return ""; }

std::string HelpFormatter::make_subcommand(const CLI::App* sub) const {
  std::stringstream out;
  CLI::detail::format_help(out, sub->get_name(), wrap(sub->get_description(), kWidth - column_width_), column_width_);
  return out.str();
}

std::string HelpFormatter::make_option(const CLI::Option* opt, bool is_positional) const {
  std::stringstream out;
  CLI::detail::format_help(out, make_option_name(opt, is_positional) + make_option_opts(opt),
                           wrap(make_option_desc(opt), kWidth - column_width_), column_width_);
  return out.str();
}

std::string HelpFormatter::make_option_name(const CLI::Option* opt, bool is_positional) const {
  // -O takes its level attached, so it is shown as the three flags people type.
  if (opt->get_name() == "-O") return "-O0, -O1, -O2";
  std::string names = CLI::Formatter::make_option_name(opt, is_positional);
  return CLI::detail::find_and_replace(names, ",", ", ");
}

}  // namespace resnetc::cli
