#include "tools/softquant/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "quantizer/sweep.h"
#include "runtime/io/atomic_file.h"
#include "tools/softquant/report_svg.h"

namespace sq::cli {

namespace {

using OptD = std::optional<double>;

OptD number_of(const Json* j) {
  if (!j || !j->is_number() || !std::isfinite(j->as_number())) return std::nullopt;
  return j->as_number();
}

std::string printf_str(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string fmt_ppl(double v) { return printf_str(v < 1e4 ? "%.4f" : "%.4g", v); }
std::string fmt_db(double v) { return printf_str("%.2f", v); }
std::string fmt_db_unit(double v) { return printf_str("%.2f dB", v); }
std::string fmt_sum(double v) { return printf_str("%.4f", v); }
std::string fmt_deficit(double v) { return printf_str("%.5f", v); }
std::string fmt_opt(const OptD& v, std::string (*f)(double)) { return v ? f(*v) : "n/a"; }

// ---------------------------------------------------------------------------------------------
// What the report shows, derived from results.json

struct Point {
  SweepPoint config;
  const Json* entry;
};

std::vector<Point> points_of(const Json& r) {
  std::vector<Point> out;
  for (const Json& e : r.at("points").items()) out.push_back({SweepPoint::from_json(e.at("config")), &e});
  // Canonical order: pair, grid, correction, form, bits.
  std::stable_sort(out.begin(), out.end(), [](const Point& a, const Point& b) {
    auto key = [](const SweepPoint& p) {
      return std::make_tuple(p.weight_bits, p.act_bits, static_cast<int>(p.grid), static_cast<int>(p.bc),
                             p.bc == BcGranularity::kNone ? 0 : static_cast<int>(p.form), p.softmax_bits);
    };
    return key(a.config) < key(b.config);
  });
  return out;
}

bool is_perplexity(const Json& r) { return r.at("metric").as_string() == "perplexity"; }

// The SQNR outputs in first-seen order.
std::vector<std::string> sqnr_outputs(const Json& r) {
  std::vector<std::string> out;
  for (const Json& e : r.at("points").items()) {
    const Json* s = e.get("sqnr_db");
    if (!s || !s->is_object()) continue;
    for (const auto& [name, v] : s->members()) {
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
  }
  return out;
}

OptD metric_of(const Json& entry, const std::string& output) {
  if (output.empty()) return number_of(entry.get("perplexity"));
  const Json* s = entry.get("sqnr_db");
  return s && s->is_object() ? number_of(s->get(output)) : std::nullopt;
}

struct PivotRow {
  SweepPoint style;  // bc and form
  std::vector<OptD> values;
};

// Metric vs softmax bits for one (weight bits, act bits, grid[, output]).
struct Pivot {
  std::string title, output;
  std::vector<int> bits;
  std::vector<PivotRow> rows;
  OptD reference;
  std::string reference_label;
};

std::vector<Pivot> build_pivots(const Json& r) {
  const bool ppl = is_perplexity(r);
  std::vector<Point> pts = points_of(r);
  std::vector<std::string> outputs = ppl ? std::vector<std::string>{""} : sqnr_outputs(r);
  std::vector<std::tuple<int, int, SoftmaxGridKind>> groups;
  for (const auto& p : pts) {
    auto g = std::make_tuple(p.config.weight_bits, p.config.act_bits, p.config.grid);
    if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
  }
  std::vector<Pivot> out;
  for (const auto& [w, a, grid] : groups) {
    for (const auto& output : outputs) {
      Pivot pv;
      pv.output = output;
      pv.title = "W" + std::to_string(w) + "A" + std::to_string(a) + ", " + softmax_grid_name(grid) + " softmax grid" +
                 (output.empty() ? "" : ", output '" + output + "'");
      std::set<int> bits;
      for (const auto& p : pts) {
        if (p.config.weight_bits == w && p.config.act_bits == a && p.config.grid == grid) bits.insert(p.config.softmax_bits);
      }
      pv.bits.assign(bits.begin(), bits.end());
      for (const auto& p : pts) {
        if (p.config.weight_bits != w || p.config.act_bits != a || p.config.grid != grid) continue;
        auto row = std::find_if(pv.rows.begin(), pv.rows.end(), [&](const PivotRow& x) {
          return x.style.bc == p.config.bc && (p.config.bc == BcGranularity::kNone || x.style.form == p.config.form);
        });
        if (row == pv.rows.end()) {
          pv.rows.push_back({p.config, std::vector<OptD>(pv.bits.size())});
          row = pv.rows.end() - 1;
        }
        size_t col = static_cast<size_t>(std::find(pv.bits.begin(), pv.bits.end(), p.config.softmax_bits) - pv.bits.begin());
        row->values[col] = metric_of(*p.entry, output);
      }
      if (ppl) {
        const Json* b = r.get("baseline");
        pv.reference = b ? number_of(b->get("perplexity")) : std::nullopt;
        pv.reference_label = "FP32 baseline";
      } else {
        // SQNR of FP32 against itself is infinite: the widest softmax without correction is the
        // ceiling the rest of the quantization allows.
        for (const auto& row : pv.rows) {
          if (row.style.bc != BcGranularity::kNone) continue;
          for (size_t c = pv.bits.size(); c-- > 0;) {
            if (row.values[c]) {
              pv.reference = row.values[c];
              pv.reference_label = std::to_string(pv.bits[c]) + "-bit softmax, none";
              break;
            }
          }
        }
      }
      out.push_back(std::move(pv));
    }
  }
  return out;
}

// Line style per correction: colour by granularity, dotted line and square markers for the
// scale form.
void style_series(LineSeries& s, BcGranularity bc, BcForm form) {
  switch (bc) {
    case BcGranularity::kNone: s.color = "#222222"; break;
    case BcGranularity::kTensor: s.color = "#1f77b4"; break;
    case BcGranularity::kHead: s.color = "#d62728"; break;
    case BcGranularity::kLength: s.color = "#2ca02c"; break;
  }
  if (bc != BcGranularity::kNone && form == BcForm::kScale) {
    s.dash = "2 4";
    s.marker = Marker::kSquare;
  }
}

// ---------------------------------------------------------------------------------------------
// A document of blocks, rendered as Markdown (charts left out) or HTML

struct Cell {
  std::string text;
  bool bold = false;
};

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<Cell>> rows;
  size_t text_columns = 1;  // leading left-aligned columns; the rest are numbers
};

struct Block {
  enum class Kind { kH1, kH2, kH3, kPara, kTable, kSvg } kind;
  std::string text;  // headings and paragraphs: plain text with `code` spans; kSvg: the SVG
  Table table;
};

class Doc {
 public:
  void h1(std::string s) { blocks_.push_back({Block::Kind::kH1, std::move(s), {}}); }
  void h2(std::string s) { blocks_.push_back({Block::Kind::kH2, std::move(s), {}}); }
  void h3(std::string s) { blocks_.push_back({Block::Kind::kH3, std::move(s), {}}); }
  void para(std::string s) { blocks_.push_back({Block::Kind::kPara, std::move(s), {}}); }
  void table(Table t) { blocks_.push_back({Block::Kind::kTable, "", std::move(t)}); }
  void svg(std::string s) { blocks_.push_back({Block::Kind::kSvg, std::move(s), {}}); }

  std::string markdown() const;
  std::string html(const std::string& title) const;

 private:
  std::vector<Block> blocks_;
};

std::string md_cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else out += c;
  }
  return out;
}

std::string Doc::markdown() const {
  std::string o;
  for (const auto& b : blocks_) {
    switch (b.kind) {
      case Block::Kind::kH1: o += "# " + b.text + "\n\n"; break;
      case Block::Kind::kH2: o += "## " + b.text + "\n\n"; break;
      case Block::Kind::kH3: o += "### " + b.text + "\n\n"; break;
      case Block::Kind::kPara: o += b.text + "\n\n"; break;
      case Block::Kind::kSvg: break;  // charts are in report.html
      case Block::Kind::kTable: {
        const Table& t = b.table;
        o += "|";
        for (const auto& h : t.header) o += " " + md_cell(h) + " |";
        o += "\n|";
        for (size_t c = 0; c < t.header.size(); ++c) o += c < t.text_columns ? "---|" : "---:|";
        o += "\n";
        for (const auto& row : t.rows) {
          o += "|";
          for (const auto& cell : row) o += " " + (cell.bold ? "**" + md_cell(cell.text) + "**" : md_cell(cell.text)) + " |";
          o += "\n";
        }
        o += "\n";
        break;
      }
    }
  }
  return o;
}

// Escapes text and turns `code` spans into <code>.
std::string html_inline(const std::string& s) {
  std::string out;
  bool code = false;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '`') {
      out += html_escape(s.substr(start, i - start));
      if (i < s.size()) out += code ? "</code>" : "<code>";
      code = !code;
      start = i + 1;
    }
  }
  return out;
}

