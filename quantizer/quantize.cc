#include "quantizer/quantize.h"

#include <algorithm>

#include "quantizer/encodings.h"
#include "quantizer/qdq_emit.h"
#include "quantizer/quant_params.h"

namespace sq {

Calibration calibrate_model(std::shared_ptr<const Model> model, const QuantConfig& config,
                            const SampleSet& data, int threads) {
  config.validate();
  Calibration cal;
  cal.plan = plan_qdq(*model, config);
  ReferenceEngine engine(model);

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
  const bool calibrated_grid = config.softmax_grid == SoftmaxGridKind::kCalibrated;
  if (calibrated_grid) {
    for (const auto& s : cal.plan.softmaxes) {
      cp.range_tensors.insert(s.output);
      ObserverOptions o = cp.observer;
      o.bits = s.bits;
      cp.observer_overrides[s.output] = o;
    }
  } else {
    for (const auto& s : cal.plan.softmaxes) cp.softmax_grids[s.node] = softmax_grid(config.softmax_grid, s.bits, 1.0f);
  }
  cal.result = calibrate(engine, data, cp, threads, calibrated_grid ? "calibrating ranges" : "calibrating");
  if (calibrated_grid && !cal.plan.softmaxes.empty()) {
    CalibrationPlan second;
    for (const auto& s : cal.plan.softmaxes) {
      auto it = cal.result.ranges.find(s.output);
      float max = it != cal.result.ranges.end() ? it->second.max : 1.0f;
      second.softmax_grids[s.node] = softmax_grid(config.softmax_grid, s.bits, max);
    }
    CalibrationResult r2 = calibrate(engine, data, second, threads, "calibrating softmax");
    cal.result.softmax = std::move(r2.softmax);
    cp.softmax_grids = second.softmax_grids;
  }
  cal.softmax_grids = cp.softmax_grids;
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
    auto it = cal.result.ranges.find(a.source);
    if (it == cal.result.ranges.end()) continue;  // never observed (unused branch): keep float
    AffineParams p = asymmetric_params(it->second, a.bits);
    std::string dq = emit_activation_qdq(ed, a.source, p, a.source);
    enc.add_activation(a.source, p);
    for (const auto& u : a.uses) rewires.emplace_back(u, dq);
  }
  for (const auto& s : plan.softmaxes) {
    auto grid_it = cal.softmax_grids.find(s.node);
    auto stats_it = cal.result.softmax.find(s.node);
    if (grid_it == cal.softmax_grids.end() || stats_it == cal.result.softmax.end()) continue;
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
