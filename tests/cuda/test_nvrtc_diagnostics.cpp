#include <catch2/catch.hpp>

#include <string>

#include "runtime/cuda/nvrtc_diagnostics.h"

using resnetc::cuda::quote_error_lines;

namespace {

std::string numbered_source(int lines) {
  std::string source;
  for (int i = 1; i <= lines; ++i) {
    source += "line" + std::to_string(i) + "\n";
  }
  return source;
}

}  // namespace

TEST_CASE("each error line is quoted once with two lines of context", "[cuda][nvrtc]") {
  const std::string log =
      "u.cu(10): error: identifier \"y\" is undefined\n"
      "u.cu(10): error: expected a \";\"\n"
      "u.cu(5): warning #177-D: variable \"x\" was declared but never referenced\n"
      "other.cuh(3): error: not our source\n"
      "u.cu(1): catastrophic error: cannot open source file \"missing.h\"\n"
      "1 error detected in the compilation of \"u.cu\".\n";
  const std::string quoted = quote_error_lines(log, "u.cu", numbered_source(12));
  CHECK(quoted ==
        "u.cu(10): error: identifier \"y\" is undefined\n"
        "   8 | line8\n"
        "   9 | line9\n"
        "> 10 | line10\n"
        "  11 | line11\n"
        "  12 | line12\n"
        "u.cu(1): catastrophic error: cannot open source file \"missing.h\"\n"
        ">  1 | line1\n"
        "   2 | line2\n"
        "   3 | line3\n");
}

TEST_CASE("a line past the end of the source is reported, not read", "[cuda][nvrtc]") {
  const std::string quoted = quote_error_lines("u.cu(40): error: x\n", "u.cu", numbered_source(2));
  CHECK(quoted == "u.cu(40): error: x\n  (line 40 is past the end of the 2-line source)\n");
}

TEST_CASE("a log without error lines quotes nothing", "[cuda][nvrtc]") {
  CHECK(quote_error_lines("", "u.cu", "a\n").empty());
  CHECK(quote_error_lines("u.cu(1): warning: w\nu.cu(x): error: e\nu.cu(0): error: e\n", "u.cu", "a\n").empty());
}
