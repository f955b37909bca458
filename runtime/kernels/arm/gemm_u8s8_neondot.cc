// NEON dot-product kernel for gemm_u8s8_f32. sdot multiplies s8 x s8 (udot u8 x
// u8); our product is u8 x s8, so A is biased to int8 on load (a - 128, an xor
// with 0x80) and the bias is undone exactly in the epilogue: sum (a - 128) b =
// sum a b - 128 * col_sum, i.e. the kernel's a_offset is 128. B is packed in
// 4-k groups of 16 columns ([panel][k/4][16][4]), k padded to 16 with zeros;
// each 16 bytes of an A row hold 4 groups and vdotq_laneq_s32 picks one.
// Micro-tile: kMr rows x 16 columns = 4 * kMr int32x4 accumulators. An A k tail
// is copied into a zeroed buffer (its padding meets zero B rows), so A is never
// read past k.
#include <arm_neon.h>

#include <cstring>

#include "runtime/kernels/gemm_u8s8_impl.h"

namespace sq::kernels::gemm_detail {
namespace {

constexpr int kMr = 4;
constexpr int kNr = kNeonDotLayout.nr;
constexpr int32_t kAOffset = 128;
static_assert(kNr == 16 && kNeonDotLayout.kg == 4 && kNeonDotLayout.k_align == 16);

// 16 k values of an A row minus 128, as int8; zero (i.e. -128 after the bias)
// past `avail`.
inline int8x16_t load_a16(const uint8_t* p, int64_t avail) {
  const uint8x16_t bias = vdupq_n_u8(0x80);
  if (avail >= 16) return vreinterpretq_s8_u8(veorq_u8(vld1q_u8(p), bias));
  uint8_t buf[16] = {};
  std::memcpy(buf, p, static_cast<size_t>(avail));
  return vreinterpretq_s8_u8(veorq_u8(vld1q_u8(buf), bias));
}

// One 4-k group G of the 16 loaded: acc[r][q] (columns 4q..4q+3) += B group .
// A[r] group G.
template <int MR, int G>
inline void step(const int8_t* bp, const int8x16_t (&a)[MR], int32x4_t (&acc)[MR][4]) {
  int8x16_t b[4];
  for (int q = 0; q < 4; ++q) b[q] = vld1q_s8(bp + G * 4 * kNr + 16 * q);
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < 4; ++q) acc[r][q] = vdotq_laneq_s32(acc[r][q], b[q], a[r], G);
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
  for (int64_t k0 = 0; k0 < g.k; k0 += 16, bp += 16 * kNr) {
    int8x16_t a[MR];
    for (int r = 0; r < MR; ++r) a[r] = load_a16(a0 + r * g.lda + k0, g.k - k0);
    step<MR, 0>(bp, a, acc);
    step<MR, 1>(bp, a, acc);
    step<MR, 2>(bp, a, acc);
    step<MR, 3>(bp, a, acc);
  }

  float* c0 = g.c + i0 * g.ldc + j0;
  if (nc != kNr) {
    int32_t tmp[MR][kNr];
    for (int r = 0; r < MR; ++r) {
      for (int q = 0; q < 4; ++q) vst1q_s32(tmp[r] + 4 * q, acc[r][q]);
    }
    finish_tile(g, &tmp[0][0], kNr, i0, MR, j0, nc, row_terms, kAOffset);
    return;
  }
  // acc + k*az*bz - (az - 128)*col_sum + row_term, then one fma
  for (int q = 0; q < 4; ++q) {
    const int64_t j = j0 + 4 * q;
    const int32x4_t col_term =
        vsubq_s32(vdupq_n_s32(g.kab),
                  vmulq_s32(vdupq_n_s32(g.e.a_zero - kAOffset), vld1q_s32(g.col_sums + j)));
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

void gemm_neondot(const GemmArgs& g) {
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
