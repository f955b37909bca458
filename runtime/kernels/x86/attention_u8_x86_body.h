// Why this exists: the body of the x86 int8 attention kernel, shared by the AVX2 and the
// AVX-512 VNNI translation units so that both compute exactly the same operations. The including
// file defines SQ_ATTN_DOT_ACC(acc, a, b) = acc + pairwise int16 dot products of a and b (int32
// lanes; vpmaddwd + vpaddd, or vpdpwssd) and SQ_ATTN_ENTRY, the name of the entry point.
//
// The kernel, fused per block of 16 query rows (see attention_u8.h for the semantics and
// the float evaluation order, which this file reproduces operation for operation).
//
// Per call: V - v_zero is packed once as int16 key pairs [key/2][column][2] so that vpmaddwd with
// a broadcast pair of probabilities accumulates two keys per instruction. Per row block:
//   1. Q - q_zero of 8 rows is packed as int16 [d/2][row][2]; K - k_zero is widened to int16 one
//      tile of 64 keys at a time (natural layout); vpmaddwd of a broadcast K pair with the packed
//      Q gives exact int32 dot products for 8 rows x 1 key per instruction. 8 keys x 8 rows are
//      transposed, scaled, masked and stored as float scores (scratch: 16 x lk floats).
//   2. Softmax per row over its key limit only (causal rows skip the masked tail): max, vector
//      exp_approx with the sum in the documented lane order, divide, quantize, store int16
//      weights qp - p_zero (exactly 0 on masked keys).
//   3. Integer P·V with vpmaddwd over key pairs; the sum of V over the valid keys is a running
//      prefix sum when every key below the limit is valid, or the same P·V with 0/1 weights.
//      Key pairs whose two quantized weights are both 0 add nothing, so when fewer than half
//      the pairs of a row are nonzero (long rows: most probabilities round to 0 at 8 bits), the
//      P·V runs over the list of nonzero pairs only — the same integer sums, exactly.
//   4. Epilogue v_scale * fma(p_mult, acc, p_add * vsum).
// A call for one query row (decoding with a KV cache) takes its own path: nothing is packed or
// widened ahead (packing V or 8-row Q groups would cost more than the row itself). Scores are dot
// products of Q - q_zero with raw K rows, 8 keys reduced together, and the zero points leave
// through exact identities: sum (q')(K - kz) = sum q'K - kz sum q', and
// sum_j w_j (V_j - vz) = sum_j w_j V_j - vz sum_j w_j (all mod 2^32, exact where the result
// fits int32). The softmax, quantizer and epilogue are the same functions as above.
#pragma once

#if !defined(SQ_ATTN_DOT_ACC) || !defined(SQ_ATTN_ENTRY)
#error "define SQ_ATTN_DOT_ACC and SQ_ATTN_ENTRY before including this file"
#endif

#include <immintrin.h>

#include <cassert>
#include <cstdint>
#include <cstring>
#include <limits>

#include "runtime/kernels/attention_u8.h"
#include "runtime/kernels/attention_u8_internal.h"
#include "runtime/kernels/exp_approx.h"

