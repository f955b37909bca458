// Why this exists: QuantizeLinear to uint8 with one scale and zero point is on the int8 engine's
// path before every integer product, so it has a vectorized kernel. It computes exactly
// quant_math.h's quantize_value (x / scale, round half to even, + zero point, saturate to
// [0, 255], NaN -> zero point) for every ISA variant: IEEE division and round-to-nearest-even
// are the same in SIMD and scalar code.
#pragma once

#include <cstdint>

#include "runtime/kernels/isa.h"

namespace sq::kernels {

void quantize_f32_u8(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* y,
                     Isa isa = default_isa());

}  // namespace sq::kernels
