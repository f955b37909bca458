// Why this exists: the sweep report is one self-contained HTML file (no scripts, nothing
// fetched), so its charts are inline SVG written here by hand: a line chart (linear or log axes,
// ticks, a dashed reference line, a legend, a tooltip per point) and a horizontal grouped bar
// chart. The report decides what to plot; this file only draws exactly the values it is given.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sq::cli {

// Escapes &, <, >, " for HTML/SVG text and attributes.
std::string html_escape(const std::string& s);

enum class Marker { kCircle, kSquare, kTriangle, kDiamond, kNone };

struct LineSeries {
  std::string label;
  std::string color = "#333";
  std::string dash;  // SVG stroke-dasharray, empty for solid
  Marker marker = Marker::kCircle;
  std::vector<std::pair<double, double>> points;  // (x, y); non-finite values are skipped
};

enum class AxisScale { kLinear, kLog10, kLog2 };

struct LineChart {
  std::string title, x_label, y_label;
  AxisScale x_scale = AxisScale::kLinear, y_scale = AxisScale::kLinear;
  std::vector<double> x_ticks;  // empty: chosen automatically
  std::vector<LineSeries> series;
  std::optional<double> reference;  // horizontal dashed line
  std::string reference_label;
  // Formats a value for tooltips (ticks use a short general format).
  std::string (*format)(double) = nullptr;
};

std::string render_line_chart(const LineChart& chart, int width = 900, int height = 430);

struct BarGroup {
  std::string label;  // legend
  std::string color;
  std::vector<std::optional<double>> values;  // one per category
};

struct BarChart {
  std::string title, value_label;
  std::vector<std::string> categories;
  std::vector<BarGroup> groups;
  std::string (*format)(double) = nullptr;
};

std::string render_bar_chart(const BarChart& chart, int width = 900);

}  // namespace sq::cli
