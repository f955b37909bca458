// Scalar reference for gemm_u8s8_f32: the definition in gemm_u8s8.h, written out directly.
// B is in kScalarLayout (one column per panel, k contiguous): column j starts at b + j * k.
#include <cmath>

#include "runtime/kernels/gemm_u8s8_impl.h"

namespace sq::kernels::gemm_detail {

void gemm_ref(const GemmArgs& g) {
  for (int64_t i = 0; i < g.m; ++i) {
    const uint8_t* a_row = g.a + i * g.lda;
    for (int64_t j = g.n_begin; j < g.n_end; ++j) {
      const int8_t* b_col = g.b + j * g.k;
      int64_t sum = 0;
      for (int64_t kk = 0; kk < g.k; ++kk) {
        sum += (int64_t{a_row[kk]} - g.e.a_zero) * (int64_t{b_col[kk]} - g.e.b_zero);
      }
      const int32_t acc = static_cast<int32_t>(sum);  // exact when it fits; else wraps mod 2^32
      const float mult = g.e.col_scale ? g.e.scale * g.e.col_scale[j] : g.e.scale;
      const float bias = g.e.bias ? g.e.bias[j] : 0.0f;
      g.c[i * g.ldc + j] = std::fma(static_cast<float>(acc), mult, bias);
    }
  }
}

}  // namespace sq::kernels::gemm_detail
