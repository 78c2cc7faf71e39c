#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "tools/resnetc/options.h"

using namespace resnetc::cli;

namespace {

std::string message(const std::vector<std::string>& args) {
  try {
    parse_options(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

// Which commands take each option (-O and --help: every one).
const std::vector<std::pair<std::string, std::vector<std::string>>> kOwners = {
    {"--emit", {"compile"}},
    {"--format", {"compile", "predict", "export"}},
    {"--depth", {"compile"}},
    {"--train", {"compile"}},
    {"--input", {"compile", "train", "eval", "predict", "bench", "export"}},
    {"--batch", {"compile", "train", "eval", "predict", "bench"}},
    {"--print-after", {"compile", "train"}},
    {"--print-after-all", {"compile", "train"}},
    {"--verify-each", {"compile", "train"}},
    {"--device", {"train", "eval", "predict", "bench"}},
    {"--threads", {"train", "eval", "predict", "bench"}},
    {"--cache-dir", {"train", "eval", "predict", "bench"}},
    {"--epochs", {"train"}},
    {"--lr", {"train", "bench"}},
    {"--momentum", {"train", "bench"}},
    {"--weight-decay", {"train", "bench"}},
    {"--schedule", {"train"}},
    {"--seed", {"train", "predict", "export"}},
    {"--data", {"train", "eval", "bench"}},
    {"--dataset", {"train", "eval", "bench"}},
    {"--skip-bad-images", {"train", "eval", "bench"}},
    {"--image-cache", {"train", "eval", "bench"}},
    {"--image-cache-dir", {"train", "eval", "bench"}},
    {"--val-split", {"train"}},
    {"--mean", {"train", "bench"}},
    {"--std", {"train", "bench"}},
    {"--normalize", {"train"}},
    {"--random-crop", {"train"}},
    {"--random-resized-crop", {"train"}},
    {"--center-crop", {"train"}},
    {"--flip", {"train"}},
    {"--image-size", {"train", "bench"}},
    {"--checkpoint", {"train"}},
    {"--log", {"train"}},
    {"--overwrite-log", {"train"}},
    {"--resume", {"train"}},
    {"--allow-recipe-change", {"train"}},
    {"--init", {"train"}},
    {"--reset-head", {"train"}},
    {"--max-steps", {"train"}},
    {"--no-progress", {"train", "eval"}},
    {"--weights", {"eval", "predict", "export"}},
    {"--limit", {"eval"}},
    {"--top", {"predict"}},
    {"--steps", {"bench"}},
    {"--warmup", {"bench"}},
    {"--profile", {"bench"}},
};
const std::map<std::string, Command> kCommands = {
    {"compile", Command::Compile}, {"train", Command::Train}, {"eval", Command::Eval}, {"predict", Command::Predict},
    {"bench", Command::Bench}, {"export", Command::Export}};

bool owns(const std::vector<std::string>& owners, const std::string& command) {
  return std::find(owners.begin(), owners.end(), command) != owners.end();
}

// "a", "a and b", "a, b and c"
std::string listing(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return out;
}

}  // namespace

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

TEST_CASE("no command is compile; compile can be named") {
  CHECK(parse_options({"m.net"}).command == Command::Compile);
  Options o = parse_options({"compile", "m.net", "--emit=plan", "--train", "-O0"});
  CHECK(o.command == Command::Compile);
  CHECK(o.model == "m.net");
  CHECK(o.emit == Emit::Plan);
  CHECK(o.train);
  CHECK(o.opt_level == 0);
  CHECK(parse_options({"-O1", "m.net"}).opt_level == 1);
  CHECK(parse_options({"--", "-odd.net"}).model == "-odd.net");
  CHECK(parse_options({"m.net", "--depth", "1", "--depth=2"}).depth == 2);  // the last one counts
}

TEST_CASE("bad usage is a UsageError that says what was wrong") {
  CHECK(message({}) == "no model given");
  CHECK(message({"train"}) == "no model given");
  CHECK(message({"m.net", "--dpeth", "2"}) == "unknown option '--dpeth'; did you mean '--depth'?");
  CHECK(message({"train", "m.net", "--epoch", "2"}) == "unknown option '--epoch'; did you mean '--epochs'?");
  CHECK(message({"m.net", "--depth", "0"}) == "--depth expects a whole number from 1 to 100, got '0'");
  CHECK(message({"m.net", "--input", "3x32"}) == "--input expects CxHxW, like 1x96x96, got '3x32'");
  CHECK(message({"m.net", "--input", "3x32x32x1"}) == "--input expects CxHxW, like 1x96x96, got '3x32x32x1'");
  CHECK(message({"m.net", "--emit=asm"}) == "--emit expects table, ir, dot, plan, llvm or cuda, got 'asm'");
  CHECK(message({"m.net", "--format", "xml"}) == "--format expects text or json, got 'xml'");
  CHECK(message({"eval", "m.net"}) == "eval needs --weights FILE");
  CHECK(message({"m.net", "--train"}) == "--train shows the training step: use it with --emit=ir, dot, plan, llvm or cuda");
  CHECK(message({"m.net", "--train=1"}) == "--train takes no value");
  CHECK(message({"train", "m.net", "--lr", "-1"}) == "--lr expects a number in [1e-12, 1000000), got '-1'");
  CHECK(message({"train", "m.net", "--momentum=1"}) == "--momentum expects a number in [0, 1), got '1'");
  CHECK(message({"train", "m.net", "--schedule", "linear"}) == "--schedule expects constant, cosine or step, got 'linear'");
  CHECK(message({"train", "m.net", "--device", "tpu"}) == "--device expects auto, cpu or cuda, got 'tpu'");
  CHECK(message({"train", "m.net", "--max-steps", "0"}) ==
        "--max-steps expects a whole number from 1 to 9223372036854775807, got '0'");
  CHECK(message({"eval", "m.net", "--weights", "w", "--limit", "many"}) ==
        "--limit expects a whole number from 1 to 9223372036854775807, got 'many'");
  CHECK(message({"bench", "m.net", "--warmup", "-1"}) == "--warmup expects a whole number from 0 to 1000000, got '-1'");
  CHECK(message({"m.net", "--batch"}) == "--batch needs a value");
  CHECK(message({"a.net", "b.net"}) == "more than one model given: 'a.net' and 'b.net'");
  CHECK(message({"train", "a.net", "--epochs", "2", "b.net"}) == "more than one model given: 'a.net' and 'b.net'");
}

TEST_CASE("a usage error names the command whose --help to try") {
  auto command = [](const std::vector<std::string>& args) {
    try {
      parse_options(args);
    } catch (const UsageError& e) {
      return e.command();
    }
    return std::string("no error");
  };
  CHECK(command({}).empty());
  CHECK(command({"m.net", "--bogus"}) == "compile");
  CHECK(command({"compile", "m.net", "--depth=0"}) == "compile");
  CHECK(command({"train", "m.net", "--steps", "3"}) == "train");
  CHECK(command({"eval", "m.net"}) == "eval");
  CHECK(command({"bench", "m.net", "--epochs=1"}) == "bench");
  CHECK(command({"help", "trian"}).empty());  // the top level lists the commands
}

TEST_CASE("train's options") {
  Options o = parse_options({"train", "m.net", "--epochs=3", "--lr", "0.1", "--momentum=0.9", "--weight-decay", "5e-4",
                             "--schedule", "cosine", "--seed=7", "--input", "1x28x28", "--batch", "64", "--data", "d",
                             "--checkpoint", "c.safetensors", "--log=l.csv", "--overwrite-log", "--resume",
                             "--allow-recipe-change", "--max-steps", "5", "--no-progress", "--device=cpu", "--threads",
                             "2", "--cache-dir", "k", "-O1", "--print-after", "dce", "--print-after-all", "--verify-each"});
  CHECK(o.command == Command::Train);
  CHECK(o.model == "m.net");
  CHECK(o.epochs == 3);
  CHECK(o.lr == 0.1);
  CHECK(o.momentum == 0.9);
  CHECK(o.weight_decay == 5e-4);
  CHECK(o.schedule == "cosine");
  CHECK(o.seed == 7);
  CHECK(o.input == std::array<int64_t, 3>{1, 28, 28});
  CHECK(o.batch == 64);
  CHECK(o.data_dir == "d");
  CHECK(o.checkpoint == "c.safetensors");
  CHECK(o.log == "l.csv");
  CHECK(o.overwrite_log);
  CHECK(o.resume);
  CHECK(o.allow_recipe_change);
  CHECK(o.max_steps == 5);
  CHECK_FALSE(o.progress);
  CHECK(o.device == Device::Cpu);
  CHECK(o.threads == 2);
  CHECK(o.cache_dir == "k");
  CHECK(o.opt_level == 1);
  CHECK(o.print_after == std::vector<std::string>{"dce"});
  CHECK(o.print_after_all);
  CHECK(o.verify_each);
  CHECK_FALSE(o.dataset);
  CHECK_FALSE(o.val_split);
  Options cifar = parse_options({"train", "m.net", "--dataset", "cifar100", "--val-split=0.2"});
  CHECK(cifar.dataset == "cifar100");
  CHECK(cifar.val_split == 0.2);
  CHECK_THROWS_WITH(parse_options({"train", "m.net", "--dataset", "cifar"}),
                    Catch::Contains("--dataset expects"));
  CHECK_THROWS_WITH(parse_options({"train", "m.net", "--val-split", "0"}),
                    "--val-split expects a fraction above 0 and below 1, got '0'");
  CHECK_THROWS_WITH(parse_options({"train", "m.net", "--val-split", "1"}), Catch::Contains("--val-split expects"));
  Options fresh = parse_options({"train", "m.net", "--init", "pretrained.safetensors"});
  CHECK(fresh.init == "pretrained.safetensors");
  CHECK_FALSE(fresh.resume);
  CHECK(fresh.progress);
}

TEST_CASE("eval's and bench's options") {
  Options e = parse_options({"eval", "m.net", "--weights", "w.safetensors", "--data=d", "--limit", "100",
                             "--no-progress", "--input=1x32x32", "--batch", "8", "--device", "cpu", "--threads=3",
                             "--cache-dir=k", "-O0"});
  CHECK(e.command == Command::Eval);
  CHECK(e.weights == "w.safetensors");
  CHECK(e.data_dir == "d");
  CHECK(e.limit == 100);
  CHECK_FALSE(e.progress);
  CHECK(e.input == std::array<int64_t, 3>{1, 32, 32});
  CHECK(e.batch == 8);
  CHECK(e.device == Device::Cpu);
  CHECK(e.threads == 3);
  CHECK(e.cache_dir == "k");
  CHECK(e.opt_level == 0);

  Options b = parse_options({"bench", "m.net", "--steps", "3", "--warmup=0", "--profile", "--lr", "0.2", "--momentum",
                             "0.5", "--weight-decay=0.01", "--batch", "64", "--device=cuda", "--cache-dir", "k", "-O1"});
  CHECK(b.command == Command::Bench);
  CHECK(b.steps == 3);
  CHECK(b.warmup == 0);
  CHECK(b.profile);
  CHECK(b.lr == 0.2);
  CHECK(b.momentum == 0.5);
  CHECK(b.weight_decay == 0.01);
  CHECK(b.batch == 64);
  CHECK(b.device == Device::Cuda);
  CHECK(b.opt_level == 1);
  Options input = parse_options({"bench", "m.net", "--dataset", "folder", "--data", "d", "--skip-bad-images",
                                 "--mean", "0.5", "--std=0.25", "--threads", "4", "--image-size", "20",
                                 "--image-cache", "disk", "--image-cache-dir", "c"});
  CHECK(input.image_size == resnetc::data::ImageSize{{20, 20}, true});
  CHECK(input.image_cache.mode == resnetc::data::ImageCacheMode::Disk);
  CHECK(input.image_cache.dir == "c");
  CHECK(parse_options({"eval", "m.net", "--weights", "w", "--image-cache=memory"}).image_cache.mode ==
        resnetc::data::ImageCacheMode::Memory);
  CHECK(parse_options({"train", "m.net"}).image_cache.mode == resnetc::data::ImageCacheMode::Auto);
  CHECK(message({"train", "m.net", "--image-cache", "ssd"}) == "--image-cache expects auto, memory or disk, got 'ssd'");
  CHECK(input.dataset == "folder");
  CHECK(input.data_dir == "d");
  CHECK(input.skip_bad_images);
  CHECK(input.mean == std::vector<float>{0.5f});
  CHECK(input.std_dev == std::vector<float>{0.25f});
  CHECK_FALSE(parse_options({"eval", "m.net", "--weights", "w"}).skip_bad_images);
  CHECK(parse_options({"bench", "m.net"}).steps == 10);
  CHECK(parse_options({"bench", "m.net"}).warmup == 2);
}

TEST_CASE("export writes ONNX unless --format pytorch") {
  CHECK(parse_options({"export", "m.net", "-o", "m.onnx"}).export_format == ExportFormat::Onnx);
  CHECK(parse_options({"export", "m.net", "-o", "m.onnx", "--format=onnx"}).export_format == ExportFormat::Onnx);
  CHECK(parse_options({"export", "m.net", "--format", "pytorch", "-o", "m.safetensors"}).export_format ==
        ExportFormat::PyTorch);
  CHECK(message({"export", "m.net", "-o", "m.onnx", "--format", "json"}) ==
        "--format expects onnx or pytorch, got 'json'");
}

TEST_CASE("an option of another command is refused, naming the commands it belongs to") {
  for (const auto& [option, owners] : kOwners)
    for (const auto& [command, c] : kCommands) {
      if (owns(owners, command) || (command == "train" && option == "--weights")) continue;
      INFO(command << " " << option);
      const std::string expected =
          fmt::format("{} does not apply to {} (it is an option of {})", option, command, listing(owners));
      CHECK(message({command, "m.net", option}) == expected);
      CHECK(message({command, "m.net", option + "=1"}) == expected);
      if (command == "compile") CHECK(message({"m.net", option}) == expected);
    }
  CHECK(message({"examples/x.net", "--schedule", "cosine"}) ==
        "--schedule does not apply to compile (it is an option of train)");
  CHECK(message({"help", "-O2"}) == "-O2 does not apply to help (it is an option of compile, train, eval, predict and bench)");
}

TEST_CASE("train refuses --weights, and the run options that contradict each other") {
  const std::string weights =
      "train does not take --weights: use --init FILE to start from a checkpoint's weights, or --resume to continue a "
      "run";
  CHECK(message({"train", "m.net", "--weights", "w.safetensors"}) == weights);
  CHECK(message({"train", "m.net", "--weights=w.safetensors", "--resume"}) == weights);
  CHECK(message({"train", "m.net", "--allow-recipe-change"}) ==
        "--allow-recipe-change applies to --resume: it lets a resumed run change its recipe");
  CHECK(message({"train", "m.net", "--init", "w.safetensors", "--resume"}) ==
        "--init starts a new run from a checkpoint's weights and --resume continues a run: use one");
}

TEST_CASE("--mean and --std take one value a channel or one for all; --normalize computes them") {
  const Options o = parse_options({"train", "m.net", "--mean", "0.4914,0.4822,0.4465", "--std=0.25"});
  CHECK(o.mean == std::vector<float>{0.4914f, 0.4822f, 0.4465f});
  CHECK(o.std_dev == std::vector<float>{0.25f});
  CHECK(parse_options({"train", "m.net", "--normalize"}).normalize);
  CHECK(message({"train", "m.net", "--mean", "0.5", "--std", "0"}) ==
        "--std expects positive numbers separated by commas (one a channel, or one for all), got '0'");
  CHECK(message({"train", "m.net", "--mean", "0.5,", "--std", "1"}) ==
        "--mean expects numbers separated by commas (one a channel, or one for all), got '0.5,'");
  CHECK(message({"train", "m.net", "--mean", "inf", "--std", "1"}) ==
        "--mean expects numbers separated by commas (one a channel, or one for all), got 'inf'");
  CHECK(message({"train", "m.net", "--std", "0.5"}) == "--std needs --mean too: a normalization takes both");
  CHECK(message({"train", "m.net", "--normalize", "--mean", "0.5", "--std", "1"}) ==
        "--normalize computes the mean and std from the training set: give it or --mean and --std, not both");
}

TEST_CASE("the augmentation's options read the text of data/augment_spec.h, naming the option in a complaint") {
  const Options o = parse_options({"train", "m.net", "--random-crop=32,padding=4", "--flip", "--center-crop", "28x24"});
  CHECK(o.augmentation.random_crop == resnetc::data::RandomCrop{{32, 32}, 4});
  CHECK(o.augmentation.center_crop == resnetc::data::CropSize{28, 24});
  CHECK(o.augmentation.flip);
  CHECK_FALSE(o.augmentation.random_resized_crop);
  CHECK(parse_options({"train", "m.net", "--random-resized-crop", "224,scale=0.25:1"}).augmentation.random_resized_crop ==
        resnetc::data::RandomResizedCrop{{224, 224}, 0.25, 1});
  CHECK(parse_options({"train", "m.net"}).augmentation.empty());
  CHECK(message({"train", "m.net", "--random-crop", "32,padding=x"}) ==
        "--random-crop: padding: expected a whole number from 0 to 32768, got 'x'");
  CHECK(message({"train", "m.net", "--random-resized-crop", "32,ratio=2:1"}) ==
        "--random-resized-crop: ratio 2:1: the minimum is above the maximum");
  CHECK(parse_options({"train", "m.net", "--image-size", "256"}).image_size == resnetc::data::ImageSize{{256, 256}, true});
  CHECK(parse_options({"train", "m.net", "--image-size=36x48"}).image_size ==
        resnetc::data::ImageSize{{36, 48}, false});
  CHECK_FALSE(parse_options({"train", "m.net"}).image_size);
  CHECK(message({"train", "m.net", "--image-size", "0"}) ==
        "--image-size: expected a size N or HxW (each side from 1 to 32768), got '0'");
}

TEST_CASE("an empty --checkpoint= or --init= is refused, not read as the next argument") {
  CHECK(message({"train", "m.net", "--checkpoint="}) == "--checkpoint needs a file name (it is empty)");
  CHECK(message({"train", "--checkpoint=", "m.net"}) == "--checkpoint needs a file name (it is empty)");
  CHECK(message({"train", "m.net", "--checkpoint", ""}) == "--checkpoint needs a file name (it is empty)");
  CHECK(message({"train", "--init=", "m.net"}) == "--init needs a file name (it is empty)");
  CHECK(message({"train", "m.net", "--checkpoint"}) == "--checkpoint needs a value");
}

TEST_CASE("--help, before or after a command's model, and help COMMAND") {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"help"},
                                                                                     {"help", "help"}, {"help", "-h"}}) {
    INFO(args.front() << " " << args.back());
    Options o = parse_options(args);
    CHECK(o.help);
    CHECK_FALSE(o.help_for);
  }
  for (const auto& [name, command] : kCommands) {
    INFO(name);
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {name, "--help"}, {name, "m.net", "--help"}, {name, "-h", "m.net"}, {"help", name}, {"--help", name},
             {"-h", name}}) {
      Options o = parse_options(args);
      CHECK(o.help);
      CHECK(o.help_for == command);
    }
  }
  CHECK(parse_options({"m.net", "--help"}).help_for == Command::Compile);
  CHECK(message({"help", "trian"}) ==
        "there is no command 'trian'; did you mean 'train'? (commands: compile, train, eval, predict, bench, plot, export, help)");
  CHECK(message({"help", "train", "eval"}) == "help takes one command, got 'train' and 'eval'");
}