namespace sq::kernels {
namespace {

constexpr int64_t kRows = 16;     // rows per block (two groups of 8)
constexpr int64_t kKeyTile = 64;  // keys widened per K tile

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Scratch layout (every part 64-byte aligned).
struct Scratch {
  float* scores;    // [kRows][lk8]
  int32_t* w;       // [kRows + 1][lk8 / 2] int16 pairs; row kRows: 0/1 validity weights
  int16_t* vp;      // [lk2 / 2][dv8][2]
  int32_t* prefix;  // [dv8]
  int32_t* vsum;    // [dv8]
  int32_t* acc;     // [dv8]
  int32_t* qp;      // [2][kAttentionMaxFastD / 2][8] int16 pairs
  int32_t* kw;      // [kKeyTile][kAttentionMaxFastD / 2] int16 pairs
  int32_t* nz;      // [lk8 / 2] indices of a row's nonzero weight pairs
  int64_t lk8, dv8;
};

size_t scratch_bytes(int64_t lk, int64_t dv, Scratch* s, char* base) {
  const int64_t lk8 = round_up(lk, 8), lk2 = round_up(lk, 2), dv8 = round_up(dv, 8);
  const size_t parts[] = {
      attention_align64(kRows * lk8 * sizeof(float)),
      attention_align64((kRows + 1) * (lk8 / 2) * sizeof(int32_t)),
      attention_align64(lk2 * dv8 * sizeof(int16_t)),
      attention_align64(dv8 * sizeof(int32_t)),
      attention_align64(dv8 * sizeof(int32_t)),
      attention_align64(dv8 * sizeof(int32_t)),
      attention_align64(2 * (kAttentionMaxFastD / 2) * 8 * sizeof(int32_t)),
      attention_align64(kKeyTile * (kAttentionMaxFastD / 2) * sizeof(int32_t)),
      attention_align64((lk8 / 2) * sizeof(int32_t)),
  };
  size_t off[9], total = 0;
  for (int i = 0; i < 9; ++i) {
    off[i] = total;
    total += parts[i];
  }
  if (s != nullptr) {
    s->scores = reinterpret_cast<float*>(base + off[0]);
    s->w = reinterpret_cast<int32_t*>(base + off[1]);
    s->vp = reinterpret_cast<int16_t*>(base + off[2]);
    s->prefix = reinterpret_cast<int32_t*>(base + off[3]);
    s->vsum = reinterpret_cast<int32_t*>(base + off[4]);
    s->acc = reinterpret_cast<int32_t*>(base + off[5]);
    s->qp = reinterpret_cast<int32_t*>(base + off[6]);
    s->kw = reinterpret_cast<int32_t*>(base + off[7]);
    s->nz = reinterpret_cast<int32_t*>(base + off[8]);
    s->lk8 = lk8;
    s->dv8 = dv8;
  }
  return total;
}

int32_t pair16(int32_t lo, int32_t hi) {
  return static_cast<int32_t>((static_cast<uint32_t>(lo) & 0xffffu) |
                              (static_cast<uint32_t>(hi) << 16));
}

// vp[jp][c][t] = V[2 jp + t][c] - v_zero for keys < lk and c < dv, else 0; keys [0, nkeys).
void pack_v(const AttentionParams& p, int64_t nkeys, int16_t* vp, int64_t dv8) {
  const __m256i vz = _mm256_set1_epi16(static_cast<int16_t>(p.v_zero));
  for (int64_t jp = 0; 2 * jp < nkeys; ++jp) {
    const uint8_t* r0 = p.v + 2 * jp * p.v_stride;
    const uint8_t* r1 = 2 * jp + 1 < p.lk ? r0 + p.v_stride : nullptr;
    int16_t* dst = vp + jp * dv8 * 2;
    int64_t c = 0;
    for (; c + 16 <= p.dv; c += 16) {
      const __m256i a = _mm256_sub_epi16(
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r0 + c))), vz);
      const __m256i b =
          r1 ? _mm256_sub_epi16(
                   _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r1 + c))),
                   vz)
             : _mm256_setzero_si256();
      const __m256i lo = _mm256_unpacklo_epi16(a, b), hi = _mm256_unpackhi_epi16(a, b);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 2 * c),
                          _mm256_permute2x128_si256(lo, hi, 0x20));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 2 * c + 16),
                          _mm256_permute2x128_si256(lo, hi, 0x31));
    }
    for (; c < dv8; ++c) {
      dst[2 * c] = static_cast<int16_t>(c < p.dv ? r0[c] - p.v_zero : 0);
      dst[2 * c + 1] = static_cast<int16_t>(r1 && c < p.dv ? r1[c] - p.v_zero : 0);
    }
  }
}

// qp[t][r] = pair (Q[i0 + r][2t] - q_zero, Q[i0 + r][2t + 1] - q_zero), 0 outside.
void pack_q(const AttentionParams& p, int64_t i0, int64_t nrows, int32_t* qp) {
  const int64_t dp = (p.d + 1) / 2;
  for (int64_t r = 0; r < 8; ++r) {
    const uint8_t* q = p.q + (i0 + r) * p.q_stride;
    for (int64_t t = 0; t < dp; ++t) {
      int32_t lo = 0, hi = 0;
      if (r < nrows) {
        lo = q[2 * t] - p.q_zero;
        hi = 2 * t + 1 < p.d ? q[2 * t + 1] - p.q_zero : 0;
      }
      qp[t * 8 + r] = pair16(lo, hi);
    }
  }
}

