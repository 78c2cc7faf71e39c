#include <catch2/catch.hpp>

#include <algorithm>

#include "dsl/diagnostics.h"
#include "dsl/frontend.h"

using namespace resnetc::dsl;

TEST_CASE("a diagnostic shows the line and a caret under the offending text") {
  SourceManager sources;
  const SourceFile& f = sources.add("m.net", "network n {\n\tstem { covn 4 k3 }\n}\n");
  Diagnostic d{SourceLoc{f.name, 2, 9}, "unknown layer 'covn'", {}, 4};
  CHECK(render(d, sources) ==
        "m.net:2:9: error: unknown layer 'covn'\n"
        "    2 | \tstem { covn 4 k3 }\n"
        "      | \t       ^~~~\n");
}

TEST_CASE("control bytes and broken UTF-8 are shown as '?' so the terminal stays sane") {
  SourceManager sources;
  const SourceFile& f = sources.add("m.net", std::string("ab\x01\xff$", 5));
  Diagnostic d{SourceLoc{f.name, 1, 5}, "x", {}, 1};
  CHECK(render(d, sources) == "m.net:1:5: error: x\n    1 | ab??$\n      |     ^\n");
}

TEST_CASE("an error inside the prelude is shown at the user's stage line, with the prelude as a note") {
  SourceManager sources;
  try {
    compile_source(sources, "u.net", "network n { input 3x8x8\n  stage basic 0 }", {});
    FAIL("expected an error");
  } catch (const CompileError& e) {
    std::string r = render(e.diagnostic, sources);
    CHECK(r.rfind("u.net:2:3: error: conv needs at least 1 output channel, got 0\n", 0) == 0);
    CHECK(r.find("<prelude>:") != std::string::npos);
    CHECK(r.find("note: in block 'basic' (stage1.block0), at this line of the built-in block") != std::string::npos);
  }
}

TEST_CASE("an error found after lowering at a built-in block's op is shown at the stage that uses it") {
  SourceManager sources;
  const auto net = compile_source(sources, "u.net", "network n { input 3x8x8\n  stem { conv 4 k1 }\n  stage basic 4\n}", {});
  const auto bn = std::find_if(net.graph.ops.begin(), net.graph.ops.end(),
                               [](const auto& op) { return op.name == "stage1.block0.bn1"; });
  REQUIRE(bn != net.graph.ops.end());
  const std::string r = render(Diagnostic{bn->loc, "found later", {}}, sources);
  CHECK(r.rfind("u.net:3:3: error: found later\n    3 |   stage basic 4\n      |   ^\n<prelude>:", 0) == 0);
  CHECK(r.find(": note: in the built-in block this stage uses, at this line\n") != std::string::npos);
  // The user's own layers keep their lines.
  const std::string stem = render(Diagnostic{net.graph.ops.front().loc, "x", {}}, sources);
  CHECK(stem.rfind("u.net:2:10: error: x\n", 0) == 0);
}

TEST_CASE("suggestions come only for plausible typos") {
  CHECK(nearest("covn", {"conv", "bn", "relu"}) == "conv");
  CHECK(nearest("relu", {"conv", "bn"}).empty());
  CHECK(nearest("xyzzy", {"stem", "stage"}).empty());
  CHECK(did_you_mean("stirde", {"stride", "padding"}) == "; did you mean 'stride'?");
}