constexpr const char* kCss = R"(
body { font-family: Helvetica, Arial, sans-serif; color: #222; max-width: 1040px; margin: 24px auto;
       padding: 0 20px; line-height: 1.45; font-size: 15px; }
h1 { font-size: 26px; margin-bottom: 6px; }
h2 { font-size: 20px; margin-top: 34px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 16px; margin-top: 22px; }
code { background: #f3f3f3; padding: 0 3px; border-radius: 3px; font-size: 13px; }
table { border-collapse: collapse; margin: 10px 0 18px; font-size: 13px; }
th, td { border: 1px solid #d4d4d4; padding: 3px 8px; }
th { background: #f0f0f0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
svg { display: block; margin: 8px 0; max-width: 100%; height: auto; }
)";

std::string Doc::html(const std::string& title) const {
  std::string o = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
                  html_escape(title) + "</title>\n<style>" + kCss + "</style>\n</head>\n<body>\n";
  for (const auto& b : blocks_) {
    switch (b.kind) {
      case Block::Kind::kH1: o += "<h1>" + html_inline(b.text) + "</h1>\n"; break;
      case Block::Kind::kH2: o += "<h2>" + html_inline(b.text) + "</h2>\n"; break;
      case Block::Kind::kH3: o += "<h3>" + html_inline(b.text) + "</h3>\n"; break;
      case Block::Kind::kPara: o += "<p>" + html_inline(b.text) + "</p>\n"; break;
      case Block::Kind::kSvg: o += b.text; break;
      case Block::Kind::kTable: {
        const Table& t = b.table;
        o += "<table>\n<tr>";
        for (const auto& h : t.header) o += "<th>" + html_escape(h) + "</th>";
        o += "</tr>\n";
        for (const auto& row : t.rows) {
          o += "<tr>";
          for (size_t c = 0; c < row.size(); ++c) {
            std::string text = html_escape(row[c].text);
            if (row[c].bold) text = "<b>" + text + "</b>";
            o += (c < t.text_columns ? "<td>" : "<td class=\"n\">") + text + "</td>";
          }
          o += "</tr>\n";
        }
        o += "</table>\n";
        break;
      }
    }
  }
  o += "</body>\n</html>\n";
  return o;
}

// ---------------------------------------------------------------------------------------------
// Sections

std::string data_description(const Json& r) {
  const Json& d = r.at("data");
  const bool ppl = is_perplexity(r);
  std::string s = "Model `" + r.at("model").as_string() + "` (fingerprint " + r.at("fingerprint").as_string() +
                  "). Calibration data `" + d.at("calib").as_string() + "`";
  if (d.at("calib_samples").as_int() > 0) s += " (at most " + std::to_string(d.at("calib_samples").as_int()) + " samples)";
  s += "; evaluation data `" + d.at("eval").as_string() + "`";
  if (ppl) s += ", windows of " + std::to_string(d.at("context").as_int()) + " tokens";
  if (d.at("max_eval").as_int() > 0) {
    s += ", at most " + std::to_string(d.at("max_eval").as_int()) + (ppl ? " windows" : " samples");
  }
  s += ".";
  if (const Json* b = r.get("baseline")) {
    if (ppl && number_of(b->get("perplexity"))) {
      s += " FP32 baseline: perplexity " + fmt_ppl(b->at("perplexity").as_number()) + " over " +
           std::to_string(b->at("tokens").as_int()) + " predicted tokens in " + std::to_string(b->at("windows").as_int()) +
           " window(s).";
    } else if (!ppl && b->has("samples")) {
      s += " SQNR is measured against the FP32 model's outputs on " + std::to_string(b->at("samples").as_int()) +
           " sample(s).";
    }
  }
  return s;
}

void how_to_read(Doc& doc, const Json& r) {
  doc.h2("How to read this");
  const bool ppl = is_perplexity(r);
  doc.para(
      "Every point quantizes the model with symmetric per-channel `W`-bit weights, asymmetric `A`-bit activations and an "
      "unsigned `b`-bit softmax output, with or without softmax bias correction, and is evaluated by simulating the QDQ "
      "model (`--engine sim`). " +
      std::string(ppl ? "The metric is perplexity over the evaluation windows (every predicted token counted): lower is "
                        "better, and the dashed line is the FP32 model on the same windows."
                      : "The metric is the SQNR of each model output against the FP32 model, 10·log10(signal / noise) "
                        "accumulated over all samples: higher is better. The dashed line is the widest softmax without "
                        "correction, i.e. the ceiling that the weight and activation quantization leave."));
  doc.para(
      "Corrections: `none` is plain quantization; `tensor`, `head` and `length` estimate the bias once per Softmax tensor, "
      "per attention head, or per valid-length bucket (rows with 2^k to 2^(k+1)-1 unmasked keys). The `offset` form adds "
      "β to every unmasked probability (a fractional zero point, solid lines, round markers); the `scale` form divides the "
      "dequantization scale by the mean quantized row sum (dotted lines, square markers). Bold numbers are the best in "
      "their column. The row-sum deficit is 1 − Σ q(y) over a row's valid keys, averaged over calibration rows: what "
      "quantization removes from each probability row before (and after) correction.");
}

void accuracy_section(Doc& doc, const Json& r) {
  const bool ppl = is_perplexity(r);
  doc.h2(std::string("1. ") + (ppl ? "Perplexity" : "Output SQNR") + " vs softmax bits");
  for (const Pivot& pv : build_pivots(r)) {
    doc.h3(pv.title);
    LineChart chart;
    chart.title = (ppl ? "Perplexity" : "SQNR") + std::string(" vs softmax bits: ") + pv.title;
    chart.x_label = "softmax output bits";
    chart.x_ticks.assign(pv.bits.begin(), pv.bits.end());
    chart.format = ppl ? fmt_ppl : fmt_db_unit;
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& row : pv.rows) {
      LineSeries s;
      s.label = row.style.correction_label();
      style_series(s, row.style.bc, row.style.form);
      for (size_t c = 0; c < pv.bits.size(); ++c) {
        if (!row.values[c]) continue;
        s.points.emplace_back(pv.bits[c], *row.values[c]);
        lo = std::min(lo, *row.values[c]);
        hi = std::max(hi, *row.values[c]);
      }
      chart.series.push_back(std::move(s));
    }
    if (pv.reference) {
      lo = std::min(lo, *pv.reference);
      hi = std::max(hi, *pv.reference);
      chart.reference = pv.reference;
      chart.reference_label = pv.reference_label + " " + (ppl ? fmt_ppl(*pv.reference) : fmt_db_unit(*pv.reference));
    }
    const bool log_y = ppl && lo > 0 && hi / lo > 3;
    chart.y_scale = log_y ? AxisScale::kLog10 : AxisScale::kLinear;
    chart.y_label = ppl ? (log_y ? "perplexity (log scale)" : "perplexity")
                        : "SQNR of '" + pv.output + "' vs FP32 (dB)";
    doc.svg(render_line_chart(chart));

    Table t;
    t.header.push_back("correction");
    for (int b : pv.bits) t.header.push_back(std::to_string(b) + "-bit" + (ppl ? "" : " (dB)"));
    for (const auto& row : pv.rows) {
      std::vector<Cell> cells{{row.style.correction_label()}};
      for (size_t c = 0; c < pv.bits.size(); ++c) {
        bool best = false;
        if (row.values[c]) {
          best = true;
          for (const auto& other : pv.rows) {
            if (other.values[c] && (ppl ? *other.values[c] < *row.values[c] : *other.values[c] > *row.values[c])) best = false;
          }
        }
        cells.push_back({fmt_opt(row.values[c], ppl ? fmt_ppl : fmt_db), best && pv.rows.size() > 1});
      }
      t.rows.push_back(std::move(cells));
    }
    doc.table(std::move(t));
    if (pv.reference) {
      doc.para("Dashed line: " + pv.reference_label + ", " + (ppl ? "perplexity " + fmt_ppl(*pv.reference)
                                                                    : fmt_db_unit(*pv.reference)) + ".");
    }
  }
}

void row_sum_section(Doc& doc, const Json& r) {
  doc.h2("2. Quantized softmax row sum vs valid keys per row");
  const Json* rs = r.get("row_sums");
  if (!rs || rs->at("buckets").size() == 0) {
    doc.para("No softmax statistics were collected (the model has no quantized Softmax).");
    return;
  }
  const int bits = static_cast<int>(rs->at("softmax_bits").as_int());
  const std::string grid = rs->at("softmax_grid").as_string();
  const size_t nodes = rs->at("nodes").size();
  doc.para("On the calibration data, for the " + std::to_string(bits) + "-bit " + grid +
           " softmax grid: the mean of Σ_j q(y_j) over rows whose number of valid (unmasked) keys falls in each bucket, "
           "averaged over the rows of all " + std::to_string(nodes) +
           " Softmax node(s), before correction and after each correction. A row that lost no probability mass sums to 1 "
           "(dashed line). The x position of each point is the bucket's mean number of valid keys.");
  std::vector<std::string> corrections;
  for (const Json& c : rs->at("corrections").items()) corrections.push_back(c.as_string());

  LineChart chart;
  chart.title = "Mean quantized row sum vs valid keys (" + std::to_string(bits) + "-bit " + grid + " grid)";
  chart.x_label = "valid keys per row (log scale)";
  chart.y_label = "mean row sum Σ q(y)";
  chart.x_scale = AxisScale::kLog2;
  chart.format = fmt_sum;
  chart.reference = 1.0;
  chart.reference_label = "ideal row sum 1";
  LineSeries before;
  before.label = "before (none)";
  style_series(before, BcGranularity::kNone, BcForm::kOffset);
  std::vector<LineSeries> after(corrections.size());
  for (size_t c = 0; c < corrections.size(); ++c) {
    after[c].label = "after " + corrections[c];
    const std::string& label = corrections[c];
    style_series(after[c], parse_bc_granularity(label.substr(0, label.find('/'))),
                 parse_bc_form(label.substr(label.find('/') + 1)));
  }
  Table t;
  t.header = {"valid keys", "rows", "mean keys", "before (none)"};
  t.text_columns = 1;
  for (const auto& c : corrections) t.header.push_back("after " + c);
  for (const Json& b : rs->at("buckets").items()) {
    const double keys = b.at("mean_keys").as_number();
    const int64_t lo = b.at("min_keys").as_int(), hi = b.at("max_keys").as_int();
    std::vector<Cell> row{{lo == hi ? std::to_string(lo) : std::to_string(lo) + "–" + std::to_string(hi)},
                          {printf_str("%.0f", b.at("rows").as_number())},
                          {printf_str("%.1f", keys)},
                          {fmt_sum(b.at("before").as_number())}};
    before.points.emplace_back(keys, b.at("before").as_number());
    for (size_t c = 0; c < corrections.size(); ++c) {
      OptD v = number_of(b.at("after").get(corrections[c]));
      if (v) after[c].points.emplace_back(keys, *v);
      row.push_back({fmt_opt(v, fmt_sum)});
    }
    t.rows.push_back(std::move(row));
  }
  chart.series.push_back(std::move(before));
  for (auto& s : after) chart.series.push_back(std::move(s));
  doc.svg(render_line_chart(chart));
  doc.table(std::move(t));
}

std::string short_node_name(const std::string& name) {
  return name.size() <= 44 ? name : "…" + name.substr(name.size() - 43);
}

void per_layer_section(Doc& doc, const Json& r) {
  doc.h2("3. Per-layer SQNR at the best corrected point");
  const Json* pl = r.get("per_layer");
  if (!pl || pl->at("nodes").size() == 0) {
    doc.para("Not measured (no quantized Softmax node with a consumer, or no point at the default softmax bits).");
    return;
  }
  SweepPoint best = SweepPoint::from_json(pl->at("best"));
  const Json& unc_json = pl->at("uncorrected");
  std::optional<SweepPoint> unc;
  if (!unc_json.is_null()) unc = SweepPoint::from_json(unc_json);
  doc.para("For the best point at " + std::to_string(best.softmax_bits) + " softmax bits (" + best.label() + ")" +
           (unc ? " and the same settings without correction (" + unc->label() + ")" : std::string()) +
           ", the SQNR against the FP32 model on the " + std::to_string(pl->at("samples").as_int()) +
           " evaluation sample(s) of (1) the probabilities each Softmax's consumer reads, i.e. the quantized and corrected "
           "softmax output, and (2) that consumer's output (the attention P·V product). Both are measured inside the full "
           "quantized model, so they include the error of everything upstream (quantized weights and activations of this "
           "and earlier layers): they show where error enters and accumulates, not the softmax quantizer in isolation. "
           "Probabilities are compared element by element, masked keys included. The offset form adds β to every small "
           "probability, so it can lower the probabilities' SQNR while it raises the consumer's, whose output depends on "
           "the row sums.");
  std::vector<std::string> cats;
  for (const Json& n : pl->at("nodes").items()) cats.push_back(short_node_name(n.at("node").as_string()));
  const char* keys[] = {"probs_sqnr_db", "output_sqnr_db"};
  const char* titles[] = {"SQNR of the quantized softmax probabilities (dB)", "SQNR of the Softmax consumer's output (dB)"};
  for (int k = 0; k < 2; ++k) {
    BarChart chart;
    chart.title = titles[k];
    chart.value_label = "SQNR vs FP32 (dB), higher is better";
    chart.categories = cats;
    chart.format = fmt_db;
    if (unc) chart.groups.push_back({"uncorrected: " + unc->correction_label(), "#9a9a9a", {}});
    chart.groups.push_back({"best: " + best.correction_label(), "#1f77b4", {}});
    for (const Json& n : pl->at("nodes").items()) {
      const Json& v = n.at(keys[k]);
      if (unc) chart.groups[0].values.push_back(number_of(v.get("uncorrected")));
      chart.groups.back().values.push_back(number_of(v.get("best")));
    }
    doc.svg(render_bar_chart(chart));
  }
  Table t;
  t.header = {"Softmax node", "consumer"};
  t.text_columns = 2;
  for (const char* what : {"probs", "consumer out"}) {
    if (unc) t.header.push_back(std::string(what) + " SQNR, none (dB)");
    t.header.push_back(std::string(what) + " SQNR, " + best.correction_label() + " (dB)");
  }
  for (const Json& n : pl->at("nodes").items()) {
    std::vector<Cell> row{{n.at("node").as_string()}, {n.at("consumer").as_string()}};
    for (const char* key : keys) {
      OptD b = number_of(n.at(key).get("best"));
      if (unc) {
        OptD u = number_of(n.at(key).get("uncorrected"));
        row.push_back({fmt_opt(u, fmt_db), u && b && *u > *b});
        row.push_back({fmt_opt(b, fmt_db), u && b && *b > *u});
      } else {
        row.push_back({fmt_opt(b, fmt_db)});
      }
    }
    t.rows.push_back(std::move(row));
  }
  doc.table(std::move(t));
}

void all_points_section(Doc& doc, const Json& r) {
  const bool ppl = is_perplexity(r);
  doc.h2("4. Every point");
  doc.para("The numbers of results.json, one row per point. Deficits are the mean over Softmax nodes of the calibration "
           "row-sum deficit before and after this point's correction.");
  std::vector<std::string> outputs = ppl ? std::vector<std::string>{""} : sqnr_outputs(r);
  Table t;
  t.header = {"weight bits", "act bits", "softmax bits", "grid", "correction", "form"};
  t.text_columns = 6;
  for (const auto& o : outputs) t.header.push_back(ppl ? "perplexity" : "SQNR '" + o + "' (dB)");
  t.header.push_back("deficit before");
  t.header.push_back("deficit after");
  for (const Point& p : points_of(r)) {
    const SweepPoint& c = p.config;
    std::vector<Cell> row{{std::to_string(c.weight_bits)}, {std::to_string(c.act_bits)},
                          {std::to_string(c.softmax_bits)}, {softmax_grid_name(c.grid)},
                          {bc_granularity_name(c.bc)}, {c.bc == BcGranularity::kNone ? "-" : bc_form_name(c.form)}};
    for (const auto& o : outputs) row.push_back({fmt_opt(metric_of(*p.entry, o), ppl ? fmt_ppl : fmt_db)});
    double before = 0, after = 0;
    size_t n = 0;
    if (const Json* sm = p.entry->get("softmax")) {
      for (const Json& s : sm->items()) {
        before += s.at("deficit_before").as_number();
        after += s.at("deficit_after").as_number();
        ++n;
      }
    }
    row.push_back({n ? fmt_deficit(before / static_cast<double>(n)) : "n/a"});
    row.push_back({n ? fmt_deficit(after / static_cast<double>(n)) : "n/a"});
    t.rows.push_back(std::move(row));
  }
  doc.table(std::move(t));
}

Doc build_doc(const Json& r) {
  Doc doc;
  doc.h1("Softmax quantization sweep");
  doc.para(data_description(r));
  how_to_read(doc, r);
  accuracy_section(doc, r);
  row_sum_section(doc, r);
  per_layer_section(doc, r);
  all_points_section(doc, r);
  return doc;
}

}  // namespace