// kw[kk][t] = pair (K[j0 + kk][2t] - k_zero, ...) for kk < nk (keys < lk), zero rows up to a
// multiple of 8.
void widen_k(const AttentionParams& p, int64_t j0, int64_t nk, int32_t* kw) {
  const int64_t dp = (p.d + 1) / 2;
  const __m256i kz = _mm256_set1_epi16(static_cast<int16_t>(p.k_zero));
  for (int64_t kk = 0; kk < round_up(nk, 8); ++kk) {
    int32_t* dst = kw + kk * dp;
    if (kk >= nk) {
      for (int64_t t = 0; t < dp; ++t) dst[t] = 0;
      continue;
    }
    const uint8_t* k = p.k + (j0 + kk) * p.k_stride;
    int64_t c = 0;
    for (; c + 16 <= p.d; c += 16) {
      const __m256i a = _mm256_sub_epi16(
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + c))), kz);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + c / 2), a);
    }
    for (; c + 8 <= p.d; c += 8) {
      const __m128i a =
          _mm_sub_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(k + c))),
                        _mm256_castsi256_si128(kz));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + c / 2), a);
    }
    for (; c < p.d; c += 2) {
      const int32_t lo = k[c] - p.k_zero, hi = c + 1 < p.d ? k[c + 1] - p.k_zero : 0;
      dst[c / 2] = pair16(lo, hi);
    }
  }
}

inline void transpose8(__m256* r) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

inline __m256 load_mask(const AttentionParams& p, int64_t i, int64_t j) {
  if (p.mask == nullptr) return _mm256_setzero_ps();
  const float* m = p.mask + i * p.mask_row_stride;
  if (p.mask_col_stride == 0) return _mm256_set1_ps(m[0]);
  if (p.mask_col_stride == 1 && j + 8 <= p.lk) return _mm256_loadu_ps(m + j);
  alignas(32) float v[8];
  for (int l = 0; l < 8; ++l) v[l] = j + l < p.lk ? m[(j + l) * p.mask_col_stride] : 0.0f;
  return _mm256_load_ps(v);
}

// Scores of 8 rows (i0 + r, r < nrows; qp packed) x 8 keys (j, K pairs at kw) into
// scores[r][j..j+7]; masked keys -inf.
inline void scores_8x8(const AttentionParams& p, const int32_t* qp, const int32_t* kw, int64_t dp,
                       int64_t i0, int64_t nrows, int64_t j, float c, float* scores, int64_t lk8) {
  __m256i acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = _mm256_setzero_si256();
  for (int64_t t = 0; t < dp; ++t) {
    const __m256i qv = _mm256_load_si256(reinterpret_cast<const __m256i*>(qp + t * 8));
    for (int k = 0; k < 8; ++k) {
      const __m256i kv = _mm256_set1_epi32(kw[k * dp + t]);
      acc[k] = SQ_ATTN_DOT_ACC(acc[k], kv, qv);
    }
  }
  __m256 f[8];
  for (int k = 0; k < 8; ++k) f[k] = _mm256_cvtepi32_ps(acc[k]);
  transpose8(f);
  const __m256 cv = _mm256_set1_ps(c),
               neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const __m256 lowest = _mm256_set1_ps(-1e30f);
  const __m256i keys = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(j)),
                                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t i = i0 + r;
    const __m256 s = _mm256_fmadd_ps(f[r], cv, load_mask(p, i, j));
    const __m256i lim = _mm256_set1_epi32(static_cast<int32_t>(attention_key_limit(p, i)));
    const __m256 in_range = _mm256_castsi256_ps(_mm256_cmpgt_epi32(lim, keys));
    const __m256 valid = _mm256_and_ps(in_range, _mm256_cmp_ps(s, lowest, _CMP_GT_OQ));
    _mm256_store_ps(scores + r * lk8 + j, _mm256_blendv_ps(neg_inf, s, valid));
  }
}

