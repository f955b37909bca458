// NEON (AArch64 baseline) kernel for gemm_u8s8_f32. Exact u8 x s8 products by
// widening: 8 k values of an A row become int16 (vmovl_u8), each packed B row
// of 16 columns is sign-extended to int16, and vmlal_laneq_s16 multiplies by
// one A lane and accumulates in int32. Micro-tile: kMr rows x 16 columns = 4 *
// kMr int32x4 accumulators. B layout: k-major rows of 16, k padded to 8 with
// zeros; an A k tail is copied into a zeroed 8-byte buffer, so A is never read
// past k.
#include <arm_neon.h>

#include <cstring>

#include "runtime/kernels/gemm_u8s8_impl.h"

namespace sq::kernels::gemm_detail {
namespace {

constexpr int kMr = 4;
constexpr int kNr = kNeonLayout.nr;
static_assert(kNr == 16 && kNeonLayout.kg == 1 && kNeonLayout.k_align == 8);

inline int16x8_t load_a8(const uint8_t* p, int64_t avail) {
  if (avail >= 8) return vreinterpretq_s16_u16(vmovl_u8(vld1_u8(p)));
  uint8_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::memcpy(buf, p, static_cast<size_t>(avail));
  return vreinterpretq_s16_u16(vmovl_u8(vld1_u8(buf)));
}

template <int MR, int L>
inline void step(const int8_t* bp, const int16x8_t (&a)[MR], int32x4_t (&acc)[MR][4]) {
  const int8x16_t b8 = vld1q_s8(bp + L * kNr);
  const int16x8_t lo = vmovl_s8(vget_low_s8(b8));
  const int16x8_t hi = vmovl_high_s8(b8);
  for (int r = 0; r < MR; ++r) {
    acc[r][0] = vmlal_laneq_s16(acc[r][0], vget_low_s16(lo), a[r], L);
    acc[r][1] = vmlal_high_laneq_s16(acc[r][1], lo, a[r], L);
    acc[r][2] = vmlal_laneq_s16(acc[r][2], vget_low_s16(hi), a[r], L);
    acc[r][3] = vmlal_high_laneq_s16(acc[r][3], hi, a[r], L);
  }
}

template <int MR>
void run_tile(const GemmArgs& g, int64_t i0, int64_t j0, int nc, const int32_t* row_terms) {
  const int8_t* bp = g.b + (j0 / kNr) * g.k_pad * kNr;
  const uint8_t* a0 = g.a + i0 * g.lda;
  int32x4_t acc[MR][4];
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < 4; ++q) acc[r][q] = vdupq_n_s32(0);
  }
  for (int64_t k0 = 0; k0 < g.k; k0 += 8, bp += 8 * kNr) {
    int16x8_t a[MR];
    for (int r = 0; r < MR; ++r) a[r] = load_a8(a0 + r * g.lda + k0, g.k - k0);
    step<MR, 0>(bp, a, acc);
    step<MR, 1>(bp, a, acc);
    step<MR, 2>(bp, a, acc);
    step<MR, 3>(bp, a, acc);
    step<MR, 4>(bp, a, acc);
    step<MR, 5>(bp, a, acc);
    step<MR, 6>(bp, a, acc);
    step<MR, 7>(bp, a, acc);
  }

  float* c0 = g.c + i0 * g.ldc + j0;
  if (nc != kNr) {
    int32_t tmp[MR][kNr];
    for (int r = 0; r < MR; ++r) {
      for (int q = 0; q < 4; ++q) vst1q_s32(tmp[r] + 4 * q, acc[r][q]);
    }
    finish_tile(g, &tmp[0][0], kNr, i0, MR, j0, nc, row_terms, 0);
    return;
  }
  for (int q = 0; q < 4; ++q) {  // acc + k*az*bz - az*col_sum + row_term, then one fma
    const int64_t j = j0 + 4 * q;
    const int32x4_t col_term = vsubq_s32(
        vdupq_n_s32(g.kab), vmulq_s32(vdupq_n_s32(g.e.a_zero), vld1q_s32(g.col_sums + j)));
    float32x4_t mult = vdupq_n_f32(g.e.scale);
    if (g.e.col_scale) mult = vmulq_f32(mult, vld1q_f32(g.e.col_scale + j));
    const float32x4_t bias = g.e.bias ? vld1q_f32(g.e.bias + j) : vdupq_n_f32(0.0f);
    for (int r = 0; r < MR; ++r) {
      const int32x4_t v = vaddq_s32(vaddq_s32(acc[r][q], col_term), vdupq_n_s32(row_terms[r]));
      vst1q_f32(c0 + r * g.ldc + 4 * q, vfmaq_f32(bias, vcvtq_f32_s32(v), mult));
    }
  }
}

template <int MR>
void row_block(const GemmArgs& g, int64_t i0) {
  int32_t row_terms[MR];
  for (int r = 0; r < MR; ++r) row_terms[r] = row_term(g, i0 + r);
  for (int64_t j0 = g.n_begin; j0 < g.n_end; j0 += kNr) {
    const int64_t left = g.n_end - j0;
    run_tile<MR>(g, i0, j0, left < kNr ? static_cast<int>(left) : kNr, row_terms);
  }
}

}  // namespace

void gemm_neon(const GemmArgs& g) {
  int64_t i0 = 0;
  for (; i0 + kMr <= g.m; i0 += kMr) row_block<kMr>(g, i0);
  switch (g.m - i0) {
    case 1:
      row_block<1>(g, i0);
      break;
    case 2:
      row_block<2>(g, i0);
      break;
    case 3:
      row_block<3>(g, i0);
      break;
    default:
      break;
  }
  static_assert(kMr == 4, "update the m-tail switch");
}

}  // namespace sq::kernels::gemm_detail
