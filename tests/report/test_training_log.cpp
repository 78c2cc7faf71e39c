// Reading training logs back: both formats, header rows or none, resumed runs joined, values that
// are not numbers kept, a half-written last line left alone, and located errors for the rest.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "train/report/training_log.h"

using namespace resnetc::report;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::filesystem::path log_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("resnetc_test_report_" + name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string error_of(const std::filesystem::path& path) {
  try {
    read_training_log(path);
  } catch (const LogError& e) {
    return e.what();
  }
  return "no error";
}

constexpr const char* kColumns = "epoch,loss,train_acc,test_acc,seconds,examples_per_sec,lr\n";

}  // namespace

TEST_CASE("a CSV log: runs by header row, a resumed one joined to the run before") {
  const auto path = log_file(
      "runs.csv", std::string("# run 20261202T130744Z-1 2026-12-02T13:07:44Z: resnetc train m.net --lr 0.1\n") +
                      kColumns + "1,2.0,0.3,0.4,1.0,10.0,0.1\n2,1.0,0.6,0.6,1.0,10.0,0.1\n" +
                      "# run 20261202T140000Z-2 2026-12-02T14:00:00Z (resumed_after_epoch 2): "
                      "resnetc train m.net --lr 0.1 --resume\n" +
                      kColumns + "3,0.5,0.8,0.7,1.0,10.0,0.1\n\n" +
                      "# run 20261202T150000Z-3 2026-12-02T15:00:00Z: resnetc train 'my net.net'\n" + kColumns +
                      "1,nan,nan,0.1,1.0,10.0,0.05\r\n");
  const std::vector<LoggedRun> runs = read_training_log(path);
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].ordinal == 1);
  CHECK(runs[0].has_header);
  CHECK(runs[0].id == "20261202T130744Z-1");
  CHECK(runs[0].date == "2026-12-02T13:07:44Z");
  CHECK(runs[0].command == "resnetc train m.net --lr 0.1");
  REQUIRE(runs[0].epochs.size() == 3);
  CHECK(runs[0].epochs[2].epoch == 3);
  CHECK(runs[0].epochs[2].test_acc == 0.7);
  CHECK(runs[0].epochs[1].lr == 0.1);
  CHECK(runs[1].ordinal == 2);
  CHECK(runs[1].command == "resnetc train 'my net.net'");
  REQUIRE(runs[1].epochs.size() == 1);
  CHECK(std::isnan(runs[1].epochs[0].loss));
  CHECK(runs[1].epochs[0].test_acc == 0.1);
}

TEST_CASE("a JSON lines log, NaN and null included, and an older log without header rows") {
  const auto json =
      log_file("runs.jsonl",
               "{\"run\": \"r1\", \"date\": \"2026-12-02T13:07:44Z\", \"command\": \"resnetc train \\\"m\\\".net\"}\n"
               "{\"epoch\": 1, \"loss\": 2.5, \"train_acc\": 0.25, \"test_acc\": null, \"future\": \"x\"}\n"
               "{\"epoch\": 2, \"loss\": NaN, \"train_acc\": 0.5, \"test_acc\": 0.5, \"lr\": 1e-3}\n");
  const std::vector<LoggedRun> runs = read_training_log(json);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].command == "resnetc train \"m\".net");
  REQUIRE(runs[0].epochs.size() == 2);
  CHECK(runs[0].epochs[0].loss == 2.5);
  CHECK(std::isnan(runs[0].epochs[0].test_acc));
  CHECK(std::isnan(runs[0].epochs[1].loss));
  CHECK(runs[0].epochs[1].lr == 1e-3);

  const auto old =
      log_file("old.csv", std::string(kColumns) + "1,2,0.1,0.1,1,1,1\n2,1,0.2,0.2,1,1,1\n1,2,0.1,0.1,1,1,1\n");
  const std::vector<LoggedRun> split = read_training_log(old);
  REQUIRE(split.size() == 2);  // the epoch went back: a second run
  CHECK_FALSE(split[0].has_header);
  CHECK(split[0].epochs.size() == 2);
  CHECK(split[1].epochs.size() == 1);
  CHECK(split[1].ordinal == 2);
}

TEST_CASE("a last line without its newline is still being written") {
  const std::string head = std::string("# run r 2026-12-02T13:07:44Z: resnetc train m.net\n") + kColumns;
  CHECK(read_training_log(log_file("partial.csv", head + "1,2,0.1,0.1,1,1,1\n2,1.5")).front().epochs.size() == 1);
  // Even one that would parse: its last number may be cut short.
  CHECK(read_training_log(log_file("cut.csv", head + "1,2,0.1,0.1,1,1,1\n2,1,0.2,0.2,1,1,0.0")).front().epochs.size() ==
        1);
  CHECK(read_training_log(log_file("header-only.csv", head)).front().epochs.empty());
}

TEST_CASE("what is not a resnetc log is refused, naming the file and the line") {
  const std::string head = std::string("# run r 2026-12-02T13:07:44Z: resnetc train m.net\n") + kColumns;
  auto located = [](const std::string& name, const std::string& text) {
    const auto path = log_file(name, text);
    const std::string message = error_of(path);
    CHECK_THAT(message, StartsWith(path.string() + ":"));
    return message.substr(path.string().size());
  };
  CHECK_THAT(located("model.csv", "network tiny {\n"),
             StartsWith(":1: not a resnetc training log: it starts with 'network tiny {'"));
  CHECK_THAT(located("blank-first.csv", "\n\nhello\n"), StartsWith(":3: not a resnetc training log"));
  CHECK(located("fields.csv", head + "1,2,3\n") ==
        ":3: a row of 3 fields where the columns are 7 (epoch,loss,train_acc,test_acc,seconds,examples_per_sec,lr): "
        "'1,2,3'");
  CHECK(located("epoch.csv", head + "0,2,0.1,0.1,1,1,1\n") ==
        ":3: the epoch is '0', not a whole number from 1: '0,2,0.1,0.1,1,1,1'");
  CHECK(located("number.csv", head + "1,2,0.1,x,1,1,1\n") == ":3: test_acc is 'x', not a number: '1,2,0.1,x,1,1,1'");
  CHECK(located("mixed.csv", head + "{\"epoch\": 1}\n") == ":3: a JSON line in a CSV log");
  CHECK(located("no-columns.csv", "# run r d: resnetc train m.net\n1,2,0.1,0.1,1,1,1\n") ==
        ":2: a row before the column names (epoch,loss,...): '1,2,0.1,0.1,1,1,1'");
  CHECK(located("columns.csv", "epoch,loss,seconds\n") ==
        ":1: the column names lack 'train_acc': 'epoch,loss,seconds'");
  CHECK_THAT(located("json.jsonl", "{\"run\": \"r\"}\n{\"epoch\": 1, \"loss\": 2,}\n"),
             StartsWith(":2: not a JSON object"));
  CHECK_THAT(located("json-missing.jsonl", "{\"epoch\": 1, \"loss\": 2}\n"),
             StartsWith(":1: an epoch without \"train_acc\""));
}

TEST_CASE("files that are not logs at all") {
  const auto dir = std::filesystem::temp_directory_path();
  CHECK_THAT(error_of(dir / "resnetc_test_report_missing.csv"), Contains("there is no such file"));
  CHECK_THAT(error_of(dir), Contains("is a directory, not a training log"));
}
