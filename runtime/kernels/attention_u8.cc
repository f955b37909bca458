// Dispatch of the int8 attention kernel to its ISA variants; parameters an optimized variant does
// not handle (p_bits > 8, d > 256, ...) run the scalar reference.
#include "runtime/kernels/attention_u8.h"

#include <algorithm>
#include <cassert>

#include "runtime/kernels/attention_u8_internal.h"

namespace sq::kernels {

int64_t attention_row_block(Isa isa) {
  switch (isa) {
#if defined(SQ_HAVE_X86_KERNELS)
    case Isa::kAvx2:
    case Isa::kAvx512Vnni:
      return attention_u8_avx2_row_block();
#endif
#if defined(SQ_HAVE_ARM_KERNELS)
    case Isa::kNeon:
    case Isa::kNeonDot:
      return attention_u8_neon_row_block();
#endif
    default:
      return 1;
  }
}

size_t attention_scratch_bytes(int64_t lk, int64_t dv, Isa isa) {
  size_t bytes = attention_u8_ref_scratch_bytes(lk, dv);
  switch (isa) {
#if defined(SQ_HAVE_X86_KERNELS)
    case Isa::kAvx2:
    case Isa::kAvx512Vnni:
      bytes = std::max(bytes, attention_u8_avx2_scratch_bytes(lk, dv));
      break;
#endif
#if defined(SQ_HAVE_ARM_KERNELS)
    case Isa::kNeon:
    case Isa::kNeonDot:
      bytes = std::max(bytes, attention_u8_neon_scratch_bytes(lk, dv));
      break;
#endif
    default:
      break;
  }
  return bytes;
}

void attention_u8(const AttentionParams& p, int64_t row_begin, int64_t row_end, void* scratch,
                  Isa isa) {
  assert(0 <= row_begin && row_begin <= row_end && row_end <= p.lq);
  assert(p.p_mult != nullptr && p.p_add != nullptr && p.correction_rows >= 1);
  assert((reinterpret_cast<uintptr_t>(scratch) & 63) == 0);
  if (row_begin == row_end) return;
  if (attention_fast_path_ok(p)) {
    switch (isa) {
#if defined(SQ_HAVE_X86_KERNELS)
      case Isa::kAvx2:
        attention_u8_avx2(p, row_begin, row_end, scratch);
        return;
      case Isa::kAvx512Vnni:
        attention_u8_avx512vnni(p, row_begin, row_end, scratch);
        return;
#endif
#if defined(SQ_HAVE_ARM_KERNELS)
      case Isa::kNeon:
        attention_u8_neon(p, row_begin, row_end, scratch);
        return;
      case Isa::kNeonDot:
        attention_u8_neondot(p, row_begin, row_end, scratch);
        return;
#endif
      default:
        break;
    }
  }
  attention_u8_ref(p, row_begin, row_end, scratch);
}

}  // namespace sq::kernels
