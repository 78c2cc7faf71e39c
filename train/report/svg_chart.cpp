#include "train/report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "train/report/axis.h"

namespace resnetc::report {
namespace {

// The page, in px.
constexpr double kWidth = 960, kLeft = 60, kRight = 24, kGap = 72;
constexpr double kPanelTop = 92, kPanelHeight = 290;
constexpr double kLegendRow = 22, kInset = 8;
constexpr double kCharWidth = 6.9;    // of 12 px sans-serif text, for laying out the legend
constexpr size_t kMarkedPoints = 40;  // series with at most this many points mark each one
constexpr std::string_view kFont = "DejaVu Sans, Helvetica, Arial, sans-serif";
constexpr std::string_view kDash = "7 4";

std::string escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows no other control character, even escaped.
        out += static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' ? ' ' : c;
    }
  }
  return out;
}

// Legend text longer than fits is cut; the whole of it stays in the tooltip.
std::string fitted(const std::string& text, double width) {
  const auto fits = static_cast<size_t>(std::max(width / kCharWidth, 4.0));
  if (text.size() <= fits) return text;
  return text.substr(0, fits - 3) + "...";
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

class Writer {
 public:
  explicit Writer(const Chart& c) : c_(c) {}

  std::string run() {
    const size_t n = std::max<size_t>(c_.panels.size(), 1);
    panel_width_ = (kWidth - kLeft - kRight - kGap * static_cast<double>(n - 1)) / static_cast<double>(n);
    Range epochs;
    for (const Panel& p : c_.panels)
      for (const Series& s : p.series)
        for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
          if (std::isfinite(s.y[i])) epochs.add(s.x[i]);
    if (epochs.empty()) epochs = {1, 1};
    x_ = nice_axis(epochs.lo, epochs.hi, 8, false, true);

    const double legend_top = kPanelTop + kPanelHeight + 56;
    const std::string legend = legend_rows(legend_top);
    const double height = legend_top + kLegendRow * static_cast<double>(legend_lines_) + 8;
    out_ += fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1:.0f}\" viewBox=\"0 0 {0} {1:.0f}\" "
        "font-family=\"{2}\">\n",
        kWidth, height, kFont);
    out_ += fmt::format("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    out_ += fmt::format("<text x=\"{}\" y=\"28\" font-size=\"17\" font-weight=\"bold\">{}</text>\n", kLeft,
                        escaped(c_.title));
    if (!c_.subtitle.empty())
      out_ += fmt::format("<text x=\"{}\" y=\"50\" font-size=\"12\" fill=\"#555555\">{}</text>\n", kLeft,
                          escaped(fitted(c_.subtitle, kWidth - kLeft - kRight)));
    for (size_t k = 0; k < c_.panels.size(); ++k) panel(k);
    out_ += legend;
    out_ += "</svg>\n";
    return std::move(out_);
  }

 private:
  // Inside the frame by kInset, so a point at the range's end is drawn whole.
  double px(double x) const { return x0_ + kInset + (x - x_.lo) / (x_.hi - x_.lo) * (panel_width_ - 2 * kInset); }
  double py(double y) const {
    return kPanelTop + kPanelHeight - kInset - (y - y_.lo) / (y_.hi - y_.lo) * (kPanelHeight - 2 * kInset);
  }

  Axis y_axis(const Panel& p) const {
    Range values;
    for (const Series& s : p.series)
      for (double v : s.y) values.add(v);
    if (values.empty()) values = {0, 1};
    if (p.from_zero) values.add(0);
    Axis a = nice_axis(values.lo, values.hi, 6, true, false);
    if (p.y_floor && a.lo < *p.y_floor) a.lo = *p.y_floor;
    if (p.y_cap && a.hi > *p.y_cap) a.hi = std::max(*p.y_cap, values.hi);
    std::erase_if(a.ticks, [&](double t) { return t < a.lo - 1e-9 || t > a.hi + 1e-9; });
    return a;
  }

  void panel(size_t k) {
    const Panel& p = c_.panels[k];
    x0_ = kLeft + static_cast<double>(k) * (panel_width_ + kGap);
    y_ = y_axis(p);
    const double bottom = kPanelTop + kPanelHeight, right = x0_ + panel_width_;
    out_ += fmt::format("<g class=\"panel\" data-title=\"{}\">\n", escaped(p.title));
    out_ += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"14\" font-weight=\"bold\">{}</text>\n", x0_,
                        kPanelTop - 10, escaped(p.title));
    out_ += fmt::format(
        "<clipPath id=\"plot{}\"><rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\"/>"
        "</clipPath>\n",
        k, x0_, kPanelTop, panel_width_, kPanelHeight);
    // Grid and ticks.
    for (double t : y_.ticks) {
      out_ += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e4e4e4\"/>\n", x0_,
                          py(t), right, py(t));
      out_ += fmt::format(
          "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" fill=\"#333333\" text-anchor=\"end\">{}"
          "</text>\n",
          x0_ - 7, py(t) + 4, tick_label(t, y_.decimals));
    }
    for (double t : x_.ticks) {
      out_ += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e4e4e4\"/>\n", px(t),
                          kPanelTop, px(t), bottom);
      out_ += fmt::format(
          "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" fill=\"#333333\" text-anchor=\"middle\">{}"
          "</text>\n",
          px(t), bottom + 17, tick_label(t, x_.decimals));
    }
    out_ += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" "
        "stroke=\"#888888\"/>\n",
        x0_, kPanelTop, panel_width_, kPanelHeight);
    out_ += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" fill=\"#333333\" text-anchor=\"middle\">{}"
        "</text>\n",
        x0_ + panel_width_ / 2, bottom + 36, escaped(c_.x_label));
    out_ += fmt::format("<g clip-path=\"url(#plot{})\">\n", k);
    for (const Series& s : p.series) series(s);
    out_ += "</g>\n</g>\n";
  }

  void series(const Series& s) {
    out_ += fmt::format("<g class=\"series\" data-run=\"{}\" data-metric=\"{}\">\n<title>{}</title>\n", escaped(s.run),
                        escaped(s.metric), escaped(s.label));
    const size_t n = std::min(s.x.size(), s.y.size());
    auto finite = [&](size_t i) { return i < n && std::isfinite(s.x[i]) && std::isfinite(s.y[i]); };
    std::string path;
    size_t points = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!finite(i)) continue;  // a gap: the next point starts a new piece
      path += fmt::format("{}{:.1f},{:.1f} ", i > 0 && finite(i - 1) ? "L" : "M", px(s.x[i]), py(s.y[i]));
      ++points;
    }
    if (!path.empty()) {
      path.pop_back();
      out_ +=
          fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linejoin=\"round\"{}/>\n",
                      path, s.color, s.dashed ? fmt::format(" stroke-dasharray=\"{}\"", kDash) : "");
    }
    for (size_t i = 0; i < n; ++i) {
      const bool alone = finite(i) && !(i > 0 && finite(i - 1)) && !finite(i + 1);
      if (finite(i) && (points <= kMarkedPoints || alone))
        out_ +=
            fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", px(s.x[i]), py(s.y[i]), s.color);
    }
    out_ += "</g>\n";
  }

  // The legend's entries flow left to right, wrapping at the page's width.
  std::string legend_rows(double top) {
    std::string out = "<g class=\"legend\">\n";
    const double line = 28, right_edge = kWidth - kRight;
    double x = kLeft, y = top;
    legend_lines_ = c_.legend.empty() ? 0 : 1;
    for (const LegendEntry& e : c_.legend) {
      const std::string text = fitted(e.label, right_edge - kLeft - line - 8);
      const double width = line + 8 + kCharWidth * static_cast<double>(text.size()) + 22;
      if (x > kLeft && x + width > right_edge) {
        x = kLeft;
        y += kLegendRow;
        ++legend_lines_;
      }
      out += fmt::format("<g class=\"entry\"><title>{}</title>", escaped(e.label));
      out += fmt::format(
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
          "stroke-width=\"2\"{}/>",
          x, y, x + line, y, e.color, e.dashed ? fmt::format(" stroke-dasharray=\"{}\"", kDash) : "");
      out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" fill=\"#222222\">{}</text></g>\n",
                         x + line + 8, y + 4, escaped(text));
      x += width;
    }
    return out + "</g>\n";
  }

  const Chart& c_;
  std::string out_;
  Axis x_, y_;
  double x0_ = kLeft, panel_width_ = 0;
  size_t legend_lines_ = 0;
};

}  // namespace

std::string render_svg(const Chart& chart) { return Writer(chart).run(); }

}  // namespace resnetc::report
