#pragma once
// A line chart as a standalone SVG document: panels side by side sharing one x axis, each with
// its own y axis, grid and title; a legend below them (never over the data); every series a
// <g class="series" data-run=... data-metric=...> with a <title> for hovering. A value that is
// not a number (NaN, infinity) breaks its line: the chart shows a gap there, and no such value
// ever reaches the document. Points are marked when a series has few of them, and always where
// a point stands alone, so a one-epoch run still shows.
#include <optional>
#include <string>
#include <vector>

namespace resnetc::report {

struct Series {
  std::string run, metric;  // data-run, data-metric
  std::string label;        // the tooltip
  std::string color;
  bool dashed = false;
  std::vector<double> x, y;  // the same length
};

struct Panel {
  std::string title;
  std::vector<Series> series;
  bool from_zero = false;                // the y axis includes 0 (a loss)
  std::optional<double> y_floor, y_cap;  // it never goes below / above these (an accuracy: 0 and 1)
};

struct LegendEntry {
  std::string label, color;
  bool dashed = false;
};

struct Chart {
  std::string title, subtitle, x_label;
  std::vector<Panel> panels;
  std::vector<LegendEntry> legend;
};

std::string render_svg(const Chart& chart);

}  // namespace resnetc::report