// Scores of the block rows [i0, i0 + nrows) for keys below their limits.
void block_scores(const AttentionParams& p, int64_t i0, int64_t nrows, const Scratch& s) {
  const int64_t dp = (p.d + 1) / 2;
  const float c = attention_score_multiplier(p);
  const int64_t ngroups = (nrows + 7) / 8;
  int64_t group_lim[2];
  for (int64_t g = 0; g < ngroups; ++g) {
    const int64_t n = nrows - 8 * g < 8 ? nrows - 8 * g : 8;
    pack_q(p, i0 + 8 * g, n, s.qp + g * (kAttentionMaxFastD / 2) * 8);
    group_lim[g] = attention_key_limit(p, i0 + 8 * g + n - 1);
  }
  const int64_t block_lim = group_lim[ngroups - 1];
  for (int64_t j0 = 0; j0 < block_lim; j0 += kKeyTile) {
    const int64_t nk = block_lim - j0 < kKeyTile ? block_lim - j0 : kKeyTile;
    widen_k(p, j0, nk, s.kw);
    for (int64_t g = 0; g < ngroups; ++g) {
      const int64_t n = nrows - 8 * g < 8 ? nrows - 8 * g : 8;
      for (int64_t kk = 0; kk < nk && j0 + kk < group_lim[g]; kk += 8) {
        scores_8x8(p, s.qp + g * (kAttentionMaxFastD / 2) * 8, s.kw + kk * dp, dp, i0 + 8 * g, n,
                   j0 + kk, c, s.scores + 8 * g * s.lk8, s.lk8);
      }
    }
  }
}

inline float hsum8(__m256 v) {
  const __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));  // (a0 + a2, a1 + a3)
  return _mm_cvtss_f32(_mm_add_ss(b, _mm_shuffle_ps(b, b, 1)));
}

inline float hmax8(__m256 v) {
  const __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 b = _mm_max_ps(a, _mm_movehl_ps(a, a));
  return _mm_cvtss_f32(_mm_max_ss(b, _mm_shuffle_ps(b, b, 1)));
}

// Stores 8 int32 values (each fitting int16) as 4 int16 pairs; returns the 4-bit mask of pairs
// that are not both zero.
inline int store_pairs(int32_t* dst, __m256i v) {
  const __m128i packed = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), packed);
  return ~_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(packed, _mm_setzero_si128()))) & 0xF;
}

// Softmax and quantization of one row's scores over [0, lim8): writes int16 weights
// qp - p_zero into w, the indices of the nonzero weight pairs into nz (their count into *nnz)
// and, unless every key below lim is valid, 0/1 validity into ind. Returns the number of valid
// keys.
int64_t row_softmax(const AttentionParams& p, float* sc, int64_t lim, int32_t* w, int32_t* ind,
                    int32_t* nz, int64_t* nnz) {
  const int64_t lim8 = round_up(lim, 8);
  __m256 mv = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < lim8; j += 8) mv = _mm256_max_ps(mv, _mm256_load_ps(sc + j));
  const float m = hmax8(mv);
  if (m == -std::numeric_limits<float>::infinity()) return 0;
  const __m256 mb = _mm256_set1_ps(m),
               neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const __m256 neg_zero = _mm256_set1_ps(-0.0f);
  __m256 lanes = _mm256_setzero_ps();
  int64_t n_valid = 0;
  for (int64_t j = 0; j < lim8; j += 8) {
    const __m256 x = _mm256_load_ps(sc + j);
    const __m256 valid = _mm256_cmp_ps(x, neg_inf, _CMP_GT_OQ);
    const __m256 e = _mm256_blendv_ps(neg_zero, exp_approx_avx2(_mm256_sub_ps(x, mb)), valid);
    _mm256_store_ps(sc + j, e);
    lanes = _mm256_add_ps(lanes, e);
    n_valid += __builtin_popcount(_mm256_movemask_ps(valid));
  }
  const __m256 sum = _mm256_set1_ps(hsum8(lanes));
  const __m256 ps = _mm256_set1_ps(p.p_scale), big = _mm256_set1_ps(1073741824.0f);
  const __m256i pz = _mm256_set1_epi32(p.p_zero);
  const __m256i qmax = _mm256_set1_epi32((1 << p.p_bits) - 1), zero = _mm256_setzero_si256();
  if (n_valid == lim) ind = nullptr;  // the caller uses the prefix sum of V instead
  int64_t n_nz = 0;
  for (int64_t j = 0; j < lim8; j += 8) {
    const __m256 e = _mm256_load_ps(sc + j);
    const __m256 x = _mm256_min_ps(_mm256_div_ps(_mm256_div_ps(e, sum), ps), big);
    __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(x), pz);
    q = _mm256_min_epi32(_mm256_max_epi32(q, zero), qmax);
    for (int bits = store_pairs(w + j / 2, _mm256_sub_epi32(q, pz)); bits != 0; bits &= bits - 1)
      nz[n_nz++] = static_cast<int32_t>(j / 2 + __builtin_ctz(static_cast<unsigned>(bits)));
    if (ind != nullptr) {
      // e is -0 exactly on masked keys: validity = 1 - sign bit.
      const __m256i sign = _mm256_srli_epi32(_mm256_castps_si256(e), 31);
      store_pairs(ind + j / 2, _mm256_sub_epi32(_mm256_set1_epi32(1), sign));
    }
  }
  *nnz = n_nz;
  return n_valid;
}

