#include "quantizer/encodings.h"

#include <cmath>

namespace sq {

namespace {

// One AIMET entry: real = scale * (q + offset), q in [0, 2^b - 1] (or signed for symmetric).
Json entry(int bits, bool symmetric, double scale, double offset) {
  const double qmin = symmetric ? -(std::ldexp(1.0, bits - 1) - 1) : 0;
  const double qmax = symmetric ? std::ldexp(1.0, bits - 1) - 1 : std::ldexp(1.0, bits) - 1;
  Json e = Json::object();
  e.set("bitwidth", bits);
  e.set("dtype", "int");
  e.set("is_symmetric", symmetric ? "True" : "False");
  e.set("min", scale * (qmin + offset));
  e.set("max", scale * (qmax + offset));
  e.set("offset", offset);
  e.set("scale", scale);
  return e;
}

}  // namespace

void EncodingsBuilder::add_weight(const std::string& name, int bits, const std::vector<float>& scales) {
  Json list = Json::array();
  for (float s : scales) list.push(entry(bits, true, s, 0));
  params_.set(name, list);
}

void EncodingsBuilder::add_activation(const std::string& name, const AffineParams& p) {
  Json list = Json::array();
  list.push(entry(p.bits, false, p.scale, -static_cast<double>(p.zero_point)));
  activations_.set(name, list);
}

void EncodingsBuilder::add_softmax(const std::string& name, const SoftmaxGrid& grid,
                                   const SoftmaxCorrection& corr) {
  Json list = Json::array();
  const double z = grid.zero_point;
  if (corr.granularity == BcGranularity::kNone) {
    list.push(entry(grid.bits, false, grid.scale, -z));
  } else {
    for (double v : corr.values) {
      Json e = corr.form == BcForm::kOffset ? entry(grid.bits, false, grid.scale, -z + v / grid.scale)
                                            : entry(grid.bits, false, grid.scale * v, -z);
      list.push(e);
    }
  }
  activations_.set(name, list);
  if (corr.granularity != BcGranularity::kNone) {
    Json info = Json::object();
    info.set("granularity", bc_granularity_name(corr.granularity));
    info.set("form", bc_form_name(corr.form));
    info.set("masked_keys", "exactly 0 (correction applies to valid keys only)");
    if (corr.granularity == BcGranularity::kHead) info.set("axis", corr.head_axis);
    if (corr.granularity == BcGranularity::kLength) info.set("buckets", "entry k: rows with 2^k <= valid keys < 2^(k+1)");
    Json values = Json::array();
    for (double v : corr.values) values.push(v);
    info.set(corr.form == BcForm::kOffset ? "beta" : "factor", values);
    corrections_.set(name, info);
  }
}

Json EncodingsBuilder::build() const {
  Json j = Json::object();
  j.set("version", "0.6.1");
  j.set("activation_encodings", activations_);
  j.set("param_encodings", params_);
  if (corrections_.size() > 0) j.set("softquant_softmax_bias_correction", corrections_);
  return j;
}

}  // namespace sq
