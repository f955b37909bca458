// NEON dot-product variant of the int8 attention kernel: udot on the raw uint8 Q and K rows with
// the zero points applied afterwards (exact). Compiled with -march=armv8.2-a+dotprod; same
// algorithm, scratch and row block as the NEON variant (attention_u8_neon_body.h).
#include <arm_neon.h>

#define SQ_ATTN_NEON_DOTPROD 1
#define SQ_ATTN_NEON_ENTRY attention_u8_neondot
#include "runtime/kernels/arm/attention_u8_neon_body.h"
