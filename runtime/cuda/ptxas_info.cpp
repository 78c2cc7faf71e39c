#include "runtime/cuda/ptxas_info.h"

#include <charconv>
#include <cstdint>

namespace resnetc::cuda {
namespace {

// The text between the first pair of single quotes, or the rest of the line after `prefix`.
std::string_view name_after(std::string_view line, std::string_view prefix) {
  std::string_view rest = line.substr(line.find(prefix) + prefix.size());
  if (rest.starts_with('\'')) {
    rest.remove_prefix(1);
    return rest.substr(0, rest.find('\''));
  }
  return rest.substr(0, rest.find_first_of(" \t"));
}

// The number just before `unit` in `line` ("1024 bytes stack frame" -> 1024); 0 if absent.
template <class T>
T number_before(std::string_view line, std::string_view unit) {
  std::size_t at = line.find(unit);
  if (at == std::string_view::npos) {
    return 0;
  }
  std::string_view before = line.substr(0, at);
  while (before.ends_with(' ')) {
    before.remove_suffix(1);
  }
  // npos + 1 == 0: the whole prefix is digits.
  std::size_t begin = before.find_last_not_of("0123456789") + 1;
  T value = 0;
  std::from_chars(before.data() + begin, before.data() + before.size(), value);
  return value;
}

FunctionResources& function_named(std::vector<FunctionResources>& functions, std::string_view name) {
  for (FunctionResources& function : functions) {
    if (function.name == name) {
      return function;
    }
  }
  functions.push_back({.name = std::string(name)});
  return functions.back();
}

}  // namespace

std::vector<FunctionResources> parse_ptxas_info(std::string_view log) {
  std::vector<FunctionResources> functions;
  // ptxas reports "Function properties for X" and then X's stack line; "Used N registers"
  // follows "Compiling entry function 'X'". Indices, since push_back moves the elements.
  std::size_t properties_of = SIZE_MAX;
  std::size_t compiling = SIZE_MAX;
  auto index_of = [&](std::string_view name) {
    return static_cast<std::size_t>(&function_named(functions, name) - functions.data());
  };

  while (!log.empty()) {
    std::size_t end = log.find('\n');
    std::string_view line = log.substr(0, end);
    log.remove_prefix(end == std::string_view::npos ? log.size() : end + 1);
    if (!line.starts_with("ptxas")) {
      continue;
    }
    if (line.find("Compiling entry function") != std::string_view::npos) {
      compiling = index_of(name_after(line, "Compiling entry function "));
      functions[compiling].entry = true;
    } else if (line.find("Function properties for") != std::string_view::npos) {
      properties_of = index_of(name_after(line, "Function properties for "));
    } else if (line.find("bytes stack frame") != std::string_view::npos && properties_of != SIZE_MAX) {
      FunctionResources& f = functions[properties_of];
      f.stack_frame_bytes = number_before<std::uint64_t>(line, "bytes stack frame");
      f.spill_store_bytes = number_before<std::uint64_t>(line, "bytes spill stores");
      f.spill_load_bytes = number_before<std::uint64_t>(line, "bytes spill loads");
    } else if (line.find("Used ") != std::string_view::npos && compiling != SIZE_MAX) {
      FunctionResources& f = functions[compiling];
      f.registers = number_before<int>(line, "registers");
      f.lmem_bytes = number_before<std::uint64_t>(line, "bytes lmem");
    }
  }
  return functions;
}

}  // namespace resnetc::cuda
