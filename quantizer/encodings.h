// Why this exists: exports quantization parameters in AIMET's encodings layout (version,
// activation_encodings, param_encodings; entries with bitwidth, dtype, is_symmetric, min, max,
// scale, offset where real = scale * (q + offset)), so other toolchains can consume them. A
// bias-corrected softmax output gets a fractional offset (offset form) or a corrected scale
// (scale form); per-head values give one entry per head, per-length ones one per bucket.
#pragma once

#include <string>
#include <vector>

#include "quantizer/quant_params.h"
#include "quantizer/softmax_correction.h"
#include "runtime/core/json.h"

namespace sq {

class EncodingsBuilder {
 public:
  void add_weight(const std::string& name, int bits, const std::vector<float>& scales);
  void add_activation(const std::string& name, const AffineParams& p);
  void add_softmax(const std::string& name, const SoftmaxGrid& grid, const SoftmaxCorrection& corr);
  Json build() const;

 private:
  Json activations_ = Json::object();
  Json params_ = Json::object();
  Json corrections_ = Json::object();
};

}  // namespace sq
