#include "tools/resnetc/options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <iostream>

#include "compiler/passes/pass.h"
#include "dsl/diagnostics.h"
#include "train/report/figure_file.h"
#include "tools/resnetc/command_line.h"

namespace resnetc::cli {
namespace {

bool top_level_flag(std::string_view arg) {
  return arg == "-h" || arg == "--help" || arg == "--version" || arg == "--prelude" || arg == "--list-passes";
}

// CLI11 reads `--name=` as `--name` and takes the next argument for its value; given as two
// arguments, the empty value stays empty for the option's own check to refuse.
void keep_empty_values(std::vector<std::string>& args, const CLI::App& command) {
  for (size_t i = 0; i < args.size() && args[i] != "--"; ++i) {
    if (!args[i].starts_with("--") || !args[i].ends_with('=')) continue;
    std::string name = args[i].substr(0, args[i].size() - 1);
    const CLI::Option* option = command.get_option_no_throw(name);
    if (option == nullptr || option->get_expected_min() == 0) continue;
    args[i] = name;
    args.insert(args.begin() + static_cast<std::ptrdiff_t>(++i), "");
  }
}

// "a", "a and b", "a, b and c"
std::string listing(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return out;
}

// The long ones: a suggested -O or -h would be a guess, not a spelling.
std::vector<std::string> long_option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options())
    for (const std::string& l : option->get_lnames()) names.push_back("--" + l);
  return names;
}

// The first argument `command` left over: another model, an option of another command, or a typo.
std::string leftover(CommandLine& cl, CLI::App& command, const std::string& arg, const Options& o) {
  const bool help = command.get_name() == "help";
  if (!arg.starts_with('-') || arg == "-") {
    if (help) return fmt::format("help takes one command, got '{}' and '{}'", cl.help_topic(), arg);
    return fmt::format("more than one model given: '{}' and '{}'", o.model, arg);
  }
  const std::string name = arg.substr(0, arg.find('='));
  if (command.get_name() == "train" && name == "--weights")
    return "train does not take --weights: use --init FILE to start from a checkpoint's weights, or --resume to "
           "continue a run";
  // A short option may have its value attached (-O2): it is looked up by its first letter.
  const std::string lookup = name.starts_with("--") ? name : name.substr(0, 2);
  std::vector<std::string> owners;
  for (CLI::App* other : cl.commands())
    if (other != &command && other->get_option_no_throw(lookup) != nullptr) owners.push_back(other->get_name());
  if (!owners.empty())
    return fmt::format("{} does not apply to {} (it is an option of {})", name, command.get_name(), listing(owners));
  std::vector<std::string> known = long_option_names(command), top = long_option_names(cl.top());
  known.insert(known.end(), top.begin(), top.end());
  return fmt::format("unknown option '{}'{}", name,
                     dsl::did_you_mean(name, std::vector<std::string_view>(known.begin(), known.end())));
}

// CLI11's own messages start with the option's name (without its dashes when a flag got a value).
std::string mismatch(const CLI::ArgumentMismatch& e) {
  const std::string what = e.what();
  const std::string name = what.substr(0, what.find_first_of(": "));
  if (what.ends_with(" missing")) return name + " needs a value";
  if (what.ends_with("disallowed flag override")) return (name.starts_with('-') ? "" : "--") + name + " takes no value";
  return what;
}

void check_figure_name(std::string_view option, const std::string& name) {
  if (!report::figure_format(name))
    throw UsageError(
        fmt::format("{} writes an SVG or a PNG figure: its name ends in .svg or .png, got '{}'", option, name));
}

void finish_plot(Options& o) {
  o.command = Command::Plot;
  if (o.logs.empty()) throw UsageError("plot needs one or more training logs (written by resnetc train --log)");
  if (o.output.empty()) throw UsageError("plot needs -o FILE, the figure to write (.svg or .png)");
  check_figure_name("-o", o.output);
}

