// AVX2 QuantizeLinear to uint8, 32 values per step; the tail uses the scalar definition.
#include <immintrin.h>

#include <cstdint>

#include "runtime/kernels/quant_math.h"

namespace sq::kernels {

namespace {

// round_half_even(x / scale) + zero_point saturated to [0, 255]; NaN -> zero_point.
inline __m256i quantize8(__m256 x, __m256 scale, __m256 zero, __m256 lo, __m256 hi) {
  __m256 q = _mm256_round_ps(_mm256_div_ps(x, scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  q = _mm256_add_ps(q, zero);
  const __m256 nan = _mm256_cmp_ps(q, q, _CMP_UNORD_Q);
  q = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
  q = _mm256_blendv_ps(q, zero, nan);
  return _mm256_cvtps_epi32(q);
}

}  // namespace

void quantize_f32_u8_avx2(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* y) {
  const __m256 s = _mm256_set1_ps(scale), z = _mm256_set1_ps(static_cast<float>(zero_point));
  const __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(255.0f);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i a = quantize8(_mm256_loadu_ps(x + i), s, z, lo, hi);
    const __m256i b = quantize8(_mm256_loadu_ps(x + i + 8), s, z, lo, hi);
    const __m256i c = quantize8(_mm256_loadu_ps(x + i + 16), s, z, lo, hi);
    const __m256i d = quantize8(_mm256_loadu_ps(x + i + 24), s, z, lo, hi);
    // Values are in [0, 255]: the saturating packs are exact; they interleave 128-bit lanes,
    // which the final permute undoes.
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(ab, cd), order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), bytes);
  }
  for (; i < n; ++i) y[i] = static_cast<uint8_t>(quantize_value(x[i], scale, zero_point, 0, 255));
}

}  // namespace sq::kernels
