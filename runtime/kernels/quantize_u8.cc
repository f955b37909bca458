#include "runtime/kernels/quantize_u8.h"

#include "runtime/kernels/quant_math.h"

namespace sq::kernels {

#if defined(SQ_HAVE_X86_KERNELS)
void quantize_f32_u8_avx2(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* y);
#endif
#if defined(SQ_HAVE_ARM_KERNELS)
void quantize_f32_u8_neon(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* y);
#endif

void quantize_f32_u8(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* y,
                     Isa isa) {
#if defined(SQ_HAVE_X86_KERNELS)
  if (isa == Isa::kAvx2 || isa == Isa::kAvx512Vnni) {
    quantize_f32_u8_avx2(x, n, scale, zero_point, y);
    return;
  }
#endif
#if defined(SQ_HAVE_ARM_KERNELS)
  if (isa == Isa::kNeon || isa == Isa::kNeonDot) {
    quantize_f32_u8_neon(x, n, scale, zero_point, y);
    return;
  }
#endif
  (void)isa;
  for (int64_t i = 0; i < n; ++i) {
    y[i] = static_cast<uint8_t>(quantize_value(x[i], scale, zero_point, 0, 255));
  }
}

}  // namespace sq::kernels
