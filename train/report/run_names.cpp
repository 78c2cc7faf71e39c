#include "train/report/run_names.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

namespace resnetc::report {
namespace {

// Options that say where files go or how the terminal looks, not how the network was trained.
const std::set<std::string, std::less<>> kNotRecipe = {
    "--log",    "--checkpoint",          "--plot",    "--no-progress", "--overwrite-log", "--cache-dir",
    "--resume", "--allow-recipe-change", "--threads",
};

struct Command {
  std::string model;                 // "small-fashion" for examples/small-fashion.net
  std::vector<std::string> options;  // "--lr 0.1", "-O1", "--momentum 0.9": in order, the last of a repeated one
};

Command parse_command(const std::string& line) {
  const std::vector<std::string> words = shell_words(line);
  Command c;
  std::map<std::string, size_t> position;
  size_t i = words.empty() ? 0 : 1;  // the program
  if (i < words.size() && words[i] == "train") ++i;
  for (; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (!w.starts_with('-') || w == "-") {
      if (c.model.empty() && w.ends_with(".net")) c.model = std::filesystem::path(w).stem().string();
      continue;
    }
    if (w == "--") continue;
    std::string name = w.substr(0, w.find('=')), option;
    if (w.find('=') != std::string::npos) {
      option = fmt::format("{} {}", name, w.substr(w.find('=') + 1));
    } else if (w.starts_with("--") && i + 1 < words.size() && !words[i + 1].starts_with('-') &&
               !words[i + 1].ends_with(".net")) {
      option = fmt::format("{} {}", name, words[++i]);  // train's only positional is the model
    } else {
      option = w;
    }
    if (kNotRecipe.contains(name)) continue;
    if (auto it = position.find(name); it != position.end()) {
      c.options[it->second] = option;
    } else {
      position.emplace(name, c.options.size());
      c.options.push_back(option);
    }
  }
  return c;
}

// "2026-12-02 13:07" from "2026-12-02T13:07:44Z".
std::string short_date(const std::string& date) {
  std::string out = date.substr(0, 16);
  std::replace(out.begin(), out.end(), 'T', ' ');
  return out;
}

}  // namespace

std::vector<std::string> shell_words(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::exchange(word, {}));
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const size_t end = line.find('\'', i + 1);
      word.append(line.substr(i + 1, end == std::string_view::npos ? std::string_view::npos : end - i - 1));
      if (end == std::string_view::npos) break;
      i = end;
    } else if (c == '"') {
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) ++i;
        word.push_back(line[i]);
      }
    } else if (c == '\\' && i + 1 < line.size()) {
      word.push_back(line[++i]);
    } else {
      word.push_back(c);
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

RunNames name_runs(const std::vector<const LoggedRun*>& runs) {
  std::vector<Command> commands;
  std::vector<const Command*> described;  // the runs with a header row
  for (const LoggedRun* run : runs) commands.push_back(run->has_header ? parse_command(run->command) : Command{});
  for (size_t k = 0; k < runs.size(); ++k)
    if (runs[k]->has_header) described.push_back(&commands[k]);

  // What every described run shares.
  bool same_model = !described.empty();
  std::vector<std::string> shared = described.empty() ? std::vector<std::string>{} : described.front()->options;
  for (const Command* c : described) {
    same_model = same_model && c->model == described.front()->model;
    std::erase_if(shared, [&](const std::string& o) {
      return std::find(c->options.begin(), c->options.end(), o) == c->options.end();
    });
  }
  // The title says what they share only when every run has a header: else nothing is left out.
  const bool all_described = !described.empty() && described.size() == runs.size();
  if (!all_described) shared.clear();
  const bool model_in_title = all_described && same_model && !described.front()->model.empty();
  RunNames out;
  if (all_described) {
    std::vector<std::string> title;
    if (model_in_title) title.push_back(described.front()->model);
    title.insert(title.end(), shared.begin(), shared.end());
    out.title = fmt::format("{}", fmt::join(title, " "));
  }

  std::map<std::filesystem::path, size_t> runs_per_file;
  for (const LoggedRun* run : runs) ++runs_per_file[run->file];
  std::vector<std::vector<std::string>> parts(runs.size());
  size_t plain = 0;  // described runs that change nothing the others share
  for (size_t k = 0; k < runs.size(); ++k) {
    const LoggedRun& run = *runs[k];
    if (!run.has_header) {
      parts[k].push_back(run.file.filename().string());
      if (runs_per_file[run.file] > 1) parts[k].push_back(fmt::format("run {}", run.ordinal));
      continue;
    }
    const Command& c = commands[k];
    if (!model_in_title) parts[k].push_back(c.model.empty() ? "run" : c.model);
    for (const std::string& o : c.options)
      if (std::find(shared.begin(), shared.end(), o) == shared.end()) parts[k].push_back(o);
    plain += parts[k].empty() ? 1 : 0;
  }
  for (size_t k = 0; k < runs.size(); ++k) {
    // One run beside others that change its recipe trained with what the .net file says; runs of
    // one recipe are told apart by when they started.
    if (parts[k].empty())
      parts[k].push_back(plain == 1 && runs.size() > 1 ? "the file's recipe" : short_date(runs[k]->date));
    out.names.push_back(fmt::format("{}", fmt::join(parts[k], " ")));
  }
  // Runs that still read the same (one recipe, started in the same minute) are numbered.
  std::map<std::string, int> seen;
  for (const std::string& name : out.names) ++seen[name];
  std::map<std::string, int> numbered;
  for (std::string& name : out.names)
    if (seen[name] > 1) name = fmt::format("{} ({})", name, ++numbered[name]);
  return out;
}

}  // namespace resnetc::report