TEST_CASE("each command's --help lists its options and no others, in 80 columns") {
  for (const auto& [name, command] : kCommands) {
    const std::string text = usage(command);
    INFO(name << "\n" << text);
    CHECK(text.starts_with("usage: resnetc "));
    // export runs the BatchNorm fold alone, whatever the level: it takes no -O.
    CHECK((text.find("\n  -O0, -O1, -O2 ") != std::string::npos) == (command != Command::Export));
    CHECK(text.find("\n  -h, --help ") != std::string::npos);
    for (const auto& [option, owners] : kOwners) {
      INFO(option);
      CHECK((text.find("\n  " + option + " ") != std::string::npos) == owns(owners, name));
    }
  }
  const std::string top = usage();
  for (const char* listed : {"\n  compile ", "\n  train ", "\n  eval ", "\n  bench ", "\n  help ", "\n  --version ",
                             "\n  --prelude ", "\n  --list-passes ", "\n  -h, --help ", "resnetc help COMMAND"})
    CHECK(top.find(listed) != std::string::npos);
  CHECK(top.find("--epochs") == std::string::npos);
  for (const std::string& text : {top, usage(Command::Compile), usage(Command::Train), usage(Command::Eval),
                                  usage(Command::Bench)}) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) CHECK(line.size() <= 80);
  }
}

TEST_CASE("--version, --prelude and --list-passes also after a command") {
  CHECK(parse_options({"--version"}).version);
  CHECK(parse_options({"m.net", "--version"}).version);
  CHECK(parse_options({"--prelude"}).prelude);
  CHECK(parse_options({"train", "--list-passes"}).list_passes);
  CHECK(message({"--version", "--bogus"}) == "unknown option '--bogus'");
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
  CHECK(message({"m.net", "-O3"}).starts_with("there is no optimization level '-O3': use -O0 (one kernel per "));
  CHECK(message({"m.net", "-Os"}).ends_with("or -O2 (all passes, the default)"));
  CHECK(message({"m.net", "-O2=1"}).starts_with("there is no optimization level '-O2=1'"));
  CHECK(message({"m.net", "-O"}) == "-O needs a value");
  CHECK(message({"m.net", "--print-after=fuse-elementwize"}).starts_with(
      "--print-after: there is no pass 'fuse-elementwize'; did you mean 'fuse-elementwise'? (passes: cse, "));
  CHECK(list_passes().find("fold-batchnorm") != std::string::npos);
}
