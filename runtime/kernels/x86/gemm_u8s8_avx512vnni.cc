// AVX512-VNNI kernel for gemm_u8s8_f32. vpdpbusd multiplies u8 x s8 in groups of 4 consecutive k
// and adds the 4 products to an int32 lane without saturation, which is exactly our product, so
// B is packed in 4-k groups ([panel][k/4][32 columns][4]) and A is read in place: each 4 bytes of
// an A row are broadcast to all lanes. Micro-tile: kMr rows x 32 columns = 2 * kMr zmm
// accumulators. A k tail (k % 4 != 0) is loaded byte by byte into a zeroed group, so no byte of A
// past the row's k values is read; B's padding rows are zero.
// GCC 12 reports its own _mm512_undefined_ps() (used by _mm512_cvtepi32_ps) as uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstring>

#include "runtime/kernels/gemm_u8s8_impl.h"

namespace sq::kernels::gemm_detail {
namespace {

constexpr int kMr = 8;
constexpr int kNr = kAvx512VnniLayout.nr;
static_assert(kNr == 32 && kAvx512VnniLayout.kg == 4);

inline __m512i broadcast_group(const uint8_t* p, int bytes) {
  int32_t v = 0;
  std::memcpy(&v, p, static_cast<size_t>(bytes));
  return _mm512_set1_epi32(v);
}

template <int MR>
void run_tile(const GemmArgs& g, int64_t i0, int64_t j0, int nc, const int32_t* row_terms) {
  const int8_t* bp = g.b + (j0 / kNr) * g.k_pad * kNr;
  const uint8_t* a0 = g.a + i0 * g.lda;
  __m512i acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_si512();

  const int64_t groups = g.k / 4;
  for (int64_t q = 0; q < groups; ++q) {
    const __m512i b0 = _mm512_load_si512(bp);
    const __m512i b1 = _mm512_load_si512(bp + 64);
    bp += 2 * 64;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512i av = broadcast_group(a0 + r * g.lda + 4 * q, 4);
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, b1);
    }
  }
  if (const int rem = static_cast<int>(g.k % 4); rem != 0) {
    const __m512i b0 = _mm512_load_si512(bp);
    const __m512i b1 = _mm512_load_si512(bp + 64);
    for (int r = 0; r < MR; ++r) {
      const __m512i av = broadcast_group(a0 + r * g.lda + 4 * groups, rem);
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, b1);
    }
  }

  float* c0 = g.c + i0 * g.ldc + j0;
  if (nc != kNr) {
    alignas(64) int32_t tmp[MR][kNr];
    for (int r = 0; r < MR; ++r) {
      _mm512_store_si512(tmp[r], acc[r][0]);
      _mm512_store_si512(tmp[r] + 16, acc[r][1]);
    }
    finish_tile(g, &tmp[0][0], kNr, i0, MR, j0, nc, row_terms, 0);
    return;
  }
  // acc + k*az*bz - az*col_sum + row_term, then one fma.
  const __m512i kab = _mm512_set1_epi32(g.kab);
  const __m512i az = _mm512_set1_epi32(g.e.a_zero);
  for (int h = 0; h < 2; ++h) {
    const int64_t j = j0 + 16 * h;
    const __m512i cs = _mm512_loadu_si512(g.col_sums + j);
    const __m512i col_term = _mm512_sub_epi32(kab, _mm512_mullo_epi32(az, cs));
    __m512 mult = _mm512_set1_ps(g.e.scale);
    if (g.e.col_scale) mult = _mm512_mul_ps(mult, _mm512_loadu_ps(g.e.col_scale + j));
    const __m512 bias = g.e.bias ? _mm512_loadu_ps(g.e.bias + j) : _mm512_setzero_ps();
    for (int r = 0; r < MR; ++r) {
      const __m512i v =
          _mm512_add_epi32(_mm512_add_epi32(acc[r][h], col_term), _mm512_set1_epi32(row_terms[r]));
      _mm512_storeu_ps(c0 + r * g.ldc + 16 * h, _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), mult, bias));
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

void gemm_avx512vnni(const GemmArgs& g) {
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
    case 4:
      row_block<4>(g, i0);
      break;
    case 5:
      row_block<5>(g, i0);
      break;
    case 6:
      row_block<6>(g, i0);
      break;
    case 7:
      row_block<7>(g, i0);
      break;
    default:
      break;
  }
  static_assert(kMr == 8, "update the m-tail switch");
}

}  // namespace sq::kernels::gemm_detail