// What `command` (parsed into `o`) asks for, or what is wrong with it.
void finish(CommandLine& cl, CLI::App* command, Options& o) {
  std::vector<std::string> extras = cl.top().remaining(true);
  std::erase(extras, "--");  // CLI11 keeps the end-of-options mark among the extras
  if (!extras.empty()) throw UsageError(leftover(cl, command != nullptr ? *command : cl.top(), extras.front(), o));
  if (command != nullptr && command->get_name() == "help") {
    o.help = true;
    const std::string& topic = cl.help_topic();
    if (topic.empty() || topic == "help") return;
    o.help_for = command_named(topic);
    if (!o.help_for) {
      std::vector<std::string_view> names;
      for (CLI::App* c : cl.commands()) names.push_back(c->get_name());
      throw UsageError(fmt::format("there is no command '{}'{} (commands: {})", topic, dsl::did_you_mean(topic, names),
                                   fmt::join(names, ", ")));
    }
    return;
  }
  if (o.version || o.prelude || o.list_passes) return;
  if (command != nullptr && command->get_name() == "plot") return finish_plot(o);
  if (command == nullptr || o.model.empty()) throw UsageError("no model given");
  o.command = *command_named(command->get_name());
  if (o.train && o.emit == Emit::Table)
    throw UsageError("--train shows the training step: use it with --emit=ir, dot, plan, llvm or cuda");
  if (o.collectives && !(o.train && o.emit == Emit::Plan))
    throw UsageError("--collectives shows the training plan's all-reduces: use it with --emit=plan --train");
  if (o.command == Command::Compile && o.precision && o.emit != Emit::Plan && o.emit != Emit::Cuda)
    throw UsageError("--precision chooses the kernels' arithmetic: use it with --emit=plan or --emit=cuda");
  if (o.command == Command::Eval && o.weights.empty()) throw UsageError("eval needs --weights FILE");
  if (o.command == Command::Export && o.output.empty()) throw UsageError("export needs -o FILE, the model to write");
  if ((o.command == Command::Export || o.command == Command::Predict) && o.seed && !o.weights.empty())
    throw UsageError("--seed draws initial weights: give it or --weights, not both");
  if (o.command == Command::Predict && o.images.empty())
    throw UsageError("predict needs the images: PNG or JPEG files, or folders of them, after the model");
  if (o.allow_recipe_change && !o.resume)
    throw UsageError("--allow-recipe-change applies to --resume: it lets a resumed run change its recipe");
  if (o.mean.empty() != o.std_dev.empty())
    throw UsageError(fmt::format("{} needs {} too: a normalization takes both", o.mean.empty() ? "--std" : "--mean",
                                 o.mean.empty() ? "--mean" : "--std"));
  if (o.normalize && !o.mean.empty())
    throw UsageError("--normalize computes the mean and std from the training set: give it or --mean and --std, not both");
  if (!o.init.empty() && o.resume)
    throw UsageError("--init starts a new run from a checkpoint's weights and --resume continues a run: use one");
  if (o.reset_head && o.init.empty())
    throw UsageError("--reset-head applies to --init: it initializes the classifier instead of reading it from FILE");
  if (!o.plot.empty() && o.log.empty()) throw UsageError("--plot draws the figure from the log: give --log FILE too");
  if (!o.plot.empty()) check_figure_name("--plot", o.plot);
}

}  // namespace

std::string usage(std::optional<Command> command) {
  Options o;
  CommandLine cl(o);
  return (command ? cl.command(name_of(*command)) : &cl.top())->help();
}

passes::PipelineOptions pipeline_options(const Options& o) {
  // Both backends' kernels read and write activations stored in bf16.
  return {o.opt_level, o.print_after, o.print_after_all, o.verify_each, &std::cerr,
          o.precision.value_or(plan::Precision::Fp32), /*bf16_activations=*/true};
}

passes::PipelineOptions pipeline_options(const Options& o, const dsl::TrainingSettings& training,
                                         const train::Backend& device) {
  passes::PipelineOptions p = pipeline_options(o);
  if (!o.precision)
    p.precision = training.precision ? *plan::parse_precision(*training.precision) : device.default_precision();
  return p;
}

std::string list_passes() {
  std::string out;
  for (const passes::Pass& p : passes::all_passes())
    out += fmt::format("  {:<24} -O{}  {}\n", p.name, p.min_level, p.description);
  return out;
}

Options parse_options(const std::vector<std::string>& given) {
  Options o;
  CommandLine cl(o);
  std::vector<std::string> args = given;
  // `resnetc --help train` asks for train's help, as `git --help commit` does for commit.
  if (args.size() == 2 && (args[0] == "--help" || args[0] == "-h") && cl.command(args[1]) != nullptr)
    args = {"help", args[1]};
  if (!args.empty() && cl.command(args[0]) == nullptr && !std::all_of(args.begin(), args.end(), top_level_flag))
    args.insert(args.begin(), "compile");
  CLI::App* command = args.empty() ? nullptr : cl.command(args[0]);
  // A message points at the command's --help; help's own point at the list of commands.
  const std::string name = command != nullptr && command->get_name() != "help" ? command->get_name() : "";
  try {
    if (command != nullptr) keep_empty_values(args, *command);
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
    cl.top().parse(args);
    finish(cl, command, o);
  } catch (const CLI::CallForHelp&) {
    o.help = true;
    if (command != nullptr) o.help_for = command_named(command->get_name());
  } catch (const CLI::ArgumentMismatch& e) {
    throw UsageError(mismatch(e), name);
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what(), name);
  } catch (const UsageError& e) {
    throw UsageError(e.what(), name);
  }
  return o;
}

}  // namespace resnetc::cli
