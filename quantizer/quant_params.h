// Why this exists: turns calibrated ranges into quantizer parameters (scale, zero point) for
// asymmetric activations, symmetric weights and the softmax output grids, so every exporter and
// the correction folding agree on them.
#pragma once

#include <cstdint>

#include "calib/observers.h"
#include "calib/softmax_stats.h"
#include "quantizer/config.h"

namespace sq {

struct AffineParams {
  float scale = 1;
  int32_t zero_point = 0;
  int bits = 8;
  bool is_signed = false;
  int32_t qmin() const { return is_signed ? -(1 << (bits - 1)) : 0; }
  int32_t qmax() const { return is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1; }
};

// Unsigned asymmetric b-bit parameters covering range (which contains 0).
AffineParams asymmetric_params(Range range, int bits);
// Signed symmetric b-bit scale for a maximum magnitude: levels -(2^(b-1)-1) .. 2^(b-1)-1.
float symmetric_scale(float max_abs, int bits);
// The softmax output grid: fixed 1/2^b, unit 1/(2^b-1), or calibrated max/(2^b-1).
SoftmaxGrid softmax_grid(SoftmaxGridKind kind, int bits, float calibrated_max);

}  // namespace sq