// out[c] = sum over pairs jp of w[jp].lo * vp[jp][c][0] + w[jp].hi * vp[jp][c][1], c < dv8: the
// pairs jp < n, or (kSparse) the pairs nz[0..n).
template <int NC, bool kSparse>
inline void pv_block(const int32_t* w, const int32_t* nz, int64_t n, const int16_t* vp,
                     int64_t dv8, int64_t c0, int32_t* out) {
  __m256i a[NC];
  for (int c = 0; c < NC; ++c) a[c] = _mm256_setzero_si256();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t jp = kSparse ? nz[i] : i;
    const __m256i wv = _mm256_set1_epi32(w[jp]);
    const int16_t* v = vp + jp * dv8 * 2 + c0 * 2;
    for (int c = 0; c < NC; ++c) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + 16 * c));
      a[c] = SQ_ATTN_DOT_ACC(a[c], wv, x);
    }
  }
  for (int c = 0; c < NC; ++c) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c0 + 8 * c), a[c]);
  }
}

template <bool kSparse>
void weighted_sum(const int32_t* w, const int32_t* nz, int64_t n, const int16_t* vp, int64_t dv8,
                  int32_t* out) {
  // Column blocks of at most 8 chunks of 8, as even as possible (dv 40: one block of 5).
  const int64_t chunks = dv8 / 8, blocks = (chunks + 7) / 8;
  int64_t c0 = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t nc = (chunks - c0 / 8) / (blocks - b);
    switch (nc) {
      case 8:
        pv_block<8, kSparse>(w, nz, n, vp, dv8, c0, out);
        break;
      case 7:
        pv_block<7, kSparse>(w, nz, n, vp, dv8, c0, out);
        break;
      case 6:
        pv_block<6, kSparse>(w, nz, n, vp, dv8, c0, out);
        break;
      case 5:
        pv_block<5, kSparse>(w, nz, n, vp, dv8, c0, out);
        break;
      case 4:
        pv_block<4, kSparse>(w, nz, n, vp, dv8, c0, out);
        break;
      case 3:
        pv_block<3, kSparse>(w, nz, n, vp, dv8, c0, out);
        break;
      case 2:
        pv_block<2, kSparse>(w, nz, n, vp, dv8, c0, out);
        break;
      default:
        pv_block<1, kSparse>(w, nz, n, vp, dv8, c0, out);
        break;
    }
    c0 += 8 * nc;
  }
}

// prefix[c] += V[j][c] - v_zero for j in [from, to).
void advance_prefix(const AttentionParams& p, int64_t from, int64_t to, int32_t* prefix) {
  const __m256i vz = _mm256_set1_epi32(p.v_zero);
  for (int64_t j = from; j < to; ++j) {
    const uint8_t* v = p.v + j * p.v_stride;
    int64_t c = 0;
    for (; c + 8 <= p.dv; c += 8) {
      const __m256i x = _mm256_sub_epi32(
          _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(v + c))), vz);
      __m256i* dst = reinterpret_cast<__m256i*>(prefix + c);
      _mm256_storeu_si256(dst, _mm256_add_epi32(_mm256_loadu_si256(dst), x));
    }
    for (; c < p.dv; ++c) prefix[c] += v[c] - p.v_zero;
  }
}

