// AVX2 variant of the int8 attention kernel: vpmaddwd + vpaddd accumulation. The algorithm is in
// attention_u8_x86_body.h (shared with the AVX-512 VNNI variant).
#include <immintrin.h>

#define SQ_ATTN_DOT_ACC(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))
#define SQ_ATTN_ENTRY attention_u8_avx2
#include "runtime/kernels/x86/attention_u8_x86_body.h"

namespace sq::kernels {

int64_t attention_u8_avx2_row_block() { return kRows; }

size_t attention_u8_avx2_scratch_bytes(int64_t lk, int64_t dv) {
  return scratch_bytes(lk, dv, nullptr, nullptr);
}

}  // namespace sq::kernels
