#include "quantizer/quant_params.h"

#include <algorithm>
#include <cmath>

namespace sq {

AffineParams asymmetric_params(Range range, int bits) {
  AffineParams p;
  p.bits = bits;
  const double levels = std::ldexp(1.0, bits) - 1;
  double lo = std::min(0.0, static_cast<double>(range.min));
  double hi = std::max(0.0, static_cast<double>(range.max));
  if (hi - lo < 1e-12) hi = lo + 1e-6;  // a constant-zero tensor still needs a valid grid
  p.scale = static_cast<float>((hi - lo) / levels);
  p.zero_point = static_cast<int32_t>(std::clamp(std::nearbyint(-lo / p.scale), 0.0, levels));
  return p;
}

float symmetric_scale(float max_abs, int bits) {
  const float levels = static_cast<float>((1 << (bits - 1)) - 1);
  return max_abs > 0 ? max_abs / levels : 1e-8f;
}

SoftmaxGrid softmax_grid(SoftmaxGridKind kind, int bits, float calibrated_max) {
  SoftmaxGrid g;
  g.bits = bits;
  g.zero_point = 0;
  const double levels = std::ldexp(1.0, bits) - 1;
  switch (kind) {
    case SoftmaxGridKind::kFixed: g.scale = static_cast<float>(std::ldexp(1.0, -bits)); break;
    case SoftmaxGridKind::kUnit: g.scale = static_cast<float>(1.0 / levels); break;
    case SoftmaxGridKind::kCalibrated: {
      double m = std::clamp(static_cast<double>(calibrated_max), 1e-6, 1.0);
      g.scale = static_cast<float>(m / levels);
      break;
    }
  }
  return g;
}

}  // namespace sq
