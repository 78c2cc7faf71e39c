// Legend names: what differs between runs' commands, the shared part as the title.
#include <catch2/catch.hpp>

#include "train/report/run_names.h"

using namespace resnetc::report;

namespace {

LoggedRun run(const std::string& command, const std::string& date = "2026-12-02T13:07:44Z") {
  LoggedRun r;
  r.file = "log.csv";
  r.ordinal = 1;
  r.has_header = true;
  r.date = date;
  r.command = command;
  return r;
}

RunNames names(const std::vector<LoggedRun>& runs) {
  std::vector<const LoggedRun*> pointers;
  for (const LoggedRun& r : runs) pointers.push_back(&r);
  return name_runs(pointers);
}

}  // namespace

TEST_CASE("shell_words splits as /bin/sh does, undoing the log's quoting") {
  CHECK(shell_words("resnetc train 'my net.net' --lr=0.1  -O1") ==
        std::vector<std::string>{"resnetc", "train", "my net.net", "--lr=0.1", "-O1"});
  CHECK(shell_words("a 'it'\\''s' \"q\\\"x\" b\\ c") == std::vector<std::string>{"a", "it's", "q\"x", "b c"});
  CHECK(shell_words("").empty());
}

TEST_CASE("runs are named by what differs; what they share is the title") {
  RunNames n =
      names({run("resnetc train examples/small-fashion.net --log a.csv --lr 0.1 --momentum 0.9"),
             run("resnetc train examples/small-fashion.net --log b.csv --lr=0.05 --momentum 0.9 --checkpoint x")});
  CHECK(n.title == "small-fashion --momentum 0.9");
  CHECK(n.names == std::vector<std::string>{"--lr 0.1", "--lr 0.05"});

  n = names({run("resnetc train a.net --device cpu"), run("resnetc train b.net --device cpu -O1")});
  CHECK(n.title == "--device cpu");
  CHECK(n.names == std::vector<std::string>{"a", "b -O1"});

  // The same recipe twice: by date, then by number.
  n = names({run("resnetc train m.net", "2026-12-02T13:07:44Z"),
             run("resnetc train m.net --no-progress", "2026-12-03T09:00:00Z"),
             run("resnetc train m.net", "2026-12-03T09:00:10Z")});
  CHECK(n.title == "m");
  CHECK(n.names == std::vector<std::string>{"2026-12-02 13:07", "2026-12-03 09:00 (1)", "2026-12-03 09:00 (2)"});

  // Beside runs that change it, a run of the file's own recipe says so.
  n = names({run("resnetc train m.net --log a.csv"), run("resnetc train m.net --lr 0.05")});
  CHECK(n.names == std::vector<std::string>{"the file's recipe", "--lr 0.05"});

  // A repeated option counts once, with its last value; train's flags take no value.
  n = names({run("resnetc train --resume m.net --lr 1 --lr 2"), run("resnetc train m.net --lr 3")});
  CHECK(n.names == std::vector<std::string>{"--lr 2", "--lr 3"});
}

TEST_CASE("runs without a header row are named by file and number") {
  LoggedRun a;
  a.file = "/tmp/old.csv";
  a.ordinal = 1;
  LoggedRun b = a;
  b.ordinal = 2;
  LoggedRun c = run("resnetc train m.net --lr 0.1");
  RunNames n = names({a, b, c});
  CHECK(n.title.empty());  // nothing every run shares
  CHECK(n.names == std::vector<std::string>{"old.csv run 1", "old.csv run 2", "m --lr 0.1"});
  CHECK(names({a}).names == std::vector<std::string>{"old.csv"});
}
