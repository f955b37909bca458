// Why this exists: the integer GEMM behind every quantized MatMul, Gemm and 1x1 Conv, and behind
// activation x activation products. A is uint8 (asymmetric activations), B is int8 (symmetric
// weights, or an activation shifted by -128), accumulation is exact in int32, and the epilogue
// applies zero points, scales and bias and writes float:
//
//   acc[i][j] = sum_k (A[i][k] - a_zero) * (B[k][j] - b_zero)              (exact, int32)
//   C[i][j]   = fma(float(acc[i][j]), multiplier[j], bias[j])               (one rounding)
//   multiplier[j] = scale * col_scale[j]  (col_scale == nullptr: scale), bias == nullptr: 0
//
// B is packed once (weights: at model load) into the layout of the ISA's micro-kernel; the pack
// also records B's column sums so the a_zero term costs nothing per call. Every ISA's kernel
// gives bit-identical results to the scalar reference (same int32 sums, same single fma).
// Kernels are single-threaded and never allocate: callers split rows or column blocks across
// threads (column ranges must start at a multiple of gemm_column_block(isa)).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "runtime/kernels/isa.h"

namespace sq::kernels {

struct PackedMatrixS8 {
  Isa isa = Isa::kScalar;  // kernel whose layout `data` is in
  int64_t k = 0, n = 0;
  // Packed values, 64-byte aligned, layout private to the ISA's kernel (zero padded): memory of
  // its own (pack_b_s8) or of someone else (packed_b_s8_view: a mapped .sqm file).
  std::shared_ptr<const int8_t[]> data;
  int64_t data_bytes = 0;
  std::span<const int32_t> col_sums;  // sum_k B[k][j], j < n; kept alive by `data`'s owner
};

// Packs B given by strides: B[kk][j] = b[kk * stride_k + j * stride_n]. A MatMul weight [K, N]
// has stride_k = N, stride_n = 1; a Gemm transB / Conv weight [N, K] has stride_k = 1,
// stride_n = K.
PackedMatrixS8 pack_b_s8(const int8_t* b, int64_t k, int64_t n, int64_t stride_k,
                         int64_t stride_n, Isa isa = default_isa());

// Bytes of packed data for a K x N matrix in `isa`'s layout (a multiple of 64, at least 64).
// Every ISA's layout is known here, whether or not its kernel is compiled into this binary.
int64_t packed_b_bytes(int64_t k, int64_t n, Isa isa);

// pack_b_s8 into memory the caller owns: `out` holds packed_b_bytes(k, n, isa) bytes (64-byte
// aligned), `col_sums` n values. For writers that store packed weights (a compiled .sqm).
void pack_b_s8_into(const int8_t* b, int64_t k, int64_t n, int64_t stride_k, int64_t stride_n,
                    Isa isa, int8_t* out, int32_t* col_sums);

// A packed matrix over memory it does not own, without copying: `data` holds
// packed_b_bytes(k, n, isa) bytes in `isa`'s layout, 64-byte aligned, `col_sums` n values, and
// `owner` keeps both alive. The caller has checked sizes and alignment.
PackedMatrixS8 packed_b_s8_view(Isa isa, int64_t k, int64_t n, const int8_t* data,
                                const int32_t* col_sums, std::shared_ptr<const void> owner);

// The same matrix in another ISA's layout (packed for one machine, run on another). Reads any
// ISA's layout; bit-identical to packing the original B for `isa`.
PackedMatrixS8 repack_b_s8(const PackedMatrixS8& from, Isa isa);

// Column j of B (its k values, in order) read from a matrix packed for any ISA: a tied embedding
// table gathers its rows from the LM head's packed weight, which holds the table transposed.
void packed_b_column(const PackedMatrixS8& b, int64_t j, int8_t* out);

struct GemmU8S8Epilogue {
  int32_t a_zero = 0;
  int32_t b_zero = 0;   // nonzero only for activation x activation products
  float scale = 1.0f;
  const float* col_scale = nullptr;  // [n] or nullptr
  const float* bias = nullptr;       // [n] or nullptr
};

// Columns a column range given to gemm_u8s8_f32 must start at a multiple of.
int64_t gemm_column_block(Isa isa);

// C[i][j] for i < m, n_begin <= j < n_end (row-major, leading dimension ldc; C points at row 0,
// column 0). A is row-major [m][b.k] with leading dimension lda. Uses b.isa's kernel.
void gemm_u8s8_f32(const uint8_t* a, int64_t m, int64_t lda, const PackedMatrixS8& b,
                   int64_t n_begin, int64_t n_end, const GemmU8S8Epilogue& epilogue, float* c,
                   int64_t ldc);

}  // namespace sq::kernels
