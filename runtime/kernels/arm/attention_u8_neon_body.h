// Why this exists: the body of the NEON int8 attention kernel, shared by the NEON and the NEON
// dot-product translation units so that both compute exactly the same operations; bit-exact with
// the scalar reference (runtime/kernels/ref/attention_u8_ref.cc; the float evaluation order is
// documented in attention_u8.h and reproduced here operation for operation). The including file
// defines SQ_ATTN_NEON_ENTRY (the entry point's name) and SQ_ATTN_NEON_DOTPROD (0 or 1).
//
// Per block of 4 query rows:
//   1. Integer Q·Kᵀ, exact int32. Plain NEON: Q - q_zero of the 4 rows is widened to int16 once,
//      each key row K - k_zero is widened once and multiplied into all 4 rows (vmlal_s16).
//      Dot product (SQ_ATTN_NEON_DOTPROD): udot on the raw uint8 rows, then
//      acc = sum(q k) - k_zero sum(q) - q_zero sum(k) + d q_zero k_zero (every term fits int32).
//      Then s = fma(float(acc), c, mask) and masked keys become -inf (scratch: 4 x lk floats).
//   2. Per row, softmax over its key limit only: max, exp_approx_neon, the sum in the documented
//      8-lane order (two float32x4 accumulators for lanes 0-3 and 4-7; masked keys add -0, which
//      leaves a lane unchanged), then divide, quantize (vcvtnq: round half to even) and store
//      int16 weights qp - p_zero (0 on masked keys).
//   3. Integer P·V 16 columns at a time (vmlal_n_s16 by each key's weight, exact int32), with the
//      sum of V - v_zero over the valid keys in the same pass; the epilogue
//      v_scale * fma(p_mult, acc, p_add * vsum).
#pragma once

#if !defined(SQ_ATTN_NEON_ENTRY) || !defined(SQ_ATTN_NEON_DOTPROD)
#error "define SQ_ATTN_NEON_ENTRY and SQ_ATTN_NEON_DOTPROD before including this file"
#endif

#include <arm_neon.h>

#include <cassert>
#include <cmath>
#include <cstdint>
#include <limits>

#include "runtime/kernels/attention_u8.h"
#include "runtime/kernels/attention_u8_internal.h"
#include "runtime/kernels/exp_approx.h"

namespace sq::kernels {
namespace {

constexpr int64_t kRows = 4;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

struct Scratch {
  float* scores;  // [kRows][lk8]: scores, then e (valid keys) or -inf (masked)
  int16_t* qw;    // [kRows][kAttentionMaxFastD]: Q - q_zero, zero-padded to a multiple of 8
                  // (dot product: the raw uint8 rows, zero-padded to a multiple of 16)
  int16_t* kw;    // [kAttentionMaxFastD]: one key row K - k_zero, zero-padded (or raw uint8)
  int16_t* w;     // [lk8]: one row's weights qp - p_zero, 0 on masked keys
  int32_t* acc;   // [dv]
  int32_t* vsum;  // [dv]
  int64_t lk8;
};

size_t scratch_layout(int64_t lk, int64_t dv, Scratch* s, char* base) {
  const int64_t lk8 = round_up(lk, 8);
  const size_t parts[] = {
      attention_align64(kRows * lk8 * sizeof(float)),
      attention_align64(kRows * kAttentionMaxFastD * sizeof(int16_t)),
      attention_align64(kAttentionMaxFastD * sizeof(int16_t)),
      attention_align64(lk8 * sizeof(int16_t)),
      attention_align64(dv * sizeof(int32_t)),
      attention_align64(dv * sizeof(int32_t)),
  };
  size_t off[6], total = 0;
  for (int i = 0; i < 6; ++i) {
    off[i] = total;
    total += parts[i];
  }
  if (s != nullptr) {
    s->scores = reinterpret_cast<float*>(base + off[0]);
    s->qw = reinterpret_cast<int16_t*>(base + off[1]);
    s->kw = reinterpret_cast<int16_t*>(base + off[2]);
    s->w = reinterpret_cast<int16_t*>(base + off[3]);
    s->acc = reinterpret_cast<int32_t*>(base + off[4]);
    s->vsum = reinterpret_cast<int32_t*>(base + off[5]);
    s->lk8 = lk8;
  }
  return total;
}

#if !SQ_ATTN_NEON_DOTPROD
// dst[t] = src[t] - zero for t < d, 0 for t in [d, round_up(d, 8)).
void widen(const uint8_t* src, int64_t d, int32_t zero, int16_t* dst) {
  const int16x8_t z = vdupq_n_s16(static_cast<int16_t>(zero));
  int64_t t = 0;
  for (; t + 8 <= d; t += 8) {
    vst1q_s16(dst + t, vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(vld1_u8(src + t))), z));
  }
  for (; t < d; ++t) dst[t] = static_cast<int16_t>(src[t] - zero);
  for (; t < round_up(d, 8); ++t) dst[t] = 0;
}
#endif

