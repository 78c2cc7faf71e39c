#pragma once
// Command-line options of `resnetc`, parsed without side effects so tests can drive them.
#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace resnetc::cli {

enum class Emit { Table, Ir, Dot, Plan };
enum class Format { Text, Json };

struct Options {
  std::string model;  // the .net file
  Emit emit = Emit::Table;
  Format format = Format::Text;
  int depth = 0;  // 0: every layer
  std::optional<std::array<int64_t, 3>> input;
  int64_t batch = 1;
  bool train = false;  // --emit the training step's graph instead of the network's
  bool help = false, version = false, prelude = false;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Options parse_options(const std::vector<std::string>& args);  // throws UsageError
std::string usage();

}  // namespace resnetc::cli
