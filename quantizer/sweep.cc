#include "quantizer/sweep.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "calib/dataset.h"
#include "calib/progress.h"
#include "quantizer/evaluate.h"
#include "quantizer/quantize.h"
#include "runtime/io/atomic_file.h"
#include "runtime/io/read_file.h"

namespace sq {

// ---------------------------------------------------------------------------------------------
// Points

bool SweepPoint::operator==(const SweepPoint& o) const {
  return weight_bits == o.weight_bits && act_bits == o.act_bits && softmax_bits == o.softmax_bits &&
         grid == o.grid && bc == o.bc && (bc == BcGranularity::kNone || form == o.form);
}

QuantConfig SweepPoint::quant_config() const {
  QuantConfig c;
  c.weight_bits = weight_bits;
  c.act_bits = act_bits;
  c.softmax_bits = softmax_bits;
  c.softmax_grid = grid;
  c.softmax_bc = bc;
  c.softmax_bc_form = form;
  return c;
}

Json SweepPoint::to_json() const {
  Json j = Json::object();
  j.set("weight_bits", weight_bits);
  j.set("act_bits", act_bits);
  j.set("softmax_bits", softmax_bits);
  j.set("softmax_grid", softmax_grid_name(grid));
  j.set("softmax_bc", bc_granularity_name(bc));
  j.set("softmax_bc_form", bc == BcGranularity::kNone ? Json() : Json(bc_form_name(form)));
  return j;
}

SweepPoint SweepPoint::from_json(const Json& j) {
  SQ_CHECK(j.is_object(), "sweep point config is not a JSON object");
  SweepPoint p;
  p.weight_bits = static_cast<int>(j.at("weight_bits").as_int());
  p.act_bits = static_cast<int>(j.at("act_bits").as_int());
  p.softmax_bits = static_cast<int>(j.at("softmax_bits").as_int());
  p.grid = parse_softmax_grid(j.at("softmax_grid").as_string());
  p.bc = parse_bc_granularity(j.at("softmax_bc").as_string());
  const Json* form = j.get("softmax_bc_form");
  if (p.bc != BcGranularity::kNone) {
    SQ_CHECK(form && form->is_string(), "sweep point config: softmax_bc_form must be a string when softmax_bc is ",
             bc_granularity_name(p.bc));
    p.form = parse_bc_form(form->as_string());
  }
  return p;
}

std::string SweepPoint::correction_label() const {
  if (bc == BcGranularity::kNone) return "none";
  return std::string(bc_granularity_name(bc)) + "/" + bc_form_name(form);
}

std::string SweepPoint::label() const {
  // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "W" + std::string.
  std::string s = "W";
  s += std::to_string(weight_bits);
  s += "A";
  s += std::to_string(act_bits);
  s += ", softmax ";
  s += std::to_string(softmax_bits);
  s += "-bit ";
  s += softmax_grid_name(grid);
  s += ", ";
  s += correction_label();
  return s;
}

namespace {

template <typename T>
std::vector<T> unique_in_order(const std::vector<T>& v, const char* axis) {
  SQ_CHECK(!v.empty(), "sweep: no values given for ", axis);
  std::vector<T> out;
  for (const T& x : v) {
    if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  }
  return out;
}

}  // namespace

std::vector<SweepPoint> expand_sweep(const SweepAxes& axes) {
  auto wbits = unique_in_order(axes.weight_bits, "--weight-bits");
  auto abits = unique_in_order(axes.act_bits, "--act-bits");
  auto sbits = unique_in_order(axes.softmax_bits, "--softmax-bits");
  auto grids = unique_in_order(axes.grids, "--softmax-grid");
  auto bcs = unique_in_order(axes.corrections, "--softmax-bc");
  auto forms = unique_in_order(axes.forms, "--softmax-bc-form");
  std::vector<SweepPoint> out;
  for (int w : wbits) {
    for (int a : abits) {
      for (SoftmaxGridKind g : grids) {
        for (BcGranularity bc : bcs) {
          const size_t nforms = bc == BcGranularity::kNone ? 1 : forms.size();
          for (size_t f = 0; f < nforms; ++f) {
            for (int b : sbits) {
              SweepPoint p{w, a, b, g, bc, bc == BcGranularity::kNone ? BcForm::kOffset : forms[f]};
              p.quant_config().validate();
              out.push_back(p);
            }
          }
        }
      }
    }
  }
  return out;
}

bool sweep_point_score(const Json& entry, double* score, bool* lower_is_better) {
  if (const Json* ppl = entry.get("perplexity")) {
    if (!ppl->is_number() || !std::isfinite(ppl->as_number())) return false;
    *score = ppl->as_number();
    *lower_is_better = true;
    return true;
  }
  const Json* sqnr = entry.get("sqnr_db");
  if (!sqnr || !sqnr->is_object()) return false;
  double sum = 0;
  int n = 0;
  for (const auto& [name, v] : sqnr->members()) {
    if (v.is_number() && std::isfinite(v.as_number())) {
      sum += v.as_number();
      ++n;
    }
  }
  if (n == 0) return false;
  *score = sum / n;
  *lower_is_better = false;
  return true;
}

std::string model_fingerprint(const Model& model) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* data, size_t n) {
    const unsigned char* b = static_cast<const unsigned char*>(data);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, b + i, 8);
      h = (h ^ w) * 1099511628211ull;
      h ^= h >> 29;
    }
    for (; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  auto mix_str = [&mix](const std::string& s) { mix(s.c_str(), s.size() + 1); };
  for (const Node& n : model.graph.nodes) {
    mix_str(n.op_type);
    mix_str(n.domain);
    for (const auto& s : n.inputs) mix_str(s);
    for (const auto& s : n.outputs) mix_str(s);
  }
  for (const auto& [name, t] : model.graph.initializers) {
    mix_str(name);
    mix(t.shape().data(), t.shape().size() * sizeof(int64_t));
    if (!t.empty_handle()) mix(t.raw(), t.nbytes());
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// ---------------------------------------------------------------------------------------------
// The run

namespace {

using BitsPair = std::pair<int, int>;  // (weight bits, activation bits)

BitsPair pair_of(const SweepPoint& p) { return {p.weight_bits, p.act_bits}; }

Json json_or_null(const Json& j, const char* key) {
  const Json* v = j.get(key);
  return v ? *v : Json();
}

// Where a Softmax's output and its first consumer's output are, for the per-layer comparison.
struct LayerProbe {
  std::string node;          // Softmax node
  std::string probs;         // its FP32 output tensor
  std::string consumer;      // "name (OpType)" of the first op reading it
  std::string consumer_out;  // that op's first output (same name in the quantized model)
  size_t consumer_input = 0;
};

class SweepRun {
 public:
  SweepRun(std::shared_ptr<const Model> model, const std::vector<SweepPoint>& points,
           const SweepSettings& settings, const std::string& results_path, const SweepHooks& hooks)
      : model_(std::move(model)), requested_(points), s_(settings), path_(results_path), hooks_(hooks) {}

  SweepSummary run();

 private:
  bool tokens() const { return eval_spec_.kind == DataSpec::Kind::kTokens; }
  const Json* find(const SweepPoint& p) const;
  void load_existing();
  void save();
  void note(const std::string& message) const {
    if (s_.progress) std::cerr << "sweep: " << message << "\n";
  }

  Calibration& calibration(BitsPair pair);
  std::vector<SoftmaxVariant> variants_for(BitsPair pair) const;
  SoftmaxVariant row_sum_variant() const;
  Json row_sum_corrections() const;
  void compute_row_sums(const Calibration& cal);
  void evaluate_baseline();
  Json evaluate_point(const SweepPoint& p);
  const std::vector<TensorMap>& fp32_outputs();
  bool choose_per_layer(SweepPoint* best, std::optional<SweepPoint>* uncorrected) const;
  void evaluate_per_layer(const SweepPoint& best, const std::optional<SweepPoint>& uncorrected);

  std::shared_ptr<const Model> model_;
  std::vector<SweepPoint> requested_;
  SweepSettings s_;
  std::string path_;
  SweepHooks hooks_;
  SweepSummary summary_;

  DataSpec eval_spec_;
  std::optional<SampleSet> eval_, calib_;
  Json data_, baseline_, row_sums_, per_layer_;
  std::string fingerprint_, saved_text_;
  std::vector<std::pair<SweepPoint, Json>> results_;
  std::map<BitsPair, Calibration> calibrations_;
  std::optional<std::vector<TensorMap>> fp32_outputs_;
};

const Json* SweepRun::find(const SweepPoint& p) const {
  for (const auto& [q, entry] : results_) {
    if (q == p) return &entry;
  }
  return nullptr;
}

void SweepRun::load_existing() {
  if (!std::filesystem::exists(path_)) return;
  saved_text_ = read_file_bytes(path_, "a sweep results.json file");
  Json j = Json::parse(saved_text_, path_);
  SQ_CHECK(j.is_object() && j.has("points"), path_, ": not a sweep results file (no \"points\")");
  const Json* fp = j.get("fingerprint");
  SQ_CHECK(fp && fp->is_string() && fp->as_string() == fingerprint_, path_,
           " holds results for another model (fingerprint ", fp && fp->is_string() ? fp->as_string() : "none",
           ", this model's is ", fingerprint_, "): delete it or choose another --out");
  const Json* data = j.get("data");
  SQ_CHECK(data && data->dump() == data_.dump(), path_, " was made with other data settings (",
           data ? data->dump() : "none", ", this run: ", data_.dump(), "): delete it or choose another --out");
  for (const Json& entry : j.at("points").items()) {
    try {
      results_.emplace_back(SweepPoint::from_json(entry.at("config")), entry);
    } catch (const Error& e) {
      throw make_error(path_, ": ", e.what());
    }
  }
  baseline_ = json_or_null(j, "baseline");
  row_sums_ = json_or_null(j, "row_sums");
  per_layer_ = json_or_null(j, "per_layer");
}

void SweepRun::save() {
  Json out = Json::object();
  out.set("model", s_.model_path);
  out.set("fingerprint", fingerprint_);
  out.set("metric", tokens() ? "perplexity" : "sqnr_db");
  out.set("data", data_);
  if (!baseline_.is_null()) out.set("baseline", baseline_);
  Json points = Json::array();
  for (const auto& [p, entry] : results_) points.push(entry);
  out.set("points", points);
  if (!row_sums_.is_null()) out.set("row_sums", row_sums_);
  if (!per_layer_.is_null()) out.set("per_layer", per_layer_);
  std::string text = out.dump(2) + "\n";
  if (text == saved_text_) return;  // a re-run that added nothing leaves the file untouched
  write_file_atomic(path_, text);
  saved_text_ = std::move(text);
}

SoftmaxVariant SweepRun::row_sum_variant() const {
  // The default 8-bit grid when the sweep has it, else the bits closest to 8 and its first grid.
  SoftmaxVariant v{requested_.front().softmax_bits, requested_.front().grid};
  bool has_fixed = false;
  for (const auto& p : requested_) {
    if (std::abs(p.softmax_bits - 8) < std::abs(v.bits - 8) ||
        (std::abs(p.softmax_bits - 8) == std::abs(v.bits - 8) && p.softmax_bits > v.bits)) {
      v.bits = p.softmax_bits;
    }
    has_fixed = has_fixed || p.grid == SoftmaxGridKind::kFixed;
  }
  if (has_fixed) v.grid = SoftmaxGridKind::kFixed;
  return v;
}

Json SweepRun::row_sum_corrections() const {
  Json out = Json::array();
  std::set<std::string> seen;
  for (const auto& p : requested_) {
    if (p.bc == BcGranularity::kNone || !seen.insert(p.correction_label()).second) continue;
    out.push(p.correction_label());
  }
  return out;
}

std::vector<SoftmaxVariant> SweepRun::variants_for(BitsPair pair) const {
  // Every (bits, grid) of this pair, requested or already stored, so that one calibration serves
  // the points, the row-sum plot and the per-layer comparison.
  std::set<SoftmaxVariant> v{row_sum_variant()};
  for (const auto& p : requested_) {
    if (pair_of(p) == pair) v.insert({p.softmax_bits, p.grid});
  }
  for (const auto& [p, entry] : results_) {
    if (pair_of(p) == pair) v.insert({p.softmax_bits, p.grid});
  }
  return {v.begin(), v.end()};
}

Calibration& SweepRun::calibration(BitsPair pair) {
  auto it = calibrations_.find(pair);
  if (it != calibrations_.end()) return it->second;
  if (!calib_) {
    calib_ = SampleSet::load(parse_data_spec(s_.calib), model_->graph, s_.context, s_.calib_samples);
  }
  std::vector<SoftmaxVariant> variants = variants_for(pair);
  std::string what;
  for (const auto& v : variants) {
    what += (what.empty() ? "" : ", ") + std::to_string(v.bits) + "-bit " + softmax_grid_name(v.grid);
  }
  note("calibrating W" + std::to_string(pair.first) + "A" + std::to_string(pair.second) + " on " +
       std::to_string(calib_->size()) + " sample(s), softmax statistics for " + what);
  QuantConfig config;
  config.weight_bits = pair.first;
  config.act_bits = pair.second;
  Calibration cal = calibrate_model(model_, config, *calib_, s_.threads, variants);
  ++summary_.calibrations;
  if (calibrations_.empty()) compute_row_sums(cal);
  return calibrations_.emplace(pair, std::move(cal)).first->second;
}

void SweepRun::compute_row_sums(const Calibration& cal) {
  // Softmax statistics come from the FP32 model, so any pair's calibration gives the same ones.
  const SoftmaxVariant v = row_sum_variant();
  const Json corrections = row_sum_corrections();
  auto stats_it = cal.softmax.find(v);
  Json nodes = Json::array();
  struct Acc {
    double rows = 0, len = 0, before = 0;
    std::vector<double> after;
  };
  std::map<int, Acc> buckets;
  if (stats_it != cal.softmax.end()) {
    for (const auto& sp : cal.plan.softmaxes) {
      auto st = stats_it->second.find(sp.node);
      if (st == stats_it->second.end() || st->second.empty()) continue;
      nodes.push(sp.node);
      for (const auto& row : st->second.row_sum_by_length(BcGranularity::kNone, BcForm::kOffset)) {
        Acc& a = buckets[row.bucket];
        a.rows += row.rows;
        a.len += row.mean_len * row.rows;
        a.before += row.sum_before * row.rows;
        a.after.resize(corrections.size(), 0.0);
      }
      for (size_t c = 0; c < corrections.size(); ++c) {
        SweepPoint p;  // parse "granularity/form"
        const std::string& label = corrections[c].as_string();
        p.bc = parse_bc_granularity(label.substr(0, label.find('/')));
        p.form = parse_bc_form(label.substr(label.find('/') + 1));
        for (const auto& row : st->second.row_sum_by_length(p.bc, p.form)) {
          buckets[row.bucket].after[c] += row.sum_after * row.rows;
        }
      }
    }
  }
  Json rows = Json::array();
  for (const auto& [k, a] : buckets) {
    Json r = Json::object();
    r.set("bucket", k);
    r.set("min_keys", int64_t{1} << k);
    r.set("max_keys", (int64_t{1} << (k + 1)) - 1);
    r.set("rows", a.rows);
    r.set("mean_keys", a.len / a.rows);
    r.set("before", a.before / a.rows);
    Json after = Json::object();
    for (size_t c = 0; c < corrections.size(); ++c) after.set(corrections[c].as_string(), a.after[c] / a.rows);
    r.set("after", after);
    rows.push(r);
  }
  row_sums_ = Json::object();
  row_sums_.set("softmax_bits", v.bits);
  row_sums_.set("softmax_grid", softmax_grid_name(v.grid));
  row_sums_.set("corrections", corrections);
  row_sums_.set("nodes", nodes);
  row_sums_.set("buckets", rows);
}

void SweepRun::evaluate_baseline() {
  Json b = Json::object();
  b.set("engine", "fp32");
  if (tokens()) {
    note("FP32 baseline on " + std::to_string(eval_->size()) + " window(s)");
    ModelRunner runner(model_, EngineKind::kFp32);
    PerplexityResult r = evaluate_perplexity(runner, *eval_, s_.threads, s_.progress);
    b.set("perplexity", r.perplexity);
    b.set("mean_nll", r.mean_nll);
    b.set("tokens", r.tokens);
    b.set("windows", r.windows);
  } else {
    // SQNR is measured against the FP32 outputs themselves, so the baseline is the reference.
    Json outs = Json::array();
    for (const auto& vi : model_->graph.outputs) outs.push(vi.name);
    b.set("outputs", outs);
    b.set("samples", eval_->size());
  }
  baseline_ = b;
  summary_.baseline_evaluated = true;
}

const std::vector<TensorMap>& SweepRun::fp32_outputs() {
  if (!fp32_outputs_) {
    ModelRunner runner(model_, EngineKind::kFp32);
    ThreadPool pool(s_.threads);
    std::vector<TensorMap> outs;
    Progress bar("FP32 reference outputs", static_cast<int64_t>(eval_->size()), s_.progress);
    for (size_t i = 0; i < eval_->size(); ++i) {
      outs.push_back(runner.run(eval_->feeds(i), pool));
      bar.step();
    }
    bar.finish();
    fp32_outputs_ = std::move(outs);
  }
  return *fp32_outputs_;
}

Json SweepRun::evaluate_point(const SweepPoint& p) {
  const QuantConfig config = p.quant_config();
  Calibration& cal = calibration(pair_of(p));
  cal.plan = plan_qdq(*model_, config);  // the plan carries the softmax bits this point uses
  QuantizeResult q = build_quantized_model(*model_, config, cal);
  auto qmodel = std::make_shared<const Model>(std::move(q.model));
  ModelRunner runner(qmodel, EngineKind::kSim);
  Json entry = Json::object();
  entry.set("config", p.to_json());
  if (tokens()) {
    PerplexityResult r = evaluate_perplexity(runner, *eval_, s_.threads, false);
    entry.set("perplexity", r.perplexity);
  } else {
    const std::vector<TensorMap>& refs = fp32_outputs();
    ThreadPool pool(s_.threads);
    OutputComparison cmp;
    for (size_t i = 0; i < eval_->size(); ++i) {
      TensorMap out = runner.run(eval_->feeds(i), pool);
      for (const auto& [name, ref] : refs[i]) {
        auto it = out.find(name);
        SQ_CHECK(it != out.end(), "quantized model (", p.label(), ") has no output '", name, "'");
        cmp.add(name, ref, it->second);
      }
    }
    Json sqnr = Json::object();
    for (const auto& [name, m] : cmp.results()) sqnr.set(name, m.sqnr_db);
    entry.set("sqnr_db", sqnr);
  }
  Json softmax = Json::array();
  for (const auto& r : q.softmax) {
    Json s = Json::object();
    s.set("node", r.node);
    s.set("deficit_before", r.deficit_before);
    s.set("deficit_after", r.deficit_after);
    softmax.push(s);
  }
  entry.set("softmax", softmax);
  return entry;
}

bool SweepRun::choose_per_layer(SweepPoint* best, std::optional<SweepPoint>* uncorrected) const {
  const int bits = row_sum_variant().bits;
  bool found = false, found_corrected = false;
  double best_score = 0;
  for (const auto& [p, entry] : results_) {
    double score;
    bool lower;
    if (p.softmax_bits != bits || !sweep_point_score(entry, &score, &lower)) continue;
    const bool corrected = p.bc != BcGranularity::kNone;
    if (found_corrected && !corrected) continue;  // a corrected point is preferred
    const bool better = lower ? score < best_score : score > best_score;
    if (!found || (corrected && !found_corrected) || better) {
      *best = p;
      best_score = score;
      found = true;
      found_corrected = corrected;
    }
  }
  if (!found) return false;
  uncorrected->reset();
  if (best->bc != BcGranularity::kNone) {
    SweepPoint none = *best;
    none.bc = BcGranularity::kNone;
    none.form = BcForm::kOffset;
    if (find(none)) *uncorrected = none;
  }
  return true;
}

void SweepRun::evaluate_per_layer(const SweepPoint& best, const std::optional<SweepPoint>& uncorrected) {
  std::vector<SweepPoint> configs{best};
  if (uncorrected) configs.push_back(*uncorrected);
  Calibration& cal = calibration(pair_of(best));
  std::vector<std::shared_ptr<const Model>> qmodels;
  std::vector<LayerProbe> probes;
  for (const SweepPoint& p : configs) {
    cal.plan = plan_qdq(*model_, p.quant_config());
    qmodels.push_back(std::make_shared<const Model>(build_quantized_model(*model_, p.quant_config(), cal).model));
  }
  for (const auto& sp : cal.plan.softmaxes) {
    if (sp.uses.empty()) continue;
    // The consumer that matters is the P·V product: prefer a MatMul over, say, an Identity.
    InputRef use = sp.uses[0];
    for (const auto& u : sp.uses) {
      if (model_->graph.nodes[u.node].op_type == "MatMul") {
        use = u;
        break;
      }
    }
    const Node& c = model_->graph.nodes[use.node];
    probes.push_back({sp.node, sp.output, (c.name.empty() ? c.outputs[0] : c.name) + " (" + c.op_type + ")",
                      c.outputs[0], use.input});
  }
  note("per-layer SQNR of " + best.label() + (uncorrected ? " and " + uncorrected->label() : std::string()) +
       " over " + std::to_string(eval_->size()) + " sample(s)");

  // In each quantized model: tensor name -> (probe, 0 for the probabilities the consumer reads,
  // 1 for the consumer's output).
  std::vector<std::map<std::string, std::pair<size_t, int>>> watch(qmodels.size());
  std::map<std::string, bool> fp32_watch;
  for (size_t m = 0; m < qmodels.size(); ++m) {
    std::map<std::string, const Node*> producer;
    for (const Node& n : qmodels[m]->graph.nodes) {
      for (const auto& o : n.outputs) producer[o] = &n;
    }
    for (size_t i = 0; i < probes.size(); ++i) {
      auto it = producer.find(probes[i].consumer_out);
      SQ_CHECK(it != producer.end() && probes[i].consumer_input < it->second->inputs.size(),
               "quantized model has no producer of '", probes[i].consumer_out, "'");
      watch[m][it->second->inputs[probes[i].consumer_input]] = {i, 0};
      watch[m][probes[i].consumer_out] = {i, 1};
    }
  }
  for (const auto& p : probes) fp32_watch[p.probs] = fp32_watch[p.consumer_out] = true;

  ReferenceEngine fp32(model_);
  std::vector<std::unique_ptr<ReferenceEngine>> engines;
  for (const auto& qm : qmodels) engines.push_back(std::make_unique<ReferenceEngine>(qm));
  std::vector<OutputComparison> cmp(qmodels.size());
  ThreadPool pool(s_.threads);
  Progress bar("per-layer SQNR", static_cast<int64_t>(eval_->size()), s_.progress);
  for (size_t i = 0; i < eval_->size(); ++i) {
    TensorMap feeds = eval_->feeds(i);
    std::map<std::string, Tensor> ref;
    ReferenceEngine::Observer keep = [&](const Node& n, size_t o, const Tensor& v) {
      if (fp32_watch.count(n.outputs[o])) ref[n.outputs[o]] = v.clone();
    };
    fp32.run(feeds, pool, &keep);
    for (size_t m = 0; m < engines.size(); ++m) {
      ReferenceEngine::Observer compare = [&](const Node& n, size_t o, const Tensor& v) {
        auto it = watch[m].find(n.outputs[o]);
        if (it == watch[m].end()) return;
        const LayerProbe& p = probes[it->second.first];
        const std::string& ref_name = it->second.second == 0 ? p.probs : p.consumer_out;
        cmp[m].add(std::to_string(it->second.first) + (it->second.second == 0 ? "/probs" : "/out"), ref.at(ref_name), v);
      };
      engines[m]->run(feeds, pool, &compare);
    }
    bar.step();
  }
  bar.finish();

  std::vector<std::map<std::string, OutputMetrics>> res;
  for (const auto& c : cmp) res.push_back(c.results());
  const char* names[] = {"best", "uncorrected"};
  Json nodes = Json::array();
  for (size_t i = 0; i < probes.size(); ++i) {
    Json n = Json::object();
    n.set("node", probes[i].node);
    n.set("consumer", probes[i].consumer);
    for (int kind = 0; kind < 2; ++kind) {
      Json v = Json::object();
      for (size_t m = 0; m < res.size(); ++m) {
        auto it = res[m].find(std::to_string(i) + (kind == 0 ? "/probs" : "/out"));
        v.set(names[m], it != res[m].end() ? Json(it->second.sqnr_db) : Json());
      }
      n.set(kind == 0 ? "probs_sqnr_db" : "output_sqnr_db", v);
    }
    nodes.push(n);
  }
  per_layer_ = Json::object();
  per_layer_.set("best", best.to_json());
  per_layer_.set("uncorrected", uncorrected ? uncorrected->to_json() : Json());
  per_layer_.set("samples", eval_->size());
  per_layer_.set("nodes", nodes);
  summary_.per_layer_evaluated = true;
}

SweepSummary SweepRun::run() {
  SQ_CHECK(!requested_.empty(), "sweep: no points to evaluate");
  eval_spec_ = parse_data_spec(s_.eval);
  fingerprint_ = model_fingerprint(*model_);
  data_ = Json::object();
  data_.set("calib", s_.calib);
  data_.set("eval", s_.eval);
  data_.set("context", s_.context);
  data_.set("calib_samples", s_.calib_samples);
  data_.set("max_eval", s_.max_eval);
  load_existing();

  std::vector<SweepPoint> pending;
  for (const auto& p : requested_) {
    if (find(p) || std::find(pending.begin(), pending.end(), p) != pending.end()) continue;
    pending.push_back(p);
  }
  summary_.points = requested_.size();
  summary_.skipped = requested_.size() - pending.size();
  if (hooks_.on_start) hooks_.on_start(summary_);

  eval_ = SampleSet::load(eval_spec_, model_->graph, s_.context, s_.max_eval, /*include_tail=*/true);
  SQ_CHECK(eval_->size() > 0, "sweep: no evaluation samples in ", s_.eval);
  // The baseline is saved with the first point, not alone: a sweep that fails before measuring
  // anything (bad calibration data, say) leaves no results.json behind.
  if (baseline_.is_null()) evaluate_baseline();
  // Calibrate every pair before the sweep's progress bar starts, so their bars do not mix.
  for (const auto& p : pending) calibration(pair_of(p));
  const bool row_sums_current = !row_sums_.is_null() && row_sums_.get("softmax_bits") &&
                                row_sums_.at("softmax_bits").as_int() == row_sum_variant().bits &&
                                row_sums_.at("softmax_grid").as_string() == softmax_grid_name(row_sum_variant().grid) &&
                                row_sums_.at("corrections").dump() == row_sum_corrections().dump();
  if (calibrations_.empty() && !row_sums_current) calibration(pair_of(requested_.front()));

  Progress bar("sweep", static_cast<int64_t>(pending.size()), s_.progress);
  for (const auto& p : pending) {
    Json entry = evaluate_point(p);
    results_.emplace_back(p, entry);
    ++summary_.evaluated;
    save();
    if (hooks_.on_point) hooks_.on_point(p, entry);
    bar.step();
  }
  bar.finish();

  SweepPoint best;
  std::optional<SweepPoint> uncorrected;
  if (choose_per_layer(&best, &uncorrected)) {
    const bool current = !per_layer_.is_null() && per_layer_.at("best").dump() == best.to_json().dump() &&
                         per_layer_.at("uncorrected").dump() == (uncorrected ? uncorrected->to_json() : Json()).dump();
    if (!current) evaluate_per_layer(best, uncorrected);
  }
  save();
  return summary_;
}

}  // namespace

SweepSummary run_sweep(std::shared_ptr<const Model> model, const std::vector<SweepPoint>& points,
                       const SweepSettings& settings, const std::string& results_path,
                       const SweepHooks& hooks) {
  SweepRun run(std::move(model), points, settings, results_path, hooks);
  return run.run();
}

}  // namespace sq
