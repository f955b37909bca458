// Why this exists: the softmax inside the int8 attention kernel needs exp() on whole vectors, and
// every ISA variant must agree bit for bit with the scalar reference. std::exp cannot be
// vectorized identically, so this header defines one polynomial exp (Cephes expf coefficients,
// Cody-Waite range reduction) as a scalar function and as SIMD functions that perform the same
// operations in the same order with the same fused multiply-adds. Accuracy: within a few ulp of
// std::exp on [-88, 0] (tests/attention_u8_test.cc checks it); inputs are clamped to [-110, 88],
// NaN maps to exp(-110) = 0.
//
// The functions have internal linkage on purpose: this header is included by translation units
// compiled with different -m flags, and a shared (COMDAT) copy of an inline function could be
// taken from an AVX-512 unit and called on a CPU without AVX-512.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace sq::kernels {
namespace {  // NOLINT(build/namespaces): internal linkage, see above.

namespace exp_approx_const {
constexpr float kMinInput = -110.0f;  // exp(-110) rounds to +0
constexpr float kMaxInput = 88.0f;    // below FLT_MAX
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;      // ln 2 = kLn2Hi + kLn2Lo, kLn2Hi has 9 bits
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f;
constexpr float kP1 = 1.3981999507e-3f;
constexpr float kP2 = 8.3334519073e-3f;
constexpr float kP3 = 4.1665795894e-2f;
constexpr float kP4 = 1.6666665459e-1f;
constexpr float kP5 = 5.0000001201e-1f;
}  // namespace exp_approx_const

inline float exp_approx_bits_to_float(int32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// The definition. Every step is one IEEE operation (fma: a single rounding):
//   x = min(max(x, -110), 88)        (max(NaN, -110) = -110, as maxps does)
//   n = nearbyint(x * log2e)
//   r = fma(n, -kLn2Hi, x); r = fma(n, -kLn2Lo, r)
//   p = kP0; p = fma(p, r, kP1) ... fma(p, r, kP5)
//   y = fma(p, r * r, r) + 1
//   y = (y * 2^h) * 2^(n - h), h = floor(n / 2)   (two steps so that results below 2^-126
//                                                  round once, gradually, to subnormals)
inline float exp_approx(float x) {
  using namespace exp_approx_const;  // NOLINT(build/namespaces)
  x = x > kMinInput ? x : kMinInput;
  x = x < kMaxInput ? x : kMaxInput;
  const float n = std::nearbyint(x * kLog2e);
  float r = std::fma(n, -kLn2Hi, x);
  r = std::fma(n, -kLn2Lo, r);
  float p = kP0;
  p = std::fma(p, r, kP1);
  p = std::fma(p, r, kP2);
  p = std::fma(p, r, kP3);
  p = std::fma(p, r, kP4);
  p = std::fma(p, r, kP5);
  const float z = r * r;
  float y = std::fma(p, z, r);
  y = y + 1.0f;
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t h = ni >> 1;  // floor(n / 2)
  y = y * exp_approx_bits_to_float((h + 127) << 23);
  y = y * exp_approx_bits_to_float((ni - h + 127) << 23);
  return y;
}

#if defined(__AVX2__) && defined(__FMA__)
inline __m256 exp_approx_avx2(__m256 x) {
  using namespace exp_approx_const;  // NOLINT(build/namespaces)
  x = _mm256_max_ps(x, _mm256_set1_ps(kMinInput));
  x = _mm256_min_ps(x, _mm256_set1_ps(kMaxInput));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Hi), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
  const __m256 z = _mm256_mul_ps(r, r);
  __m256 y = _mm256_fmadd_ps(p, z, r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i h = _mm256_srai_epi32(ni, 1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}
#endif

#if defined(__AVX512F__)
inline __m512 exp_approx_avx512(__m512 x) {
  using namespace exp_approx_const;  // NOLINT(build/namespaces)
  x = _mm512_max_ps(x, _mm512_set1_ps(kMinInput));
  x = _mm512_min_ps(x, _mm512_set1_ps(kMaxInput));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Hi), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kP0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
  const __m512 z = _mm512_mul_ps(r, r);
  __m512 y = _mm512_fmadd_ps(p, z, r);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  const __m512i ni = _mm512_cvtps_epi32(n);
  const __m512i h = _mm512_srai_epi32(ni, 1);
  const __m512i bias = _mm512_set1_epi32(127);
  const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(h, bias), 23));
  const __m512 s2 = _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(ni, h), bias), 23));
  return _mm512_mul_ps(_mm512_mul_ps(y, s1), s2);
}
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
inline float32x4_t exp_approx_neon(float32x4_t x) {
  using namespace exp_approx_const;  // NOLINT(build/namespaces)
  // vmaxq_f32 propagates NaN, unlike maxps; compare-and-select reproduces the scalar form.
  x = vbslq_f32(vcgtq_f32(x, vdupq_n_f32(kMinInput)), x, vdupq_n_f32(kMinInput));
  x = vbslq_f32(vcltq_f32(x, vdupq_n_f32(kMaxInput)), x, vdupq_n_f32(kMaxInput));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(kLog2e)));
  // vfmaq_f32(a, b, c) = a + b * c with one rounding.
  float32x4_t r = vfmaq_f32(x, n, vdupq_n_f32(-kLn2Hi));
  r = vfmaq_f32(r, n, vdupq_n_f32(-kLn2Lo));
  float32x4_t p = vdupq_n_f32(kP0);
  p = vfmaq_f32(vdupq_n_f32(kP1), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP2), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP3), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP4), p, r);
  p = vfmaq_f32(vdupq_n_f32(kP5), p, r);
  const float32x4_t z = vmulq_f32(r, r);
  float32x4_t y = vfmaq_f32(r, p, z);
  y = vaddq_f32(y, vdupq_n_f32(1.0f));
  const int32x4_t ni = vcvtq_s32_f32(n);  // n is integral: truncation is exact
  const int32x4_t h = vshrq_n_s32(ni, 1);
  const int32x4_t bias = vdupq_n_s32(127);
  const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(h, bias), 23));
  const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vsubq_s32(ni, h), bias), 23));
  return vmulq_f32(vmulq_f32(y, s1), s2);
}
#endif

}  // namespace
}  // namespace sq::kernels
