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
  CHECK(o.command == Command::Compile);
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
  CHECK(message({"m.net", "--emit=asm"}) == "--emit expects table, ir, dot, plan, llvm or cuda, got 'asm'");
  CHECK(message({"eval", "m.net"}) == "eval needs --weights FILE");
  CHECK(message({"m.net", "--resume"}) == "--resume applies to train");
  CHECK(message({"m.net", "--train"}) == "--train shows the training step: use it with --emit=ir, dot, plan, llvm or cuda");
  CHECK(message({"train", "m.net", "--lr", "-1"}) == "--lr expects a number in [1e-12, 1000000), got '-1'");
  CHECK(message({"train", "m.net", "--device", "tpu"}) == "--device expects auto, cpu or cuda, got 'tpu'");
  CHECK(message({"m.net", "--batch"}) == "--batch needs a value");
  CHECK(message({"a.net", "b.net"}) == "more than one model given: 'a.net' and 'b.net'");
}

TEST_CASE("subcommands and their options") {
  Options o = parse_options({"train", "m.net", "--epochs=3", "--lr", "0.1", "--momentum=0.9", "--schedule", "cosine",
                             "--resume", "--checkpoint", "c.safetensors", "--no-progress", "--device=cpu"});
  CHECK(o.command == Command::Train);
  CHECK(o.epochs == 3);
  CHECK(o.lr == 0.1);
  CHECK(o.momentum == 0.9);
  CHECK(o.schedule == "cosine");
  CHECK(o.resume);
  CHECK_FALSE(o.progress);
  CHECK(o.device == Device::Cpu);
  CHECK(parse_options({"eval", "m.net", "--weights", "w.safetensors"}).command == Command::Eval);
  CHECK(parse_options({"bench", "m.net", "--batch", "64", "--steps", "3"}).steps == 3);
  CHECK(parse_options({"bench", "m.net", "--profile"}).profile);
}

TEST_CASE("--help documents every option it accepts") {
  std::string text = usage();
  for (const char* option : {"--emit", "--format", "--depth", "--train", "--input", "--batch", "--device", "--threads", "--cache-dir",
                             "--epochs", "--seed", "--lr", "--momentum", "--weight-decay", "--schedule", "--data",
                             "--checkpoint", "--log", "--resume", "--no-progress", "--weights", "--steps", "--warmup", "--profile",
                             "--prelude", "--help", "--version", "-O0", "-O1", "-O2", "--print-after",
                             "--print-after-all", "--verify-each", "--list-passes"})
    CHECK(text.find(option) != std::string::npos);
}

TEST_CASE("-O levels and pass printing") {
  CHECK(parse_options({"m.net"}).opt_level == 2);
  CHECK(parse_options({"train", "m.net", "-O0"}).opt_level == 0);
  CHECK(parse_options({"m.net", "-O1"}).opt_level == 1);
  Options o = parse_options({"m.net", "--print-after=fuse-elementwise", "--print-after", "dce", "--verify-each"});
  CHECK(o.print_after == std::vector<std::string>{"fuse-elementwise", "dce"});
  CHECK(o.verify_each);
  CHECK(parse_options({"m.net", "--print-after-all"}).print_after_all);
  const resnetc::passes::PipelineOptions p = pipeline_options(parse_options({"m.net", "-O1", "--print-after-all"}));
  CHECK(p.level == 1);
  CHECK(p.print_after_all);
  CHECK(p.print_to != nullptr);
}

TEST_CASE("-O and --print-after reject what they do not know") {
  auto message = [](std::vector<std::string> args) {
    try {
      parse_options(args);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message({"m.net", "-O3"}).starts_with("there is no optimization level '-O3': use -O0 (one kernel per "));
  CHECK(message({"m.net", "-Os"}).ends_with("or -O2 (all passes, the default)"));
  CHECK(message({"m.net", "-O2=1"}) == "-O2 takes no value");
  CHECK(message({"m.net", "--print-after=fuse-elementwize"}).starts_with(
      "--print-after: there is no pass 'fuse-elementwize'; did you mean 'fuse-elementwise'? (passes: cse, "));
  CHECK(list_passes().find("fold-batchnorm") != std::string::npos);
}
