#include "tools/softquant/report_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace sq::cli {

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

std::string num(double v) {  // coordinates
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string tick_text(double v) {
  char buf[32];
  if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-3)) std::snprintf(buf, sizeof buf, "%.0e", v);
  else std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string value_text(double v, std::string (*format)(double)) {
  if (format) return format(v);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

double forward(AxisScale s, double v) {
  switch (s) {
    case AxisScale::kLog10: return std::log10(v);
    case AxisScale::kLog2: return std::log2(v);
    default: return v;
  }
}

bool plottable(AxisScale s, double v) { return std::isfinite(v) && (s == AxisScale::kLinear || v > 0); }

// An axis in transformed space [lo, hi] mapped onto pixels [p0, p1].
struct Axis {
  AxisScale scale = AxisScale::kLinear;
  double lo = 0, hi = 1, p0 = 0, p1 = 1;
  double map(double v) const { return p0 + (forward(scale, v) - lo) / (hi - lo) * (p1 - p0); }
};

// Fits [lo, hi] (transformed values of the data) with a margin.
Axis fit_axis(AxisScale scale, std::vector<double> values, double p0, double p1, double pad) {
  Axis a;
  a.scale = scale;
  a.p0 = p0;
  a.p1 = p1;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) {
    if (!plottable(scale, v)) continue;
    lo = std::min(lo, forward(scale, v));
    hi = std::max(hi, forward(scale, v));
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) {
    double d = scale == AxisScale::kLinear ? std::max(std::fabs(lo) * 0.05, 1e-3) : 0.1;
    lo -= d;
    hi += d;
  }
  double m = (hi - lo) * pad;
  a.lo = lo - m;
  a.hi = hi + m;
  return a;
}

std::vector<double> nice_linear_ticks(double lo, double hi, int target) {
  double raw = (hi - lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::vector<double> auto_ticks(const Axis& a) {
  if (a.scale == AxisScale::kLinear) return nice_linear_ticks(a.lo, a.hi, 6);
  if (a.scale == AxisScale::kLog2) {
    std::vector<double> t;
    int first = static_cast<int>(std::ceil(a.lo)), last = static_cast<int>(std::floor(a.hi));
    int stride = std::max(1, (last - first + 1 + 11) / 12);
    for (int k = first; k <= last; k += stride) t.push_back(std::ldexp(1.0, k));
    return t;
  }
  // log10: 1-2-5 per decade over a wide range; plain nice values inside less than a decade.
  double vlo = std::pow(10.0, a.lo), vhi = std::pow(10.0, a.hi);
  if (a.hi - a.lo < 1.0) {
    std::vector<double> t;
    for (double v : nice_linear_ticks(vlo, vhi, 5)) {
      if (v > 0) t.push_back(v);
    }
    return t;
  }
  for (const std::vector<double>& mults : {std::vector<double>{1, 2, 5}, std::vector<double>{1}}) {
    std::vector<double> t;
    for (int k = static_cast<int>(std::floor(a.lo)); k <= static_cast<int>(std::ceil(a.hi)); ++k) {
      for (double m : mults) {
        double v = m * std::pow(10.0, k);
        if (v >= vlo && v <= vhi) t.push_back(v);
      }
    }
    if (t.size() <= 10 || mults.size() == 1) return t;
  }
  return {};
}

std::string marker_svg(Marker m, double x, double y, const std::string& color) {
  const std::string fill = " fill=\"" + color + "\" stroke=\"white\" stroke-width=\"0.8\"";
  switch (m) {
    case Marker::kCircle:
      return "<circle cx=\"" + num(x) + "\" cy=\"" + num(y) + "\" r=\"3.8\"" + fill + "/>";
    case Marker::kSquare:
      return "<rect x=\"" + num(x - 3.6) + "\" y=\"" + num(y - 3.6) + "\" width=\"7.2\" height=\"7.2\"" + fill + "/>";
    case Marker::kTriangle:
      return "<path d=\"M" + num(x) + " " + num(y - 4.6) + " L" + num(x + 4.2) + " " + num(y + 3.2) + " L" +
             num(x - 4.2) + " " + num(y + 3.2) + " Z\"" + fill + "/>";
    case Marker::kDiamond:
      return "<path d=\"M" + num(x) + " " + num(y - 4.8) + " L" + num(x + 4.2) + " " + num(y) + " L" + num(x) +
             " " + num(y + 4.8) + " L" + num(x - 4.2) + " " + num(y) + " Z\"" + fill + "/>";
    case Marker::kNone: return "";
  }
  return "";
}

std::string text_svg(double x, double y, const std::string& s, const std::string& attrs = "") {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\"" + (attrs.empty() ? "" : " " + attrs) + ">" +
         html_escape(s) + "</text>";
}

std::string svg_open(int width, int height, const std::string& title) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + std::to_string(width) + " " +
         std::to_string(height) + "\" width=\"" + std::to_string(width) + "\" height=\"" +
         std::to_string(height) + "\" role=\"img\" aria-label=\"" + html_escape(title) +
         "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n" +
         "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
}

}  // namespace

