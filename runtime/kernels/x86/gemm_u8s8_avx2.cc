// AVX2 kernel for gemm_u8s8_f32. vpmaddubsw would be the obvious instruction but it saturates to
// int16 (255 * 127 * 2 > 32767), so the products are made exact by widening instead: A is
// converted to int16 (one chunk of kKc k values at a time, into a stack buffer, zero padded past
// k), B is sign-extended from its packed int8 layout as it is loaded (vpmovsxbw), and vpmaddwd
// sums each k pair into int32 exactly. Micro-tile: kMr rows x 16 columns = 2 * kMr ymm
// accumulators. For k > kKc the int32 partial sums are parked in C (as int32 bit patterns)
// between chunks, so there is no allocation and no limit on k. With one or two rows (decode) the
// chunk is kKcDecode long, so for k up to that packed B is read front to back in one pass: one
// sequential stream the hardware prefetcher follows, instead of a jump to the next panel every
// kKc values.
#include <immintrin.h>

#include <cstring>

#include "runtime/kernels/gemm_u8s8_impl.h"

namespace sq::kernels::gemm_detail {
namespace {

constexpr int kMr = 4;
constexpr int kNr = kAvx2Layout.nr;
constexpr int64_t kKc = 512;         // k values per chunk (even)
constexpr int64_t kKcDecode = 4096;  // k values per chunk with one or two rows
static_assert(kNr == 16 && kAvx2Layout.kg == 2 && kKc % 16 == 0 && kKcDecode % 16 == 0);

// k values per chunk (and the stride of a widened A row) for an MR-row block.
template <int MR>
constexpr int64_t chunk_of() {
  return MR <= 2 ? kKcDecode : kKc;
}
constexpr int64_t kAbufValues = kMr * kKc > 2 * kKcDecode ? kMr * kKc : 2 * kKcDecode;

int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }

// dst[r * stride + kk] = A[r][kk] for kk < kc, 0 for kc <= kk < kc_pad; rows r < mr. Reads no
// byte of A past column kc.
void widen_a(const uint8_t* a, int64_t lda, int mr, int64_t kc, int64_t kc_pad, int64_t stride,
             int16_t* dst) {
  for (int r = 0; r < mr; ++r) {
    const uint8_t* src = a + r * lda;
    int16_t* d = dst + r * stride;
    int64_t kk = 0;
    for (; kk + 16 <= kc; kk += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + kk));
      _mm256_store_si256(reinterpret_cast<__m256i*>(d + kk), _mm256_cvtepu8_epi16(v));
    }
    for (; kk < kc; ++kk) d[kk] = src[kk];
    for (; kk < kc_pad; ++kk) d[kk] = 0;
  }
}

inline __m256i broadcast_pair(const int16_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

// acc[r][h] += sum over `pairs` k pairs of A16[r][2p, 2p+1] . B[2p, 2p+1][8h, 8h+8). Named
// accumulators: with an array GCC spilled one of them inside the loop.
template <int MR>
inline __attribute__((always_inline)) void accumulate(const int16_t* ap, const int8_t* bp,
                                                      int64_t pairs, __m256i (&acc)[kMr][2]) {
  static_assert(MR >= 1 && MR <= 6 && MR <= kMr);
  __m256i c00 = acc[0][0], c01 = acc[0][1], c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  if constexpr (MR > 1) c10 = acc[1][0], c11 = acc[1][1];
  if constexpr (MR > 2) c20 = acc[2][0], c21 = acc[2][1];
  if constexpr (MR > 3) c30 = acc[3][0], c31 = acc[3][1];
  if constexpr (MR > 4) c40 = acc[4][0], c41 = acc[4][1];
  if constexpr (MR > 5) c50 = acc[5][0], c51 = acc[5][1];
  for (int64_t p = 0; p < pairs; ++p) {
    const __m256i b0 = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(bp)));
    const __m256i b1 =
        _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(bp + 16)));
    // With one or two rows (decode) too little work hides the latency of streaming B from
    // memory: fetch 4 KB ahead.
    if constexpr (MR <= 2) _mm_prefetch(reinterpret_cast<const char*>(bp) + 4096, _MM_HINT_T0);
    bp += 32;
#define SQ_GEMM_ROW(r)                                                  \
  if constexpr (MR > r) {                                               \
    const __m256i av = broadcast_pair(ap + r * chunk_of<MR>() + 2 * p); \
    c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(av, b0));     \
    c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(av, b1));     \
  }
    SQ_GEMM_ROW(0)
    SQ_GEMM_ROW(1)
    SQ_GEMM_ROW(2)
    SQ_GEMM_ROW(3)
    SQ_GEMM_ROW(4)
    SQ_GEMM_ROW(5)
#undef SQ_GEMM_ROW
    // Keep every accumulator in a register across iterations (otherwise GCC 12 spills one).
    asm("" : "+x"(c00), "+x"(c01));
    if constexpr (MR > 1) asm("" : "+x"(c10), "+x"(c11));
    if constexpr (MR > 2) asm("" : "+x"(c20), "+x"(c21));
    if constexpr (MR > 3) asm("" : "+x"(c30), "+x"(c31));
    if constexpr (MR > 4) asm("" : "+x"(c40), "+x"(c41));
    if constexpr (MR > 5) asm("" : "+x"(c50), "+x"(c51));
  }
  acc[0][0] = c00, acc[0][1] = c01;
  if constexpr (MR > 1) acc[1][0] = c10, acc[1][1] = c11;
  if constexpr (MR > 2) acc[2][0] = c20, acc[2][1] = c21;
  if constexpr (MR > 3) acc[3][0] = c30, acc[3][1] = c31;
  if constexpr (MR > 4) acc[4][0] = c40, acc[4][1] = c41;
  if constexpr (MR > 5) acc[5][0] = c50, acc[5][1] = c51;
}

