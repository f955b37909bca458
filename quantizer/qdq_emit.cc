#include "quantizer/qdq_emit.h"

#include <algorithm>
#include <cmath>

#include "runtime/kernels/quant_math.h"

namespace sq {

std::string emit_activation_qdq(GraphEditor& ed, const std::string& x, const AffineParams& p,
                                const std::string& hint, const std::vector<float>& dq_scales,
                                int dq_axis, int rank) {
  if (p.bits <= 8 && !p.is_signed) {
    std::string in = x;
    if (p.bits < 8) {
      float lo = static_cast<float>(p.qmin() - p.zero_point) * p.scale;
      float hi = static_cast<float>(p.qmax() - p.zero_point) * p.scale;
      in = ed.add_node("Clip", {x, ed.add_scalar(hint + "_clip_min", lo), ed.add_scalar(hint + "_clip_max", hi)}, hint);
    }
    std::string scale = ed.add_scalar(hint + "_scale", p.scale);
    std::string zp = ed.add_constant(hint + "_zero_point",
                                     Tensor::from_vector<uint8_t>({}, {static_cast<uint8_t>(p.zero_point)}));
    std::string q = ed.add_node("QuantizeLinear", {in, scale, zp}, hint);
    if (dq_scales.empty()) return ed.add_node("DequantizeLinear", {q, scale, zp}, hint);
    if (dq_scales.size() == 1) {
      return ed.add_node("DequantizeLinear", {q, ed.add_scalar(hint + "_dq_scale", dq_scales[0]), zp}, hint);
    }
    int64_t n = static_cast<int64_t>(dq_scales.size());
    std::string s = ed.add_constant(hint + "_dq_scale", Tensor::from_vector<float>({n}, dq_scales));
    std::string z = ed.add_constant(hint + "_dq_zero_point",
        Tensor::from_vector<uint8_t>({n}, std::vector<uint8_t>(static_cast<size_t>(n), static_cast<uint8_t>(p.zero_point))));
    return ed.add_node("DequantizeLinear", {q, s, z}, hint, {{"axis", Attribute::of_int(dq_axis)}});
  }
  // Wide grids: the same arithmetic in float ops (round half to even, saturate).
  std::string scale = ed.add_scalar(hint + "_scale", p.scale);
  std::string zp = ed.add_scalar(hint + "_zero_point", static_cast<float>(p.zero_point));
  std::string q = ed.add_node("Div", {x, scale}, hint);
  q = ed.add_node("Round", {q}, hint);
  q = ed.add_node("Add", {q, zp}, hint);
  q = ed.add_node("Clip", {q, ed.add_scalar(hint + "_qmin", static_cast<float>(p.qmin())),
                           ed.add_scalar(hint + "_qmax", static_cast<float>(p.qmax()))}, hint);
  q = ed.add_node("Sub", {q, zp}, hint);
  std::string out_scale = scale;
  if (dq_scales.size() == 1) {
    out_scale = ed.add_scalar(hint + "_dq_scale", dq_scales[0]);
  } else if (dq_scales.size() > 1) {
    Shape shape(static_cast<size_t>(rank), 1);
    shape[static_cast<size_t>(dq_axis)] = static_cast<int64_t>(dq_scales.size());
    out_scale = ed.add_constant(hint + "_dq_scale", Tensor::from_vector<float>(shape, dq_scales));
  }
  return ed.add_node("Mul", {q, out_scale}, hint);
}

std::vector<float> emit_weight_qdq(GraphEditor& ed, const std::string& name, int bits, int axis) {
  Graph& g = ed.model().graph;
  Tensor w = g.initializers.at(name);
  const Shape& shape = w.shape();
  const int64_t channels = axis >= 0 ? shape[static_cast<size_t>(axis)] : 1;
  int64_t inner = 1;
  if (axis >= 0) for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  const float* src = w.data<float>();
  const int64_t n = w.numel();
  std::vector<float> max_abs(static_cast<size_t>(channels), 0.f);
  for (int64_t i = 0; i < n; ++i) {
    int64_t c = axis >= 0 ? (i / inner) % channels : 0;
    max_abs[static_cast<size_t>(c)] = std::max(max_abs[static_cast<size_t>(c)], std::fabs(src[i]));
  }
  std::vector<float> scales(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) scales[static_cast<size_t>(c)] = symmetric_scale(max_abs[static_cast<size_t>(c)], bits);
  const int32_t qmax = (1 << (bits - 1)) - 1;
  Tensor q(DType::kInt8, shape);
  int8_t* dst = q.data<int8_t>();
  for (int64_t i = 0; i < n; ++i) {
    int64_t c = axis >= 0 ? (i / inner) % channels : 0;
    dst[i] = static_cast<int8_t>(quantize_value(src[i], scales[static_cast<size_t>(c)], 0, -qmax, qmax));
  }
  g.initializers.erase(name);
  std::string qname = ed.add_constant(name + "_quantized", std::move(q));
  std::string sname, zname;
  std::map<std::string, Attribute> attrs;
  if (axis >= 0) {
    sname = ed.add_constant(name + "_scale", Tensor::from_vector<float>({channels}, scales));
    zname = ed.add_constant(name + "_zero_point", Tensor::zeros(DType::kInt8, {channels}));
    attrs["axis"] = Attribute::of_int(axis);
  } else {
    sname = ed.add_scalar(name + "_scale", scales[0]);
    zname = ed.add_constant(name + "_zero_point", Tensor::zeros(DType::kInt8, {}));
  }
  Node dq;
  dq.name = ed.unique_name("softquant/" + name + "/DequantizeLinear");
  dq.op_type = "DequantizeLinear";
  dq.inputs = {qname, sname, zname};
  dq.outputs = {name};  // consumers keep reading the weight's original name
  dq.attrs = attrs;
  g.nodes.push_back(dq);
  return scales;
}

}  // namespace sq