void write_sweep_reports(const Json& results, const std::string& dir) {
  Doc doc = build_doc(results);
  std::string md = doc.markdown();
  md.insert(md.find("\n\n") + 2, "Charts of the tables below: `report.html` beside this file.\n\n");
  write_file_atomic(dir + "/report.md", md);
  write_file_atomic(dir + "/report.html", doc.html("Softmax quantization sweep: " + results.at("model").as_string()));
}

std::string sweep_text_summary(const Json& results) {
  const bool ppl = is_perplexity(results);
  auto pad_left = [](const std::string& s, size_t w) {
    return s.size() >= w ? " " + s : std::string(w - s.size(), ' ') + s;
  };
  auto pad_right = [](std::string s, size_t w) {
    if (s.size() < w) s.resize(w, ' ');
    return s;
  };
  std::string o;
  for (const Pivot& pv : build_pivots(results)) {
    o += (ppl ? "perplexity, " : "SQNR dB, ") + pv.title + "\n  " + pad_right("correction", 14);
    for (int b : pv.bits) o += pad_left(std::to_string(b) + "-bit", 11);
    o += "\n";
    for (const auto& row : pv.rows) {
      o += "  " + pad_right(row.style.correction_label(), 14);
      for (const auto& v : row.values) o += pad_left(fmt_opt(v, ppl ? fmt_ppl : fmt_db), 11);
      o += "\n";
    }
    if (pv.reference) {
      o += "  " + pv.reference_label + ": " + (ppl ? fmt_ppl(*pv.reference) : fmt_db_unit(*pv.reference)) + "\n";
    }
  }
  return o;
}

}  // namespace sq::cli