void epilogue(const AttentionParams& p, const int32_t* acc, const int32_t* vsum, int64_t n_valid,
              float* o) {
  const int r = attention_correction_row(n_valid, p.correction_rows);
  const float pm = p.p_mult[r], pa = p.p_add[r];
  const __m256 pmv = _mm256_set1_ps(pm), pav = _mm256_set1_ps(pa), vs = _mm256_set1_ps(p.v_scale);
  int64_t c = 0;
  for (; c + 8 <= p.dv; c += 8) {
    const __m256 a =
        _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + c)));
    const __m256 v =
        _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(vsum + c)));
    const __m256 t = _mm256_mul_ps(pav, v);
    _mm256_storeu_ps(o + c, _mm256_mul_ps(vs, _mm256_fmadd_ps(pmv, a, t)));
  }
  for (; c < p.dv; ++c) o[c] = attention_epilogue(acc[c], vsum[c], pm, pa, p.v_scale);
}

// --- One query row.

// Lane l = the sum of v[l]'s 8 lanes.
inline __m256i reduce8(const __m256i (&v)[8]) {
  const __m256i a = _mm256_hadd_epi32(v[0], v[1]), b = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i c = _mm256_hadd_epi32(v[4], v[5]), d = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i ab = _mm256_hadd_epi32(a, b), cd = _mm256_hadd_epi32(c, d);
  return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20),
                          _mm256_permute2x128_si256(ab, cd, 0x31));
}

// sum_c qw[c] * K[c] over c < d (mod 2^32); qw is Q - q_zero as int16, zero past d, and d16
// = d rounded down to 16. Reads no byte of the K row past d.
inline __m256i row_dot(const int16_t* qw, const uint8_t* k, int64_t d, int64_t d16) {
  __m256i acc = _mm256_setzero_si256();
  int64_t c = 0;
  for (; c < d16; c += 16) {
    const __m256i kv = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + c)));
    acc = SQ_ATTN_DOT_ACC(acc, kv, _mm256_load_si256(reinterpret_cast<const __m256i*>(qw + c)));
  }
  if (c < d) {
    alignas(16) uint8_t tail[16] = {};
    std::memcpy(tail, k + c, static_cast<size_t>(d - c));
    const __m256i kv = _mm256_cvtepu8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(tail)));
    acc = SQ_ATTN_DOT_ACC(acc, kv, _mm256_load_si256(reinterpret_cast<const __m256i*>(qw + c)));
  }
  return acc;
}

// Scores of row i for keys [0, lim8) into sc (masked and keys >= lim: -inf), as scores_8x8.
void single_row_scores(const AttentionParams& p, int64_t i, int64_t lim, float* sc) {
  alignas(32) int16_t qw[kAttentionMaxFastD + 16] = {};
  const uint8_t* q = p.q + i * p.q_stride;
  uint32_t qsum = 0;
  for (int64_t c = 0; c < p.d; ++c) {
    qw[c] = static_cast<int16_t>(q[c] - p.q_zero);
    qsum += static_cast<uint32_t>(qw[c]);
  }
  const __m256i kz_qsum = _mm256_set1_epi32(static_cast<int32_t>(static_cast<uint32_t>(p.k_zero) * qsum));
  const int64_t d16 = p.d / 16 * 16;
  const __m256 cv = _mm256_set1_ps(attention_score_multiplier(p)),
               neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity()),
               lowest = _mm256_set1_ps(-1e30f);
  const __m256i lim_v = _mm256_set1_epi32(static_cast<int32_t>(lim));
  for (int64_t j = 0; j < lim; j += 8) {
    __m256i dots[8];
    for (int l = 0; l < 8; ++l) {
      dots[l] = j + l < lim ? row_dot(qw, p.k + (j + l) * p.k_stride, p.d, d16)
                            : _mm256_setzero_si256();
    }
    const __m256i acc = _mm256_sub_epi32(reduce8(dots), kz_qsum);
    const __m256 s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), cv, load_mask(p, i, j));
    const __m256i keys = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(j)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256 in_range = _mm256_castsi256_ps(_mm256_cmpgt_epi32(lim_v, keys));
    const __m256 valid = _mm256_and_ps(in_range, _mm256_cmp_ps(s, lowest, _CMP_GT_OQ));
    _mm256_store_ps(sc + j, _mm256_blendv_ps(neg_inf, s, valid));
  }
}

