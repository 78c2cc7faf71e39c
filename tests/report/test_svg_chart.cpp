// The chart's axes and its SVG: nice ticks, gaps for values that are not numbers, escaping.
#include <catch2/catch.hpp>

#include <cmath>

#include "train/report/axis.h"
#include "train/report/svg_chart.h"

using namespace resnetc::report;
using Catch::Matchers::Contains;

namespace {

size_t count(const std::string& text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("axes end on steps of 1, 2 or 5 and label them with the decimals they need") {
  Axis a = nice_axis(0.61, 0.87, 6, true, false);
  CHECK(a.lo == Approx(0.6));
  CHECK(a.hi == Approx(0.9));
  CHECK(a.ticks.size() == 7);  // every 0.05
  CHECK(a.decimals == 2);
  CHECK(tick_label(a.ticks[1], a.decimals) == "0.65");

  Axis epochs = nice_axis(1, 30, 8, false, true);
  CHECK(epochs.lo == 1);
  CHECK(epochs.hi == 30);
  CHECK(epochs.ticks.front() == 5);  // every 5, within the runs' epochs
  CHECK(epochs.decimals == 0);
  CHECK(nice_axis(1, 3, 8, false, true).ticks == std::vector<double>{1, 2, 3});  // never half an epoch

  Axis one = nice_axis(1, 1, 8, false, true);  // a one-epoch run
  CHECK(one.lo < 1);
  CHECK(one.hi > 1);
  CHECK(one.ticks == std::vector<double>{1});
  CHECK(tick_label(-1e-17, 1) == "0.0");
}

TEST_CASE("render_svg: a series per <g>, gaps at values that are not numbers, text escaped") {
  Chart c;
  c.title = "a <b> & \"c\"";
  c.x_label = "epoch";
  Panel p;
  p.title = "loss";
  p.from_zero = true;
  p.series.push_back(
      {"run <1>", "loss", "run <1>: loss", "#1f77b4", false, {1, 2, 3, 4, 5}, {2, 1, NAN, 0.5, INFINITY}});
  p.series.push_back({"run 2", "loss", "run 2: loss", "#ff7f0e", true, {1}, {NAN}});
  c.panels = {p};
  c.legend = {{"run <1>", "#1f77b4", false}};
  const std::string svg = render_svg(c);
  CHECK(svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK_THAT(svg, Contains(">a &lt;b&gt; &amp; &quot;c&quot;</text>"));
  CHECK_THAT(svg, Contains("<g class=\"series\" data-run=\"run &lt;1&gt;\" data-metric=\"loss\">"));
  CHECK(count(svg, "class=\"series\"") == 2);
  // Two pieces: epochs 1-2, then epoch 4 alone, which is marked; infinity is a gap too.
  const size_t path = svg.find("<path d=\"M");
  REQUIRE(path != std::string::npos);
  const std::string d = svg.substr(path, svg.find('"', path + 9) - path);
  CHECK(count(d, "M") == 2);
  CHECK(count(d, "L") == 1);
  CHECK(count(svg, "<circle") == 3);  // few points: each finite one marked
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  CHECK(svg.back() == '\n');
}
