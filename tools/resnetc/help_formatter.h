#pragma once
// How `resnetc --help` and `resnetc COMMAND --help` lay out CLI11's apps: the usage line
// first, descriptions word-wrapped to 80 columns, and -O shown as the flags people type.
#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

namespace resnetc::cli {

class HelpFormatter : public CLI::Formatter {
 public:
  // `usage` maps an app's name ("" for the top level) to what follows "usage: ".
  explicit HelpFormatter(std::map<std::string, std::string> usage);

  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override;
  std::string make_group(std::string group, bool is_positional, std::vector<const CLI::Option*> opts) const override;
  std::string make_usage(const CLI::App* app, std::string name) const override;
  std::string make_description(const CLI::App* app) const override;
  std::string make_footer(const CLI::App* app) const override;
  std::string make_positionals(const CLI::App* app) const override;
  std::string make_subcommand(const CLI::App* sub) const override;
  std::string make_option(const CLI::Option* opt, bool is_positional) const override;
  std::string make_option_name(const CLI::Option* opt, bool is_positional) const override;

 private:
  std::map<std::string, std::string> usage_;
};

}  // namespace resnetc::cli
