// Scalar reference of the int8 attention kernel: one row at a time, written to be obviously
// right rather than fast. The optimized variants must match it bit for bit.
#include <cassert>
#include <cmath>
#include <cstdint>
#include <limits>

#include "runtime/kernels/attention_u8.h"
#include "runtime/kernels/attention_u8_internal.h"
#include "runtime/kernels/exp_approx.h"
#include "runtime/kernels/quant_math.h"

namespace sq::kernels {

size_t attention_u8_ref_scratch_bytes(int64_t lk, int64_t dv) {
  return attention_align64(static_cast<size_t>(lk) * sizeof(float)) +
         2 * attention_align64(static_cast<size_t>(dv) * sizeof(int32_t));
}

void attention_u8_ref(const AttentionParams& p, int64_t row_begin, int64_t row_end, void* scratch) {
  assert(p.p_bits >= 1 && p.p_bits <= 16 && p.p_scale > 0 && p.correction_rows >= 1);
  char* base = static_cast<char*>(scratch);
  float* s = reinterpret_cast<float*>(base);  // scores, then e, of one row
  int32_t* acc = reinterpret_cast<int32_t*>(base + attention_align64(p.lk * sizeof(float)));
  int32_t* vsum = acc + attention_align64(p.dv * sizeof(int32_t)) / sizeof(int32_t);
  const float c = attention_score_multiplier(p);
  const int32_t qmax = static_cast<int32_t>((int64_t{1} << p.p_bits) - 1);
  constexpr float kMasked = -std::numeric_limits<float>::infinity();

  for (int64_t i = row_begin; i < row_end; ++i) {
    const int64_t lim = attention_key_limit(p, i);
    const uint8_t* q = p.q + i * p.q_stride;
    // Scores; masked keys get -inf (a valid score is > -1e30).
    float m = kMasked;
    int64_t n_valid = 0;
    for (int64_t j = 0; j < p.lk; ++j) {
      s[j] = kMasked;
      if (j >= lim) continue;
      const uint8_t* k = p.k + j * p.k_stride;
      int32_t a = 0;
      for (int64_t t = 0; t < p.d; ++t) {
        a += (static_cast<int32_t>(q[t]) - p.q_zero) * (static_cast<int32_t>(k[t]) - p.k_zero);
      }
      const float mask = p.mask ? p.mask[i * p.mask_row_stride + j * p.mask_col_stride] : 0.0f;
      const float sj = std::fma(static_cast<float>(a), c, mask);
      if (!(sj > -1e30f)) continue;
      s[j] = sj;
      m = sj > m ? sj : m;
      ++n_valid;
    }
    float* o = p.o + i * p.o_stride;
    if (n_valid == 0) {
      for (int64_t e = 0; e < p.dv; ++e) o[e] = 0.0f;
      continue;
    }
    // Softmax denominator in the documented lane order.
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = 0; j < p.lk; ++j) {
      if (s[j] == kMasked) continue;
      s[j] = exp_approx(s[j] - m);
      lanes[j % 8] += s[j];
    }
    const float sum = attention_sum_lanes8(lanes);
    // Quantized probabilities times V, and the sum of V over the valid keys.
    for (int64_t e = 0; e < p.dv; ++e) acc[e] = vsum[e] = 0;
    for (int64_t j = 0; j < p.lk; ++j) {
      if (j >= lim || s[j] < 0.0f) continue;  // masked keys hold -inf
      const float pj = s[j] / sum;
      const int32_t w = quantize_value(pj, p.p_scale, p.p_zero, 0, qmax) - p.p_zero;
      const uint8_t* v = p.v + j * p.v_stride;
      for (int64_t e = 0; e < p.dv; ++e) {
        const int32_t ve = static_cast<int32_t>(v[e]) - p.v_zero;
        acc[e] += w * ve;
        vsum[e] += ve;
      }
    }
    const int r = attention_correction_row(n_valid, p.correction_rows);
    for (int64_t e = 0; e < p.dv; ++e) {
      o[e] = attention_epilogue(acc[e], vsum[e], p.p_mult[r], p.p_add[r], p.v_scale);
    }
  }
}

}  // namespace sq::kernels
