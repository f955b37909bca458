// Why this exists: the private contract between the int8 GEMM dispatcher (gemm_u8s8.cc) and its
// per-ISA kernels (ref/, x86/, arm/): the packed-B layout of each ISA, the plain-pointer argument
// block every kernel takes, and the few epilogue helpers the kernels share for tails.
//
// Packed B layout (all ISAs): panels of `nr` columns, each panel padded_k(k) * nr bytes; inside a
// panel, groups of `kg` consecutive k values, each group nr * kg bytes, column-major inside the
// group:  data[p * panel_bytes + (kk / kg) * nr * kg + c * kg + kk % kg] = B[kk][p * nr + c].
// Rows kk >= k and columns >= n are zero.
//
// ISA translation units are compiled with their own -m flags. Anything inline they share with
// baseline code could be emitted as a COMDAT with AVX-512 instructions and picked by the linker
// for the scalar path, so this header holds declarations and constants only; the shared helpers
// are defined out of line in gemm_u8s8.cc (baseline flags).
#pragma once

#include <cstdint>

#include "runtime/kernels/gemm_u8s8.h"

namespace sq::kernels::gemm_detail {

struct GemmLayout {
  int nr;       // columns per panel (== gemm_column_block)
  int kg;       // consecutive k values per column inside a group
  int k_align;  // k padded to a multiple of this (a multiple of kg)
};

inline constexpr GemmLayout kScalarLayout{1, 1, 1};
inline constexpr GemmLayout kAvx2Layout{16, 2, 2};        // int16 pairs for vpmaddwd
inline constexpr GemmLayout kAvx512VnniLayout{32, 4, 4};  // 4-k groups for vpdpbusd, 2 zmm
inline constexpr GemmLayout kNeonLayout{16, 1, 8};        // k-major rows, 8 k per A load
inline constexpr GemmLayout kNeonDotLayout{16, 4, 16};    // 4-k groups for sdot, 16 k per A load

GemmLayout layout_of(Isa isa);

// Everything a kernel needs, as plain pointers (no shared_ptr / vector code in ISA units).
struct GemmArgs {
  const uint8_t* a;
  int64_t m, lda;
  const int8_t* b;          // packed data
  const int32_t* col_sums;  // [n]
  int64_t k, n, k_pad;      // k_pad: padded k, panel p starts at b + p * k_pad * nr
  int64_t n_begin, n_end;
  GemmU8S8Epilogue e;
  int32_t kab;  // k * a_zero * b_zero (mod 2^32)
  float* c;
  int64_t ldc;
};

void gemm_ref(const GemmArgs& g);
void gemm_avx2(const GemmArgs& g);
void gemm_avx512vnni(const GemmArgs& g);
void gemm_neon(const GemmArgs& g);
void gemm_neondot(const GemmArgs& g);

// sum_k row[kk], exact.
int32_t row_sum_u8(const uint8_t* row, int64_t k);

// -b_zero * sum_k A[i][kk] (mod 2^32); 0 when b_zero == 0 (without reading A).
int32_t row_term(const GemmArgs& g, int64_t i);

// Epilogue for an mr x nc tile at (i0, j0) whose raw sums sum_k a' * B are raw[r * ld_raw + jj],
// where a' = A - a_offset (kernels that bias A to int8 use a_offset = 128, others 0):
//   acc = raw + k*a_zero*b_zero - (a_zero - a_offset) * col_sum[j] + row_terms[r]   (mod 2^32)
//   C   = fma(float(acc), multiplier[j], bias[j])
// Used by vector kernels for tiles whose columns run past n_end; bit-identical to their vector
// epilogue and to the reference.
void finish_tile(const GemmArgs& g, const int32_t* raw, int64_t ld_raw, int64_t i0, int mr,
                 int64_t j0, int nc, const int32_t* row_terms, int32_t a_offset);

}  // namespace sq::kernels::gemm_detail
