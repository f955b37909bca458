// Why this exists: the pieces of the int8 attention kernel that every ISA variant must compute
// identically (score multiplier, causal key limit, correction row, the order of the softmax sum,
// the epilogue, when the optimized paths apply) live here once, next to the declarations of the
// per-ISA entry points that runtime/kernels/attention_u8.cc dispatches to. Not a public header.
//
// Internal linkage on purpose (see exp_approx.h): included by units with different -m flags.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "runtime/kernels/attention_u8.h"

namespace sq::kernels {

// Per-ISA entry points; scratch as given by the matching *_scratch_bytes, 64-byte aligned.
void attention_u8_ref(const AttentionParams& p, int64_t row_begin, int64_t row_end,
                      void* scratch);
size_t attention_u8_ref_scratch_bytes(int64_t lk, int64_t dv);
#if defined(SQ_HAVE_X86_KERNELS)
void attention_u8_avx2(const AttentionParams& p, int64_t row_begin, int64_t row_end,
                       void* scratch);
size_t attention_u8_avx2_scratch_bytes(int64_t lk, int64_t dv);
int64_t attention_u8_avx2_row_block();
// Same scratch and row block as the AVX2 variant.
void attention_u8_avx512vnni(const AttentionParams& p, int64_t row_begin, int64_t row_end,
                             void* scratch);
#endif
#if defined(SQ_HAVE_ARM_KERNELS)
void attention_u8_neon(const AttentionParams& p, int64_t row_begin, int64_t row_end,
                       void* scratch);
size_t attention_u8_neon_scratch_bytes(int64_t lk, int64_t dv);
int64_t attention_u8_neon_row_block();
// Same scratch and row block as the NEON variant.
void attention_u8_neondot(const AttentionParams& p, int64_t row_begin, int64_t row_end,
                          void* scratch);
#endif

namespace {  // NOLINT(build/namespaces): internal linkage, see above.

constexpr int64_t kAttentionMaxFastD = 256;  // optimized paths keep Q and K tiles of d <= 256

inline size_t attention_align64(size_t bytes) { return (bytes + 63) & ~size_t{63}; }

// Whether an optimized path may run these parameters (otherwise the scalar reference runs).
inline bool attention_fast_path_ok(const AttentionParams& p) {
  return p.p_bits >= 1 && p.p_bits <= 8 && p.p_zero >= 0 && p.p_zero < (1 << p.p_bits) &&
         p.d <= kAttentionMaxFastD;
}

// c = (q_scale * k_scale) * score_scale.
inline float attention_score_multiplier(const AttentionParams& p) {
  const float qk = p.q_scale * p.k_scale;
  return qk * p.score_scale;
}

// Keys j < key_limit(i) may be valid for row i (causal: j <= i + causal_offset), in [0, lk].
inline int64_t attention_key_limit(const AttentionParams& p, int64_t i) {
  if (!p.causal) return p.lk;
  const int64_t lim = i + p.causal_offset + 1;
  return lim < 0 ? 0 : (lim > p.lk ? p.lk : lim);
}

// Correction row of a row with n_valid >= 1 valid keys: floor(log2(n_valid)) clamped to
// [0, correction_rows - 1].
inline int attention_correction_row(int64_t n_valid, int correction_rows) {
  int r = 0;
  while (r < 62 && (int64_t{2} << r) <= n_valid) ++r;
  return r < correction_rows - 1 ? r : correction_rows - 1;
}

// Sum of the 8 softmax lanes (lane l holds the valid e_j with j = l mod 8).
inline float attention_sum_lanes8(const float l[8]) {
  const float a0 = l[0] + l[4], a1 = l[1] + l[5], a2 = l[2] + l[6], a3 = l[3] + l[7];
  return (a0 + a2) + (a1 + a3);
}

// Output value of one column: v_scale * fma(p_mult, float(acc), p_add * float(vsum)).
inline float attention_epilogue(int32_t acc, int32_t vsum, float p_mult, float p_add,
                                float v_scale) {
  const float t = p_add * static_cast<float>(vsum);
  const float u = std::fma(p_mult, static_cast<float>(acc), t);
  return v_scale * u;
}

}  // namespace
}  // namespace sq::kernels
