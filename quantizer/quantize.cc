#include "quantizer/quantize.h"

#include <algorithm>
#include <set>

#include "quantizer/encodings.h"
#include "quantizer/qdq_emit.h"
#include "quantizer/quant_params.h"

namespace sq {

Calibration calibrate_model(std::shared_ptr<const Model> model, const QuantConfig& config,
                            const SampleSet& data, int threads, std::vector<SoftmaxVariant> variants) {
  config.validate();
  Calibration cal;
  cal.plan = plan_qdq(*model, config);
  ReferenceEngine engine(model);
  if (variants.empty()) {
    std::set<SoftmaxVariant> needed;
    for (const auto& s : cal.plan.softmaxes) needed.insert({s.bits, config.softmax_grid});
    variants.assign(needed.begin(), needed.end());
  }
  bool any_calibrated = false;
  for (const auto& v : variants) any_calibrated = any_calibrated || v.grid == SoftmaxGridKind::kCalibrated;

  // Pass 1: activation ranges (and softmax output ranges for calibrated grids); softmax
  // statistics for fixed and unit grids, whose scales are known in advance.
  CalibrationPlan cp;
  cp.observer.kind = config.act_observer;
  cp.observer.bits = config.act_bits;
  for (const auto& a : cal.plan.activations) {
    cp.range_tensors.insert(a.source);
    if (a.bits != config.act_bits) {
      ObserverOptions o = cp.observer;
      o.bits = a.bits;
      cp.observer_overrides[a.source] = o;
    }
  }
  auto stats_key = [](const SoftmaxVariant& v, const std::string& node) {
    return node + "@" + std::to_string(v.bits) + "/" + softmax_grid_name(v.grid);
  };
  for (const auto& s : cal.plan.softmaxes) {
    if (any_calibrated) cp.range_tensors.insert(s.output);
    for (const auto& v : variants) {
      if (v.grid == SoftmaxGridKind::kCalibrated) continue;
      SoftmaxGrid g = softmax_grid(v.grid, v.bits, 1.0f);
      cp.softmax[stats_key(v, s.node)] = {s.node, g};
      cal.grids[v][s.node] = g;
    }
  }
  auto collect = [&](CalibrationResult& r) {
    for (const auto& s : cal.plan.softmaxes) {
      for (const auto& v : variants) {
        auto it = r.softmax.find(stats_key(v, s.node));
        if (it != r.softmax.end()) cal.softmax[v][s.node] = std::move(it->second);
      }
    }
  };
  CalibrationResult r1 = calibrate(engine, data, cp, threads, any_calibrated ? "calibrating ranges" : "calibrating");
  cal.ranges = std::move(r1.ranges);
  cal.samples = r1.samples;
  collect(r1);

  // Pass 2 (calibrated grids only): softmax statistics on grids scaled to the observed maximum.
  if (any_calibrated && !cal.plan.softmaxes.empty()) {
    CalibrationPlan second;
    for (const auto& s : cal.plan.softmaxes) {
      auto it = cal.ranges.find(s.output);
      float max = it != cal.ranges.end() ? it->second.max : 1.0f;
      for (const auto& v : variants) {
        if (v.grid != SoftmaxGridKind::kCalibrated) continue;
        SoftmaxGrid g = softmax_grid(v.grid, v.bits, max);
        second.softmax[stats_key(v, s.node)] = {s.node, g};
        cal.grids[v][s.node] = g;
      }
    }
    CalibrationResult r2 = calibrate(engine, data, second, threads, "calibrating softmax");
    collect(r2);
  }
  return cal;
}

QuantizeResult build_quantized_model(const Model& model, const QuantConfig& config,
                                     const Calibration& cal) {
  QuantizeResult out;
  out.model = model;
  GraphEditor ed(out.model);
  EncodingsBuilder enc;
  const QdqPlan& plan = cal.plan;

  // Rewiring uses node indices of the original graph, so collect renames first and apply them
  // before the editor appends (and finally re-sorts) nodes.
  std::vector<std::pair<InputRef, std::string>> rewires;

  for (const auto& w : plan.weights) {
    std::vector<float> scales = emit_weight_qdq(ed, w.initializer, w.bits, w.axis);
    enc.add_weight(w.initializer, w.bits, scales);
  }
  for (const auto& a : plan.activations) {
    auto it = cal.ranges.find(a.source);
    if (it == cal.ranges.end()) continue;  // never observed (unused branch): keep float
    AffineParams p = asymmetric_params(it->second, a.bits);
    std::string dq = emit_activation_qdq(ed, a.source, p, a.source);
    enc.add_activation(a.source, p);
    for (const auto& u : a.uses) rewires.emplace_back(u, dq);
  }
  for (const auto& s : plan.softmaxes) {
    const SoftmaxVariant variant{s.bits, config.softmax_grid};
    auto grids = cal.grids.find(variant);
    auto variant_stats = cal.softmax.find(variant);
    SQ_CHECK(grids != cal.grids.end() && variant_stats != cal.softmax.end(), "softmax ", s.bits, "-bit ",
             softmax_grid_name(config.softmax_grid), " grid was not calibrated");
    auto grid_it = grids->second.find(s.node);
    auto stats_it = variant_stats->second.find(s.node);
    if (grid_it == grids->second.end() || stats_it == variant_stats->second.end()) continue;  // never ran
    const SoftmaxStats& stats = stats_it->second;
    SoftmaxCorrection corr = make_softmax_correction(stats, config.softmax_bc, config.softmax_bc_form);
    std::string out_name = emit_softmax_quantizer(ed, s, grid_it->second, corr);
    enc.add_softmax(s.output, grid_it->second, corr);
    for (const auto& u : s.uses) rewires.emplace_back(u, out_name);
    SoftmaxReport r;
    r.node = s.node;
    r.grid = grid_it->second;
    r.correction = corr;
    SoftmaxCell t = stats.total();
    r.rows = t.rows;
    r.mean_valid_keys = t.rows > 0 ? t.sum_len / t.rows : 0;
    r.deficit_before = stats.deficit_before();
    r.deficit_after = stats.deficit_after(corr.granularity, corr.form);
    r.by_length = stats.row_sum_by_length(corr.granularity, corr.form);
    out.softmax.push_back(std::move(r));
  }
  for (const auto& [ref, name] : rewires) out.model.graph.nodes[ref.node].inputs[ref.input] = name;
  ed.finish();
  out.model.metadata["softquant.config"] = config.summary();
  out.encodings = enc.build();
  out.quantized_nodes = plan.quantized_nodes.size();
  out.weights = plan.weights.size();
  out.activations = plan.activations.size();
  return out;
}

}  // namespace sq
