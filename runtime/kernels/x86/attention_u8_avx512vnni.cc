// AVX-512 VNNI variant of the int8 attention kernel: the x86 body (attention_u8_x86_body.h) with
// vpdpwssd (AVX512-VNNI on 256-bit vectors, AVX512VL) fusing the int16 pair products and the
// int32 accumulation. vpdpwssd does not saturate and the int16 operands are in [-255, 255], so
// the int32 sums equal vpmaddwd + vpaddd exactly and the output matches the AVX2 variant and the
// scalar reference bit for bit. Scratch and row block as the AVX2 variant.
#include <immintrin.h>

#define SQ_ATTN_DOT_ACC(acc, a, b) _mm256_dpwssd_epi32((acc), (a), (b))
#define SQ_ATTN_ENTRY attention_u8_avx512vnni
#include "runtime/kernels/x86/attention_u8_x86_body.h"