struct Tile {
  const GemmArgs* g;
  int64_t i0, j0;
  int nc;            // valid columns, <= 16
  bool first, last;  // first / last k chunk
  const int32_t* row_terms;
};

// One kMr x 16 tile over one k chunk: ap = widened A chunk, bp = packed B at the chunk's first
// pair, `pairs` k pairs.
template <int MR>
void run_tile(const Tile& t, const int16_t* ap, const int8_t* bp, int64_t pairs) {
  const GemmArgs& g = *t.g;
  float* c0 = g.c + t.i0 * g.ldc + t.j0;
  const bool full = t.nc == kNr;
  alignas(32) int32_t tmp[MR][kNr];
  __m256i acc[kMr][2];
  if (t.first) {
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  } else {  // resume from the int32 partial sums parked in C
    for (int r = 0; r < MR; ++r) {
      const void* src = c0 + r * g.ldc;
      if (!full) {
        std::memset(tmp[r], 0, sizeof tmp[r]);
        std::memcpy(tmp[r], src, sizeof(int32_t) * t.nc);
        src = tmp[r];
      }
      acc[r][0] = _mm256_loadu_si256(static_cast<const __m256i*>(src));
      acc[r][1] = _mm256_loadu_si256(static_cast<const __m256i*>(src) + 1);
    }
  }

  accumulate<MR>(ap, bp, pairs, acc);

  if (!t.last || !full) {
    for (int r = 0; r < MR; ++r) {
      void* dst = t.last || !full ? static_cast<void*>(tmp[r]) : static_cast<void*>(c0 + r * g.ldc);
      _mm256_storeu_si256(static_cast<__m256i*>(dst), acc[r][0]);
      _mm256_storeu_si256(static_cast<__m256i*>(dst) + 1, acc[r][1]);
      if (!t.last && !full) std::memcpy(c0 + r * g.ldc, tmp[r], sizeof(int32_t) * t.nc);
    }
    if (t.last) finish_tile(g, &tmp[0][0], kNr, t.i0, MR, t.j0, t.nc, t.row_terms, 0);
    return;
  }

  // Full tile, last chunk: acc + k*az*bz - az*col_sum + row_term, then one fma.
  const __m256i kab = _mm256_set1_epi32(g.kab);
  const __m256i az = _mm256_set1_epi32(g.e.a_zero);
  for (int h = 0; h < 2; ++h) {
    const int64_t j = t.j0 + 8 * h;
    const __m256i cs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.col_sums + j));
    const __m256i col_term = _mm256_sub_epi32(kab, _mm256_mullo_epi32(az, cs));
    __m256 mult = _mm256_set1_ps(g.e.scale);
    if (g.e.col_scale) mult = _mm256_mul_ps(mult, _mm256_loadu_ps(g.e.col_scale + j));
    const __m256 bias = g.e.bias ? _mm256_loadu_ps(g.e.bias + j) : _mm256_setzero_ps();
    for (int r = 0; r < MR; ++r) {
      const __m256i v = _mm256_add_epi32(_mm256_add_epi32(acc[r][h], col_term),
                                         _mm256_set1_epi32(t.row_terms[r]));
      _mm256_storeu_ps(c0 + r * g.ldc + 8 * h, _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), mult, bias));
    }
  }
}

template <int MR>
void row_block(const GemmArgs& g, int64_t i0, int16_t* abuf) {
  int32_t row_terms[MR];
  for (int r = 0; r < MR; ++r) row_terms[r] = row_term(g, i0 + r);
  const int64_t panel_bytes = g.k_pad * kNr;
  constexpr int64_t kChunk = chunk_of<MR>();
  for (int64_t k0 = 0; k0 < g.k; k0 += kChunk) {
    const int64_t kc = min64(kChunk, g.k - k0);
    const int64_t kc_pad = (kc + 1) & ~int64_t{1};
    widen_a(g.a + i0 * g.lda + k0, g.lda, MR, kc, kc_pad, kChunk, abuf);
    Tile t{&g, i0, 0, 0, k0 == 0, k0 + kc >= g.k, row_terms};
    for (int64_t j0 = g.n_begin; j0 < g.n_end; j0 += kNr) {
      t.j0 = j0;
      t.nc = static_cast<int>(min64(kNr, g.n_end - j0));
      run_tile<MR>(t, abuf, g.b + (j0 / kNr) * panel_bytes + k0 * kNr, kc_pad / 2);
    }
  }
}

}  // namespace

void gemm_avx2(const GemmArgs& g) {
  alignas(32) int16_t abuf[kAbufValues];
  int64_t i0 = 0;
  for (; i0 + kMr <= g.m; i0 += kMr) row_block<kMr>(g, i0, abuf);
  switch (g.m - i0) {
    case 1:
      row_block<1>(g, i0, abuf);
      break;
    case 2:
      row_block<2>(g, i0, abuf);
      break;
    case 3:
      row_block<3>(g, i0, abuf);
      break;
    default:
      break;
  }
  static_assert(kMr == 4, "update the m-tail switch");
}

}  // namespace sq::kernels::gemm_detail