// out[c] = sum over pairs jp (jp < n, or kSparse: the pairs nz[0..n)) of
// w[jp].lo * V[2 jp][c] + w[jp].hi * V[2 jp + 1][c], for c < dv, reading raw V (mod 2^32). A pair
// whose second key is at or past lk reads only its first.
template <bool kSparse>
void single_row_pv(const AttentionParams& p, const int32_t* w, const int32_t* nz, int64_t n,
                   int32_t* out) {
  constexpr int kChunks = 4;  // 16-column chunks per pass: 2 accumulators each
  const int64_t dv16 = p.dv / 16 * 16;
  for (int64_t c0 = 0; c0 < dv16; c0 += 16 * kChunks) {
    const int nc = dv16 - c0 < 16 * kChunks ? static_cast<int>((dv16 - c0) / 16) : kChunks;
    __m256i lo[kChunks], hi[kChunks];
    for (int x = 0; x < kChunks; ++x) lo[x] = hi[x] = _mm256_setzero_si256();
    for (int64_t t = 0; t < n; ++t) {
      const int64_t jp = kSparse ? nz[t] : t;
      const __m256i wv = _mm256_set1_epi32(w[jp]);
      const uint8_t* r0 = p.v + 2 * jp * p.v_stride + c0;
      const uint8_t* r1 = 2 * jp + 1 < p.lk ? r0 + p.v_stride : nullptr;
      for (int x = 0; x < nc; ++x) {
        const __m256i a =
            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r0 + 16 * x)));
        const __m256i b = r1 ? _mm256_cvtepu8_epi16(_mm_loadu_si128(
                                   reinterpret_cast<const __m128i*>(r1 + 16 * x)))
                             : _mm256_setzero_si256();
        // (a, b) interleaved: lo holds columns 0-3 and 8-11 of the chunk, hi 4-7 and 12-15.
        lo[x] = SQ_ATTN_DOT_ACC(lo[x], wv, _mm256_unpacklo_epi16(a, b));
        hi[x] = SQ_ATTN_DOT_ACC(hi[x], wv, _mm256_unpackhi_epi16(a, b));
      }
    }
    for (int x = 0; x < nc; ++x) {
      int32_t* o = out + c0 + 16 * x;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), _mm256_permute2x128_si256(lo[x], hi[x], 0x20));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 8),
                          _mm256_permute2x128_si256(lo[x], hi[x], 0x31));
    }
  }
  for (int64_t c = dv16; c < p.dv; ++c) {
    uint32_t a = 0;
    for (int64_t t = 0; t < n; ++t) {
      const int64_t jp = kSparse ? nz[t] : t;
      const int32_t pair = w[jp];
      const int32_t w_lo = static_cast<int16_t>(pair & 0xffff), w_hi = static_cast<int16_t>(pair >> 16);
      a += static_cast<uint32_t>(w_lo) * p.v[2 * jp * p.v_stride + c];
      if (2 * jp + 1 < p.lk) a += static_cast<uint32_t>(w_hi) * p.v[(2 * jp + 1) * p.v_stride + c];
    }
    out[c] = static_cast<int32_t>(a);
  }
}

// out[c] -= v_zero * (sum of the weights of w's pairs, all of them or kSparse: nz[0..n)).
template <bool kSparse>
void remove_v_zero(const AttentionParams& p, const int32_t* w, const int32_t* nz, int64_t n,
                   int32_t* out) {
  uint32_t wsum = 0;
  for (int64_t t = 0; t < n; ++t) {
    const int32_t pair = w[kSparse ? nz[t] : t];
    wsum += static_cast<uint32_t>(static_cast<int16_t>(pair & 0xffff)) +
            static_cast<uint32_t>(static_cast<int16_t>(pair >> 16));
  }
  const uint32_t z = static_cast<uint32_t>(p.v_zero) * wsum;
  for (int64_t c = 0; c < p.dv; ++c) out[c] = static_cast<int32_t>(static_cast<uint32_t>(out[c]) - z);
}