#if SQ_ATTN_NEON_DOTPROD
// dst[t] = src[t] for t < d, 0 up to round_up(d, 16); returns the sum of the d values.
int32_t copy_padded(const uint8_t* src, int64_t d, uint8_t* dst) {
  int32_t sum = 0;
  int64_t t = 0;
  for (; t < d; ++t) {
    dst[t] = src[t];
    sum += src[t];
  }
  for (; t < round_up(d, 16); ++t) dst[t] = 0;
  return sum;
}

// Integer Q·Kᵀ of key j for rows r < nrows (raw Q rows at qb, stride kAttentionMaxFastD).
inline void dot_rows(const AttentionParams& p, const uint8_t* qb, const int32_t* qsum,
                     int64_t nrows, const uint8_t* kb, int32_t ksum, int32_t* acc) {
  const int64_t d16 = round_up(p.d, 16);
  uint32x4_t a[kRows];
  for (int64_t r = 0; r < kRows; ++r) a[r] = vdupq_n_u32(0);
  for (int64_t t = 0; t < d16; t += 16) {
    const uint8x16_t kv = vld1q_u8(kb + t);
    for (int64_t r = 0; r < nrows; ++r) a[r] = vdotq_u32(a[r], vld1q_u8(qb + r * kAttentionMaxFastD + t), kv);
  }
  const int32_t zz = static_cast<int32_t>(p.d) * p.q_zero * p.k_zero - p.q_zero * ksum;
  for (int64_t r = 0; r < nrows; ++r) {
    acc[r] = static_cast<int32_t>(vaddvq_u32(a[r])) - p.k_zero * qsum[r] + zz;
  }
}
#else
// Integer Q·Kᵀ of key j for rows r < nrows (Q - q_zero widened at qw, stride
// kAttentionMaxFastD; K - k_zero widened at kw).
inline void dot_rows(const AttentionParams& p, const int16_t* qw, int64_t nrows,
                     const int16_t* kw, int32_t* acc) {
  const int64_t d8 = round_up(p.d, 8);
  int32x4_t a[kRows][2];
  for (int64_t r = 0; r < kRows; ++r) a[r][0] = a[r][1] = vdupq_n_s32(0);
  for (int64_t t = 0; t < d8; t += 8) {
    const int16x8_t kv = vld1q_s16(kw + t);
    for (int64_t r = 0; r < nrows; ++r) {
      const int16x8_t qv = vld1q_s16(qw + r * kAttentionMaxFastD + t);
      a[r][0] = vmlal_s16(a[r][0], vget_low_s16(qv), vget_low_s16(kv));
      a[r][1] = vmlal_high_s16(a[r][1], qv, kv);
    }
  }
  for (int64_t r = 0; r < nrows; ++r) acc[r] = vaddvq_s32(vaddq_s32(a[r][0], a[r][1]));
}
#endif

// Scores of rows [i0, i0 + nrows) for the keys below each row's limit; -inf elsewhere up to the
// row's limit rounded up to 8.
void block_scores(const AttentionParams& p, int64_t i0, int64_t nrows, const Scratch& s) {
  const float c = attention_score_multiplier(p);
  int64_t lim[kRows];
#if SQ_ATTN_NEON_DOTPROD
  // The int16 buffers hold the raw uint8 rows here (half their size is used).
  uint8_t* qb = reinterpret_cast<uint8_t*>(s.qw);
  uint8_t* kb = reinterpret_cast<uint8_t*>(s.kw);
  int32_t qsum[kRows];
  for (int64_t r = 0; r < nrows; ++r) {
    qsum[r] = copy_padded(p.q + (i0 + r) * p.q_stride, p.d, qb + r * kAttentionMaxFastD);
    lim[r] = attention_key_limit(p, i0 + r);
  }
#else
  for (int64_t r = 0; r < nrows; ++r) {
    widen(p.q + (i0 + r) * p.q_stride, p.d, p.q_zero, s.qw + r * kAttentionMaxFastD);
    lim[r] = attention_key_limit(p, i0 + r);
  }
#endif
  const int64_t block_lim = lim[nrows - 1];  // limits grow with the row
  int32_t acc[kRows];
  for (int64_t j = 0; j < block_lim; ++j) {
#if SQ_ATTN_NEON_DOTPROD
    const int32_t ksum = copy_padded(p.k + j * p.k_stride, p.d, kb);
    dot_rows(p, qb, qsum, nrows, kb, ksum, acc);
#else
    widen(p.k + j * p.k_stride, p.d, p.k_zero, s.kw);
    dot_rows(p, s.qw, nrows, s.kw, acc);
#endif
    for (int64_t r = 0; r < nrows; ++r) {
      if (j >= lim[r]) continue;
      const int64_t i = i0 + r;
      const float mask = p.mask ? p.mask[i * p.mask_row_stride + j * p.mask_col_stride] : 0.0f;
      const float sj = std::fma(static_cast<float>(acc[r]), c, mask);
      s.scores[r * s.lk8 + j] = sj > -1e30f ? sj : kNegInf;
    }
  }
  for (int64_t r = 0; r < nrows; ++r) {
    for (int64_t j = lim[r]; j < round_up(lim[r], 8); ++j) s.scores[r * s.lk8 + j] = kNegInf;
  }
}

