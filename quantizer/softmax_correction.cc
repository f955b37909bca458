#include "quantizer/softmax_correction.h"

#include <cmath>

#include "calib/observers.h"
#include "quantizer/qdq_emit.h"

namespace sq {

SoftmaxCorrection make_softmax_correction(const SoftmaxStats& stats, BcGranularity g, BcForm form) {
  SoftmaxCorrection c;
  c.form = form;
  c.rank = stats.rank();
  c.head_axis = c.rank == 4 ? 1 : (c.rank == 3 ? 0 : -1);
  if (g == BcGranularity::kNone || stats.empty()) return c;
  if (g == BcGranularity::kHead && c.head_axis < 0) g = BcGranularity::kTensor;
  c.granularity = g;
  c.values = stats.corrections(g, form);
  return c;
}

namespace {

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// Per-head constant shaped to broadcast against the Softmax output: [1,H,1,1] or [H,1,1].
Tensor per_head_tensor(const SoftmaxCorrection& c, const std::vector<float>& values) {
  Shape shape(static_cast<size_t>(c.rank), 1);
  shape[static_cast<size_t>(c.head_axis)] = static_cast<int64_t>(values.size());
  return Tensor::from_vector<float>(shape, values);
}

// valid[..., j] = 1 where the key is not masked (score above the mask sentinel), else 0.
std::string emit_valid_mask(GraphEditor& ed, const std::string& scores, const std::string& hint) {
  std::string gt = ed.add_node("Greater", {scores, ed.add_scalar(hint + "_mask_threshold", -kMaskSentinel)}, hint);
  return ed.add_node("Cast", {gt}, hint, {{"to", Attribute::of_int(1)}});
}

// Per-row correction from a per-length-bucket table: table[floor(log2(L))], shape [..., 1].
std::string emit_length_lookup(GraphEditor& ed, const std::string& valid, const std::vector<float>& table,
                               const std::string& hint) {
  std::string axes = ed.add_constant(hint + "_last_axis", Tensor::from_vector<int64_t>({1}, {-1}));
  std::string len = ed.add_node("ReduceSum", {valid, axes}, hint, {{"keepdims", Attribute::of_int(1)}});
  // bucket = #{k >= 1 : L >= 2^k} = floor(log2(L)), computed exactly by comparisons.
  std::vector<float> thresholds;
  for (size_t k = 1; k < table.size(); ++k) thresholds.push_back(std::ldexp(1.0f, static_cast<int>(k)));
  std::string th = ed.add_constant(hint + "_length_thresholds",
                                   Tensor::from_vector<float>({static_cast<int64_t>(thresholds.size())}, thresholds));
  std::string ge = ed.add_node("Cast", {ed.add_node("GreaterOrEqual", {len, th}, hint)}, hint,
                               {{"to", Attribute::of_int(1)}});
  std::string bucket = ed.add_node("ReduceSum", {ge, axes}, hint, {{"keepdims", Attribute::of_int(1)}});
  bucket = ed.add_node("Cast", {bucket}, hint, {{"to", Attribute::of_int(7)}});
  std::string t = ed.add_constant(hint + "_by_length", Tensor::from_vector<float>({static_cast<int64_t>(table.size())}, table));
  return ed.add_node("Gather", {t, bucket}, hint, {{"axis", Attribute::of_int(0)}});
}

}  // namespace

std::string emit_softmax_quantizer(GraphEditor& ed, const SoftmaxQuantPlan& plan,
                                   const SoftmaxGrid& grid, const SoftmaxCorrection& corr) {
  AffineParams p;
  p.bits = grid.bits;
  p.scale = grid.scale;
  p.zero_point = grid.zero_point;
  const std::string hint = plan.output + "_softmax";
  const std::vector<float> values = to_float(corr.values);
  if (corr.granularity == BcGranularity::kNone) return emit_activation_qdq(ed, plan.output, p, hint);

  if (corr.form == BcForm::kScale) {
    if (corr.granularity == BcGranularity::kTensor) {
      return emit_activation_qdq(ed, plan.output, p, hint, {grid.scale * values[0]});
    }
    if (corr.granularity == BcGranularity::kHead) {
      std::vector<float> scales;
      for (float f : values) scales.push_back(grid.scale * f);
      return emit_activation_qdq(ed, plan.output, p, hint, scales, corr.head_axis, corr.rank);
    }
    std::string dq = emit_activation_qdq(ed, plan.output, p, hint);
    std::string valid = emit_valid_mask(ed, plan.scores, hint);
    return ed.add_node("Mul", {dq, emit_length_lookup(ed, valid, values, hint)}, hint);
  }

  // Offset form: + beta on valid keys only.
  std::string dq = emit_activation_qdq(ed, plan.output, p, hint);
  std::string valid = emit_valid_mask(ed, plan.scores, hint);
  std::string beta;
  if (corr.granularity == BcGranularity::kTensor) beta = ed.add_scalar(hint + "_beta", values[0]);
  else if (corr.granularity == BcGranularity::kHead) beta = ed.add_constant(hint + "_beta", per_head_tensor(corr, values));
  else beta = emit_length_lookup(ed, valid, values, hint);
  return ed.add_node("Add", {dq, ed.add_node("Mul", {valid, beta}, hint)}, hint);
}

}  // namespace sq
