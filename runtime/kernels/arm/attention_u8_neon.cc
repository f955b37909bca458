// NEON variant of the int8 attention kernel: int16 vmlal Q·Kᵀ. The algorithm is in
// attention_u8_neon_body.h (shared with the NEON dot-product variant).
#include <arm_neon.h>

#define SQ_ATTN_NEON_DOTPROD 0
#define SQ_ATTN_NEON_ENTRY attention_u8_neon
#include "runtime/kernels/arm/attention_u8_neon_body.h"

namespace sq::kernels {

int64_t attention_u8_neon_row_block() { return kRows; }

size_t attention_u8_neon_scratch_bytes(int64_t lk, int64_t dv) {
  return scratch_layout(lk, dv, nullptr, nullptr);
}

}  // namespace sq::kernels
