// --skip-bad-images: the files a folder data set left out, counted, the first few named.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "tools/resnetc/commands.h"

namespace resnetc::cli {

void print_skipped(const std::vector<std::string>& skipped) {
  if (skipped.empty()) return;
  constexpr size_t kNamed = 5;
  fmt::print("skipped {} file{} that {} not readable images (--skip-bad-images):\n", skipped.size(),
             skipped.size() == 1 ? "" : "s", skipped.size() == 1 ? "is" : "are");
  for (size_t i = 0; i < std::min(skipped.size(), kNamed); ++i) fmt::print("  {}\n", skipped[i]);
  if (skipped.size() > kNamed) fmt::print("  and {} more\n", skipped.size() - kNamed);
  std::fflush(stdout);
}

}  // namespace resnetc::cli
