// Why this exists: the one definition of quantization arithmetic (rounding, clamping, quantize,
// dequantize, requantization, parameter choice). The reference ops (QuantizeLinear,
// DequantizeLinear), the int8 kernels and the quantizer's simulation all call these functions so
// that they agree bit for bit. Header-only, no graph types: scalars in, scalars out.
//
// Conventions (ONNX QuantizeLinear / DequantizeLinear, opset 13):
//   q = saturate(round_half_even(x / scale) + zero_point)      (a division, not x * (1/scale):
//                                                                the two differ on ties)
//   x' = (q - zero_point) * scale                               (computed in float)
// Rounding uses the FPU's current mode, which this project never changes from the IEEE default
// (round to nearest, ties to even); SIMD conversions (cvtps2dq, vcvtnq) round the same way.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace sq {

// Inclusive integer range of a quantized type.
struct QRange {
  int32_t qmin = 0, qmax = 255;
};

// Range of a b-bit grid, signed ([-2^(b-1), 2^(b-1) - 1]) or unsigned ([0, 2^b - 1]); 1 <= b <= 31.
constexpr QRange qrange_bits(int bits, bool is_signed) {
  return is_signed ? QRange{-(int32_t{1} << (bits - 1)), (int32_t{1} << (bits - 1)) - 1}
                   : QRange{0, static_cast<int32_t>((int64_t{1} << bits) - 1)};
}

// Range of a storage type: uint8_t -> [0, 255], int8_t -> [-128, 127], int32_t -> full range.
template <typename Q>
constexpr QRange qrange_of() {
  return QRange{static_cast<int32_t>(std::numeric_limits<Q>::min()),
                static_cast<int32_t>(std::numeric_limits<Q>::max())};
}

// Nearest integer, ties to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2.
inline float round_half_even(float x) { return std::nearbyint(x); }

// Clamps an already rounded value to [qmin, qmax]; NaN maps to `nan_value`.
inline int32_t saturate(double v, int32_t qmin, int32_t qmax, int32_t nan_value) {
  if (std::isnan(v)) return nan_value;
  return static_cast<int32_t>(std::clamp(v, static_cast<double>(qmin), static_cast<double>(qmax)));
}

// saturate(round(x / scale) + zero_point) into [qmin, qmax]. NaN quantizes to the zero point
// (dequantizes to 0); +-inf saturate.
inline int32_t quantize_value(float x, float scale, int32_t zero_point, int32_t qmin,
                              int32_t qmax) {
  const float q = round_half_even(x / scale);
  return saturate(static_cast<double>(q) + zero_point, qmin, qmax, zero_point);
}

// (q - zero_point) * scale, the subtraction exact in 64 bits, the product in float.
inline float dequantize_value(int32_t q, float scale, int32_t zero_point) {
  return static_cast<float>(static_cast<int64_t>(q) - zero_point) * scale;
}

// Quantize then dequantize: what a QDQ pair computes, for simulation and calibration.
inline float fake_quantize(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  return dequantize_value(quantize_value(x, scale, zero_point, qmin, qmax), scale, zero_point);
}

// Requantization of an int32 accumulator with a float multiplier (input_scale * weight_scale /
// output_scale): saturate(round(acc * multiplier) + zero_point). The product is in float, as in
// ONNX Runtime's QLinear kernels.
inline int32_t requantize(int32_t acc, float multiplier, int32_t zero_point, int32_t qmin,
                          int32_t qmax) {
  const float q = round_half_even(static_cast<float>(acc) * multiplier);
  return saturate(static_cast<double>(q) + zero_point, qmin, qmax, zero_point);
}

// A positive real multiplier as a Q31 fixed-point mantissa and a power-of-two exponent:
// multiplier ~= mantissa * 2^(exponent - 31), mantissa in [2^30, 2^31). For integer-only
// requantization (gemmlowp / TFLite style).
struct FixedMultiplier {
  int32_t mantissa = 0;
  int exponent = 0;
};

inline FixedMultiplier fixed_multiplier(double multiplier) {
  FixedMultiplier f;
  if (!(multiplier > 0.0)) return f;
  const double m = std::frexp(multiplier, &f.exponent);  // m in [0.5, 1)
  int64_t q = std::llround(m * static_cast<double>(int64_t{1} << 31));
  if (q == (int64_t{1} << 31)) {
    q /= 2;
    ++f.exponent;
  }
  f.mantissa = static_cast<int32_t>(q);
  return f;
}

// acc * mantissa * 2^(exponent - 31) rounded half to even (like the float path), saturated to
// int32, computed exactly in integers. SIMD kernels may use a cheaper rounding only if their
// tests show they match this on their input range.
inline int32_t multiply_fixed(int32_t acc, FixedMultiplier f) {
  const int shift = 31 - f.exponent;  // total right shift of acc * mantissa
  const __int128 prod = static_cast<__int128>(acc) * f.mantissa;
  __int128 q;
  if (shift <= 0) {
    const __int128 big = prod > 0 ? INT32_MAX : prod < 0 ? INT32_MIN : 0;
    q = shift < -40 ? big : prod * (__int128{1} << -shift);
  } else if (shift >= 100) {
    q = 0;
  } else {
    q = prod >> shift;  // floor
    const __int128 rem = prod - q * (__int128{1} << shift), half = __int128{1} << (shift - 1);
    if (rem > half || (rem == half && (q & 1) != 0)) ++q;
  }
  return static_cast<int32_t>(std::clamp<__int128>(q, INT32_MIN, INT32_MAX));
}

// Integer-only requantization: saturate(multiply_fixed(acc, f) + zero_point).
inline int32_t requantize_fixed(int32_t acc, FixedMultiplier f, int32_t zero_point, int32_t qmin,
                                int32_t qmax) {
  const int64_t v = static_cast<int64_t>(multiply_fixed(acc, f)) + zero_point;
  return static_cast<int32_t>(std::clamp<int64_t>(v, qmin, qmax));
}

// Scale and zero point covering [min(lo, 0), max(hi, 0)] on the grid (0 is always exact), as
// ONNX Runtime's quantization tool chooses them. A degenerate range gives scale 1.
struct QParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

inline QParams choose_qparams_asymmetric(float lo, float hi, QRange r) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  QParams p;
  if (!(hi > lo)) return QParams{1.0f, r.qmin < 0 && r.qmax > 0 ? 0 : r.qmin};
  p.scale = (hi - lo) / static_cast<float>(r.qmax - r.qmin);
  p.zero_point =
      saturate(round_half_even(static_cast<float>(r.qmin) - lo / p.scale), r.qmin, r.qmax, r.qmin);
  return p;
}

// Symmetric: zero point at the middle of the range (0 for signed, 2^(b-1) for unsigned), scale
// from max(|lo|, |hi|).
inline QParams choose_qparams_symmetric(float lo, float hi, QRange r) {
  const float absmax = std::max(std::fabs(lo), std::fabs(hi));
  QParams p;
  p.zero_point = r.qmin < 0 ? 0 : (r.qmin + r.qmax + 1) / 2;
  const int32_t half_span = std::min(r.qmax - p.zero_point, p.zero_point - r.qmin);
  if (!(absmax > 0.0f) || half_span <= 0) return p;
  p.scale = absmax / static_cast<float>(half_span);
  return p;
}

}  // namespace sq
