// Why this exists: int8 attention for one (batch, head): Q·Kᵀ -> scale -> mask -> softmax ->
// b-bit probability quantizer with the softmax bias correction -> P·V, fused per block of query
// rows so the Lq x Lk probability matrix is never materialized, and masked keys are skipped.
// It computes what the quantizer's QDQ graph computes (the `--engine sim` reference):
//
//   acc[i][j]  = sum_d (Q[i][d] - q_zero) * (K[j][d] - k_zero)                       (int32)
//   s[i][j]    = float(acc[i][j]) * (q_scale * k_scale * score_scale) + mask(i, j)
//   valid(i,j) = s[i][j] > -1e30 (and, with `causal`, j <= i + causal_offset)
//   p[i][j]    = softmax over valid j of s[i][.] (exactly 0 on masked keys)
//   qp[i][j]   = clamp(round_half_even(p[i][j] / p_scale) + p_zero, 0, 2^p_bits - 1)
//   p'[i][j]   = (qp[i][j] - p_zero) * p_mult[r] + p_add[r]    on valid keys, 0 on masked keys
//                r = correction row of i: bucket floor(log2(valid keys of row i)), clamped to
//                [0, correction_rows - 1] (per-tensor or per-head correction: correction_rows = 1)
//   O[i][e]    = v_scale * sum_j p'[i][j] * (V[j][e] - v_zero)                         (float)
//
// The integer form of the last line is
//   O[i][e] = v_scale * ( p_mult[r] * sum_j (qp-p_zero)(V-v_zero)  +  p_add[r] * sum_valid j (V-v_zero) )
// so the correction costs one multiply-add per output (the zero-point term of an integer P·V).
// Without correction p_mult[r] = p_scale and p_add[r] = 0 (offset form: p_add = beta; scale
// form: p_mult = p_scale * factor).
//
// The softmax and the probability quantizer run in float on one block of rows at a time (the
// exp may differ from std::exp by an ulp, so a probability can land one step away from the
// simulation's on a rounding tie); everything else is exact. Kernels are single-threaded and do
// not allocate: the caller provides scratch of attention_scratch_bytes() and splits
// (batch, head, row block) work across threads.
//
// Exact float evaluation order (every ISA computes exactly this, so all ISAs agree bit for bit;
// fma() is one rounding, everything else rounds after each operation):
//   c        = (q_scale * k_scale) * score_scale
//   s        = fma(float(acc), c, mask(i, j))            (mask 0 when there is none)
//   m        = max over valid j of s
//   e_j      = exp_approx(s - m)               (runtime/kernels/exp_approx.h, not std::exp)
//   sum      = 8 lanes, lane l = e_j for valid j = l mod 8 added in ascending j starting at +0,
//              then ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))
//   p_j      = e_j / sum, qp_j = quantize_value(p_j, p_scale, p_zero, 0, 2^p_bits - 1)
//   O[i][e]  = v_scale * fma(p_mult[r], float(acc_pv), p_add[r] * float(vsum))
// A row without any valid key gives O = 0. Integer sums are exact while they fit in int32
// (|acc_pv| <= sum_j |qp_j - p_zero| * 255). Scores must be finite or masked (no NaN, no +inf).
// The optimized paths handle p_bits <= 8, 0 <= p_zero < 2^p_bits and d <= 256; other cases run
// the scalar reference.
#pragma once

#include <cstdint>

#include "runtime/kernels/isa.h"

namespace sq::kernels {

struct AttentionParams {
  int64_t lq = 0, lk = 0, d = 0, dv = 0;
  // Q [lq][d], K [lk][d], V [lk][dv] uint8, row-major with these row strides (elements).
  const uint8_t* q = nullptr;
  int64_t q_stride = 0;
  const uint8_t* k = nullptr;
  int64_t k_stride = 0;
  const uint8_t* v = nullptr;
  int64_t v_stride = 0;
  float q_scale = 1, k_scale = 1, v_scale = 1;
  int32_t q_zero = 0, k_zero = 0, v_zero = 0;
  float score_scale = 1.0f;  // a Mul (or 1/Div) between Q·Kᵀ and the mask
  // Additive mask, mask(i, j) = mask[i * mask_row_stride + j * mask_col_stride] (strides 0
  // broadcast); nullptr for none.
  const float* mask = nullptr;
  int64_t mask_row_stride = 0, mask_col_stride = 0;
  bool causal = false;        // also mask keys j > i + causal_offset
  int64_t causal_offset = 0;  // lk - lq for a causal decoder with a KV cache
  int p_bits = 8;
  float p_scale = 1.0f / 256;
  int32_t p_zero = 0;
  const float* p_mult = nullptr;  // [correction_rows]
  const float* p_add = nullptr;   // [correction_rows]
  int correction_rows = 1;
  // Output O [lq][dv] float, row stride o_stride.
  float* o = nullptr;
  int64_t o_stride = 0;
};

// Rows of Q processed together (the scratch holds this many rows of scores).
int64_t attention_row_block(Isa isa);
size_t attention_scratch_bytes(int64_t lk, int64_t dv, Isa isa);

// Computes output rows [row_begin, row_end) of O. scratch: attention_scratch_bytes(), 64-byte
// aligned.
void attention_u8(const AttentionParams& p, int64_t row_begin, int64_t row_end, void* scratch,
                  Isa isa = default_isa());

}  // namespace sq::kernels
