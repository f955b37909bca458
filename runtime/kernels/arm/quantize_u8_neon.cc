// NEON QuantizeLinear to uint8, 16 values per step; the tail uses the scalar definition
// (quant_math.h's quantize_value). IEEE division and vrndnq (round half to even) are exactly the
// scalar operations, so every value matches.
#include <arm_neon.h>

#include <cstdint>

#include "runtime/kernels/quant_math.h"

namespace sq::kernels {

namespace {

// round_half_even(x / scale) + zero_point saturated to [0, 255]; NaN -> zero_point.
inline uint32x4_t quantize4(float32x4_t x, float32x4_t scale, float32x4_t zero) {
  float32x4_t q = vaddq_f32(vrndnq_f32(vdivq_f32(x, scale)), zero);
  const uint32x4_t is_num = vceqq_f32(q, q);
  // vmaxq/vminq propagate NaN; NaN lanes are replaced by the zero point below.
  q = vminq_f32(vmaxq_f32(q, vdupq_n_f32(0.0f)), vdupq_n_f32(255.0f));
  q = vbslq_f32(is_num, q, zero);
  return vcvtq_u32_f32(q);  // integral in [0, 255]: exact
}

}  // namespace

void quantize_f32_u8_neon(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* y) {
  const float32x4_t s = vdupq_n_f32(scale), z = vdupq_n_f32(static_cast<float>(zero_point));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint16x8_t ab = vcombine_u16(vmovn_u32(quantize4(vld1q_f32(x + i), s, z)),
                                       vmovn_u32(quantize4(vld1q_f32(x + i + 4), s, z)));
    const uint16x8_t cd = vcombine_u16(vmovn_u32(quantize4(vld1q_f32(x + i + 8), s, z)),
                                       vmovn_u32(quantize4(vld1q_f32(x + i + 12), s, z)));
    vst1q_u8(y + i, vcombine_u8(vmovn_u16(ab), vmovn_u16(cd)));
  }
  for (; i < n; ++i) y[i] = static_cast<uint8_t>(quantize_value(x[i], scale, zero_point, 0, 255));
}

}  // namespace sq::kernels