// Row i alone; the same values as the block path.
void single_row(const AttentionParams& p, int64_t i, const Scratch& s) {
  float* o = p.o + i * p.o_stride;
  const int64_t lim = attention_key_limit(p, i);
  int32_t* w = s.w;
  int32_t* ind = s.w + kRows * (s.lk8 / 2);
  int64_t nnz = 0, n_valid = 0;
  if (lim > 0) {
    single_row_scores(p, i, lim, s.scores);
    n_valid = row_softmax(p, s.scores, lim, w, ind, s.nz, &nnz);
  }
  if (n_valid == 0) {
    for (int64_t c = 0; c < p.dv; ++c) o[c] = 0.0f;
    return;
  }
  const int64_t npairs = (lim + 1) / 2;
  if (2 * nnz < npairs) {
    single_row_pv<true>(p, w, s.nz, nnz, s.acc);
    remove_v_zero<true>(p, w, s.nz, nnz, s.acc);
  } else {
    single_row_pv<false>(p, w, nullptr, npairs, s.acc);
    remove_v_zero<false>(p, w, nullptr, npairs, s.acc);
  }
  if (n_valid == lim) {  // row_softmax left ind alone: every key below lim is valid
    for (int64_t jp = 0; jp < npairs; ++jp) ind[jp] = pair16(1, 2 * jp + 1 < lim ? 1 : 0);
  }
  single_row_pv<false>(p, ind, nullptr, npairs, s.vsum);
  remove_v_zero<false>(p, ind, nullptr, npairs, s.vsum);
  epilogue(p, s.acc, s.vsum, n_valid, o);
}

}  // namespace

// Computes rows [row_begin, row_end) (attention_u8.h); scratch as attention_u8_avx2_scratch_bytes.
void SQ_ATTN_ENTRY(const AttentionParams& p, int64_t row_begin, int64_t row_end, void* scratch) {
  assert(attention_fast_path_ok(p) && p.p_scale > 0);
  Scratch s;
  scratch_bytes(p.lk, p.dv, &s, static_cast<char*>(scratch));
  if (row_end - row_begin == 1) {
    single_row(p, row_begin, s);
    return;
  }
  const int64_t call_lim = attention_key_limit(p, row_end - 1);
  pack_v(p, call_lim, s.vp, s.dv8);
  for (int64_t c = 0; c < s.dv8; ++c) s.prefix[c] = 0;
  int64_t prefix_lim = 0;
  const int64_t w_stride = s.lk8 / 2;
  int32_t* ind = s.w + kRows * w_stride;

  for (int64_t i0 = row_begin; i0 < row_end; i0 += kRows) {
    const int64_t nrows = row_end - i0 < kRows ? row_end - i0 : kRows;
    block_scores(p, i0, nrows, s);
    for (int64_t r = 0; r < nrows; ++r) {
      const int64_t i = i0 + r;
      float* o = p.o + i * p.o_stride;
      const int64_t lim = attention_key_limit(p, i);
      int32_t* w = s.w + r * w_stride;
      int64_t nnz = 0;
      const int64_t n_valid =
          lim == 0 ? 0 : row_softmax(p, s.scores + r * s.lk8, lim, w, ind, s.nz, &nnz);
      if (n_valid == 0) {
        for (int64_t c = 0; c < p.dv; ++c) o[c] = 0.0f;
        continue;
      }
      const int64_t npairs = (lim + 1) / 2;
      if (2 * nnz < npairs) {
        weighted_sum<true>(w, s.nz, nnz, s.vp, s.dv8, s.acc);
      } else {
        weighted_sum<false>(w, nullptr, npairs, s.vp, s.dv8, s.acc);
      }
      const int32_t* vsum;
      if (n_valid == lim) {
        advance_prefix(p, prefix_lim, lim, s.prefix);
        prefix_lim = lim;
        vsum = s.prefix;
      } else {
        weighted_sum<false>(ind, nullptr, npairs, s.vp, s.dv8, s.vsum);
        vsum = s.vsum;
      }
      epilogue(p, s.acc, vsum, n_valid, o);
    }
  }
}

}  // namespace sq::kernels