// Softmax and quantization of one row's scores over [0, lim8): e (or -inf on masked keys) back
// into sc, weights qp - p_zero into w. Returns the number of valid keys.
int64_t row_softmax(const AttentionParams& p, float* sc, int64_t lim, int16_t* w) {
  const int64_t lim8 = round_up(lim, 8);
  float32x4_t mv = vdupq_n_f32(kNegInf);
  for (int64_t j = 0; j < lim8; j += 4) mv = vmaxq_f32(mv, vld1q_f32(sc + j));
  const float m = vmaxvq_f32(mv);
  if (m == kNegInf) return 0;
  const float32x4_t mb = vdupq_n_f32(m), neg_inf = vdupq_n_f32(kNegInf);
  const float32x4_t neg_zero = vdupq_n_f32(-0.0f);
  float32x4_t lanes_lo = vdupq_n_f32(0.0f), lanes_hi = vdupq_n_f32(0.0f);  // lanes 0-3, 4-7
  int64_t n_valid = 0;
  for (int64_t j = 0; j < lim8; j += 8) {
    const float32x4_t x0 = vld1q_f32(sc + j), x1 = vld1q_f32(sc + j + 4);
    const uint32x4_t v0 = vcgtq_f32(x0, neg_inf), v1 = vcgtq_f32(x1, neg_inf);
    const float32x4_t e0 = exp_approx_neon(vsubq_f32(x0, mb));
    const float32x4_t e1 = exp_approx_neon(vsubq_f32(x1, mb));
    lanes_lo = vaddq_f32(lanes_lo, vbslq_f32(v0, e0, neg_zero));
    lanes_hi = vaddq_f32(lanes_hi, vbslq_f32(v1, e1, neg_zero));
    vst1q_f32(sc + j, vbslq_f32(v0, e0, neg_inf));
    vst1q_f32(sc + j + 4, vbslq_f32(v1, e1, neg_inf));
    n_valid -= vaddvq_s32(vreinterpretq_s32_u32(v0)) + vaddvq_s32(vreinterpretq_s32_u32(v1));
  }
  // ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), as attention_sum_lanes8.
  const float32x4_t a = vaddq_f32(lanes_lo, lanes_hi);
  const float sum = (vgetq_lane_f32(a, 0) + vgetq_lane_f32(a, 2)) +
                    (vgetq_lane_f32(a, 1) + vgetq_lane_f32(a, 3));
  const float32x4_t sumv = vdupq_n_f32(sum), ps = vdupq_n_f32(p.p_scale);
  const float32x4_t big = vdupq_n_f32(1073741824.0f);  // keeps vcvtnq and + p_zero in range
  const int32x4_t pz = vdupq_n_s32(p.p_zero), qmax = vdupq_n_s32((1 << p.p_bits) - 1);
  const int32x4_t zero = vdupq_n_s32(0);
  for (int64_t j = 0; j < lim8; j += 4) {
    const float32x4_t e = vld1q_f32(sc + j);
    const uint32x4_t valid = vcgeq_f32(e, vdupq_n_f32(0.0f));  // false for -inf
    const float32x4_t x = vminq_f32(vdivq_f32(vdivq_f32(e, sumv), ps), big);
    int32x4_t q = vaddq_s32(vcvtnq_s32_f32(x), pz);
    q = vminq_s32(vmaxq_s32(q, zero), qmax);
    q = vbslq_s32(valid, vsubq_s32(q, pz), zero);
    vst1_s16(w + j, vmovn_s32(q));
  }
  return n_valid;
}

