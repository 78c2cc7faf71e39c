#include <catch2/catch.hpp>

#include "tools/resnetc/options.h"

using namespace resnetc::cli;

TEST_CASE("options take values after '=' or as the next argument") {
  Options o = parse_options({"m.net", "--emit=ir", "--depth", "2", "--input", "3x32x32", "--batch=4", "--format", "json"});
  CHECK(o.model == "m.net");
  CHECK(o.emit == Emit::Ir);
  CHECK(o.depth == 2);
  REQUIRE(o.input);
  CHECK((*o.input)[2] == 32);
  CHECK(o.batch == 4);
  CHECK(o.format == Format::Json);
}

TEST_CASE("bad usage is a UsageError that says what was wrong") {
  auto message = [](std::vector<std::string> args) -> std::string {
    try {
      parse_options(args);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(message({}) == "no model given");
  CHECK(message({"m.net", "--dpeth", "2"}) == "unknown option '--dpeth'; did you mean '--depth'?");
  CHECK(message({"m.net", "--depth", "0"}) == "--depth expects a whole number from 1 to 100, got '0'");
  CHECK(message({"m.net", "--input", "3x32"}) == "--input expects CxHxW, like 1x96x96, got '3x32'");
  CHECK(message({"m.net", "--input", "3x32x32x1"}) == "--input expects CxHxW, like 1x96x96, got '3x32x32x1'");
  CHECK(message({"m.net", "--emit=llvm"}) == "--emit expects table, ir, dot or plan, got 'llvm'");
  CHECK(message({"m.net", "--batch"}) == "--batch needs a value");
  CHECK(message({"a.net", "b.net"}) == "more than one model given: 'a.net' and 'b.net'");
}

TEST_CASE("--help documents every option it accepts") {
  std::string text = usage();
  for (const char* option :
       {"--emit", "--format", "--depth", "--input", "--batch", "--train", "--prelude", "--help", "--version"})
    CHECK(text.find(option) != std::string::npos);
}
