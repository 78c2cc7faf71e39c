#pragma once
// resnetc's commands and their options as CLI11 apps bound to an Options: parsing fills it in,
// each value checked as it is read (a UsageError names the option and what it expects).
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/resnetc/options.h"

namespace resnetc::cli {

class CommandLine {
 public:
  // `o` must outlive the command line: parsing writes into it.
  explicit CommandLine(Options& o);

  CLI::App& top() { return app_; }  // --help, --version, --prelude, --list-passes; the commands
  CLI::App* command(std::string_view name);  // compile, train, eval, bench or help; null if none
  std::vector<CLI::App*> commands();         // in that order
  const std::string& help_topic() const { return help_topic_; }  // `resnetc help COMMAND`'s COMMAND

 private:
  CLI::App app_;
  std::string help_topic_;
};

// The command of compile, train, eval or bench; none for other names (help among them).
std::optional<Command> command_named(std::string_view name);
std::string_view name_of(Command command);

}  // namespace resnetc::cli