// acc[c] = sum over valid j < lim of w[j] * (V[j][c] - v_zero); vsum[c] = the same without w.
void weighted_sum(const AttentionParams& p, const float* e, const int16_t* w, int64_t lim,
                  int32_t* acc, int32_t* vsum) {
  const int16x8_t vz = vdupq_n_s16(static_cast<int16_t>(p.v_zero));
  int64_t c = 0;
  for (; c + 16 <= p.dv; c += 16) {
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    int32x4_t s0 = a0, s1 = a0, s2 = a0, s3 = a0;
    for (int64_t j = 0; j < lim; ++j) {
      if (!(e[j] >= 0.0f)) continue;  // masked
      const uint8x16_t v = vld1q_u8(p.v + j * p.v_stride + c);
      const int16x8_t lo = vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v))), vz);
      const int16x8_t hi = vsubq_s16(vreinterpretq_s16_u16(vmovl_high_u8(v)), vz);
      const int16_t wj = w[j];
      a0 = vmlal_n_s16(a0, vget_low_s16(lo), wj);
      a1 = vmlal_high_n_s16(a1, lo, wj);
      a2 = vmlal_n_s16(a2, vget_low_s16(hi), wj);
      a3 = vmlal_high_n_s16(a3, hi, wj);
      s0 = vaddw_s16(s0, vget_low_s16(lo));
      s1 = vaddw_high_s16(s1, lo);
      s2 = vaddw_s16(s2, vget_low_s16(hi));
      s3 = vaddw_high_s16(s3, hi);
    }
    vst1q_s32(acc + c, a0);
    vst1q_s32(acc + c + 4, a1);
    vst1q_s32(acc + c + 8, a2);
    vst1q_s32(acc + c + 12, a3);
    vst1q_s32(vsum + c, s0);
    vst1q_s32(vsum + c + 4, s1);
    vst1q_s32(vsum + c + 8, s2);
    vst1q_s32(vsum + c + 12, s3);
  }
  for (; c + 4 <= p.dv; c += 4) {
    int32x4_t a0 = vdupq_n_s32(0), s0 = a0;
    for (int64_t j = 0; j < lim; ++j) {
      if (!(e[j] >= 0.0f)) continue;
      const uint8_t* v = p.v + j * p.v_stride + c;
      const int16x4_t x = {static_cast<int16_t>(v[0] - p.v_zero),
                           static_cast<int16_t>(v[1] - p.v_zero),
                           static_cast<int16_t>(v[2] - p.v_zero),
                           static_cast<int16_t>(v[3] - p.v_zero)};
      a0 = vmlal_n_s16(a0, x, w[j]);
      s0 = vaddw_s16(s0, x);
    }
    vst1q_s32(acc + c, a0);
    vst1q_s32(vsum + c, s0);
  }
  for (; c < p.dv; ++c) {
    int32_t a = 0, s = 0;
    for (int64_t j = 0; j < lim; ++j) {
      if (!(e[j] >= 0.0f)) continue;
      const int32_t x = p.v[j * p.v_stride + c] - p.v_zero;
      a += w[j] * x;
      s += x;
    }
    acc[c] = a;
    vsum[c] = s;
  }
}

void epilogue(const AttentionParams& p, const int32_t* acc, const int32_t* vsum, int64_t n_valid,
              float* o) {
  const int r = attention_correction_row(n_valid, p.correction_rows);
  const float pm = p.p_mult[r], pa = p.p_add[r];
  const float32x4_t pmv = vdupq_n_f32(pm), pav = vdupq_n_f32(pa), vs = vdupq_n_f32(p.v_scale);
  int64_t c = 0;
  for (; c + 4 <= p.dv; c += 4) {
    const float32x4_t a = vcvtq_f32_s32(vld1q_s32(acc + c));
    const float32x4_t t = vmulq_f32(pav, vcvtq_f32_s32(vld1q_s32(vsum + c)));
    vst1q_f32(o + c, vmulq_f32(vs, vfmaq_f32(t, pmv, a)));  // t + pm * a, one rounding
  }
  for (; c < p.dv; ++c) o[c] = attention_epilogue(acc[c], vsum[c], pm, pa, p.v_scale);
}

}  // namespace

void SQ_ATTN_NEON_ENTRY(const AttentionParams& p, int64_t row_begin, int64_t row_end,
                        void* scratch) {
  assert(attention_fast_path_ok(p) && p.p_scale > 0);
  Scratch s;
  scratch_layout(p.lk, p.dv, &s, static_cast<char*>(scratch));
  for (int64_t i0 = row_begin; i0 < row_end; i0 += kRows) {
    const int64_t nrows = row_end - i0 < kRows ? row_end - i0 : kRows;
    block_scores(p, i0, nrows, s);
    for (int64_t r = 0; r < nrows; ++r) {
      const int64_t i = i0 + r;
      float* o = p.o + i * p.o_stride;
      const int64_t lim = attention_key_limit(p, i);
      float* sc = s.scores + r * s.lk8;
      const int64_t n_valid = lim == 0 ? 0 : row_softmax(p, sc, lim, s.w);
      if (n_valid == 0) {
        for (int64_t c = 0; c < p.dv; ++c) o[c] = 0.0f;
        continue;
      }
      weighted_sum(p, sc, s.w, lim, s.acc, s.vsum);
      epilogue(p, s.acc, s.vsum, n_valid, o);
    }
  }
}

}  // namespace sq::kernels