std::string render_line_chart(const LineChart& c, int width, int height) {
  const double left = 78, right = width - 230.0, top = 42, bottom = height - 52.0;
  std::vector<double> xs, ys;
  for (const auto& s : c.series) {
    for (const auto& [x, y] : s.points) {
      if (!plottable(c.x_scale, x) || !plottable(c.y_scale, y)) continue;
      xs.push_back(x);
      ys.push_back(y);
    }
  }
  if (c.reference && plottable(c.y_scale, *c.reference)) ys.push_back(*c.reference);
  for (double t : c.x_ticks) xs.push_back(t);
  Axis ax = fit_axis(c.x_scale, xs, left, right, 0.04);
  Axis ay = fit_axis(c.y_scale, ys, bottom, top, 0.07);

  std::string o = svg_open(width, height, c.title);
  o += text_svg(left, 22, c.title, "font-size=\"15\" font-weight=\"bold\"") + "\n";
  // Grid and y ticks.
  for (double t : auto_ticks(ay)) {
    double y = ay.map(t);
    if (y < top - 0.5 || y > bottom + 0.5) continue;
    o += "<line x1=\"" + num(left) + "\" x2=\"" + num(right) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
         "\" stroke=\"#e3e3e3\"/>";
    o += "<line x1=\"" + num(left - 5) + "\" x2=\"" + num(left) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
         "\" stroke=\"#333\"/>";
    o += text_svg(left - 8, y + 4, tick_text(t), "text-anchor=\"end\"") + "\n";
  }
  // X ticks.
  for (double t : c.x_ticks.empty() ? auto_ticks(ax) : c.x_ticks) {
    double x = ax.map(t);
    if (x < left - 0.5 || x > right + 0.5) continue;
    o += "<line x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(top) + "\" y2=\"" + num(bottom) +
         "\" stroke=\"#f0f0f0\"/>";
    o += "<line x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(bottom) + "\" y2=\"" + num(bottom + 5) +
         "\" stroke=\"#333\"/>";
    o += text_svg(x, bottom + 18, tick_text(t), "text-anchor=\"middle\"") + "\n";
  }
  // Axes and labels.
  o += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(right - left) + "\" height=\"" +
       num(bottom - top) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  o += text_svg((left + right) / 2, height - 12, c.x_label, "text-anchor=\"middle\" font-size=\"13\"") + "\n";
  o += "<text transform=\"translate(18," + num((top + bottom) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">" + html_escape(c.y_label) + "</text>\n";
  // Reference line.
  if (c.reference && plottable(c.y_scale, *c.reference)) {
    double y = ay.map(*c.reference);
    o += "<line x1=\"" + num(left) + "\" x2=\"" + num(right) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
         "\" stroke=\"#777\" stroke-width=\"1.6\" stroke-dasharray=\"9 5\"><title>" +
         html_escape(c.reference_label + ": " + value_text(*c.reference, c.format)) + "</title></line>\n";
  }
  // Series.
  for (const auto& s : c.series) {
    std::string path;
    std::string marks;
    for (const auto& [x, y] : s.points) {
      if (!plottable(c.x_scale, x) || !plottable(c.y_scale, y)) continue;
      double px = ax.map(x), py = ay.map(y);
      path += (path.empty() ? "M" : " L") + num(px) + " " + num(py);
      marks += "<g><title>" + html_escape(s.label + ": " + tick_text(x) + " -> " + value_text(y, c.format)) +
               "</title>" + marker_svg(s.marker, px, py, s.color) + "</g>";
    }
    if (path.empty()) continue;
    o += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"2\"" +
         (s.dash.empty() ? "" : " stroke-dasharray=\"" + s.dash + "\"") + "/>\n" + marks + "\n";
  }
  // Legend.
  double ly = top + 8;
  auto legend_row = [&](const std::string& label, const std::string& color, const std::string& dash, Marker m,
                        double width_px) {
    double x0 = right + 18;
    o += "<line x1=\"" + num(x0) + "\" x2=\"" + num(x0 + 30) + "\" y1=\"" + num(ly) + "\" y2=\"" + num(ly) +
         "\" stroke=\"" + color + "\" stroke-width=\"" + num(width_px) + "\"" +
         (dash.empty() ? "" : " stroke-dasharray=\"" + dash + "\"") + "/>";
    o += marker_svg(m, x0 + 15, ly, color);
    o += text_svg(x0 + 38, ly + 4, label) + "\n";
    ly += 19;
  };
  for (const auto& s : c.series) legend_row(s.label, s.color, s.dash, s.marker, 2);
  if (c.reference && plottable(c.y_scale, *c.reference)) {
    legend_row(c.reference_label, "#777", "9 5", Marker::kNone, 1.6);
  }
  o += "</svg>\n";
  return o;
}

std::string render_bar_chart(const BarChart& c, int width) {
  size_t longest = 0;
  for (const auto& cat : c.categories) longest = std::max(longest, cat.size());
  const double left = std::min(300.0, 16 + 6.6 * static_cast<double>(longest)), right = width - 80.0;
  const double bar_h = 15, gap = 3, group_gap = 14, top = 62;
  const double group_h = static_cast<double>(c.groups.size()) * (bar_h + gap) - gap;
  const double bottom = top + static_cast<double>(c.categories.size()) * (group_h + group_gap);
  const int height = static_cast<int>(bottom + 48);

  std::vector<double> values{0.0};
  for (const auto& g : c.groups) {
    for (const auto& v : g.values) {
      if (v && std::isfinite(*v)) values.push_back(*v);
    }
  }
  Axis ax = fit_axis(AxisScale::kLinear, values, left, right, 0.03);
  std::string o = svg_open(width, height, c.title);
  o += text_svg(16, 22, c.title, "font-size=\"15\" font-weight=\"bold\"") + "\n";
  double lx = 16;
  for (const auto& g : c.groups) {
    o += "<rect x=\"" + num(lx) + "\" y=\"34\" width=\"14\" height=\"12\" fill=\"" + g.color + "\"/>";
    o += text_svg(lx + 19, 44, g.label) + "\n";
    lx += 30 + 6.8 * static_cast<double>(g.label.size());
  }
  for (double t : auto_ticks(ax)) {
    double x = ax.map(t);
    if (x < left - 0.5 || x > right + 0.5) continue;
    o += "<line x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(top - 6) + "\" y2=\"" + num(bottom) +
         "\" stroke=\"" + (t == 0 ? "#333" : "#e3e3e3") + "\"/>";
    o += text_svg(x, bottom + 16, tick_text(t), "text-anchor=\"middle\"") + "\n";
  }
  o += text_svg((left + right) / 2, bottom + 38, c.value_label, "text-anchor=\"middle\" font-size=\"13\"") + "\n";
  const double zero = ax.map(0.0);
  for (size_t i = 0; i < c.categories.size(); ++i) {
    double y0 = top + static_cast<double>(i) * (group_h + group_gap);
    o += text_svg(left - 8, y0 + group_h / 2 + 4, c.categories[i], "text-anchor=\"end\"") + "\n";
    for (size_t g = 0; g < c.groups.size(); ++g) {
      double y = y0 + static_cast<double>(g) * (bar_h + gap);
      const auto& v = i < c.groups[g].values.size() ? c.groups[g].values[i] : std::nullopt;
      if (!v || !std::isfinite(*v)) {
        o += text_svg(zero + 4, y + bar_h - 3, "n/a", "fill=\"#888\"") + "\n";
        continue;
      }
      double x = ax.map(*v);
      std::string label = value_text(*v, c.format);
      o += "<rect x=\"" + num(std::min(x, zero)) + "\" y=\"" + num(y) + "\" width=\"" + num(std::fabs(x - zero)) +
           "\" height=\"" + num(bar_h) + "\" fill=\"" + c.groups[g].color + "\"><title>" +
           html_escape(c.categories[i] + ", " + c.groups[g].label + ": " + label) + "</title></rect>";
      o += text_svg(std::max(x, zero) + 4, y + bar_h - 3, label, "font-size=\"11\"") + "\n";
    }
  }
  o += "</svg>\n";
  return o;
}

}  // namespace sq::cli
