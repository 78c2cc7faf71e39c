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
}

TEST_CASE("--help documents every option it accepts") {
  std::string text = usage();
  for (const char* option : {"--emit", "--format", "--depth", "--train", "--input", "--batch", "--device", "--threads", "--cache-dir",
                             "--epochs", "--seed", "--lr", "--momentum", "--weight-decay", "--schedule", "--data",
                             "--checkpoint", "--log", "--resume", "--no-progress", "--weights", "--steps", "--warmup",
                             "--prelude", "--help", "--version"})
    CHECK(text.find(option) != std::string::npos);
}
