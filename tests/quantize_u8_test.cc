// The vectorized QuantizeLinear-to-uint8 kernel against quant_math.h's quantize_value on every
// available ISA: odd lengths (SIMD body and scalar tail), exact ties, NaN, infinities, values far
// outside the range, and extreme zero points.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "runtime/kernels/quant_math.h"
#include "runtime/kernels/quantize_u8.h"

namespace sq::kernels {
namespace {

TEST(QuantizeU8, EveryIsaMatchesTheDefinition) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 40.0f);
  const float inf = std::numeric_limits<float>::infinity();
  for (Isa isa : available_isas()) {
    for (float scale : {0.1f, 0.5f, 1.0f / 255, 3.0f}) {
      for (int32_t zero : {0, 1, 128, 254, 255}) {
        for (int64_t n : {0, 1, 7, 31, 32, 33, 64, 100}) {
          std::vector<float> x(static_cast<size_t>(n));
          for (size_t i = 0; i < x.size(); ++i) {
            switch (i % 7) {
              case 0: x[i] = (static_cast<float>(i % 9) - 4.0f + 0.5f) * scale; break;  // tie
              case 1: x[i] = std::nanf(""); break;
              case 2: x[i] = i % 2 ? inf : -inf; break;
              case 3: x[i] = 1e30f * (i % 2 ? 1.0f : -1.0f); break;
              case 4: x[i] = -0.0f; break;
              default: x[i] = normal(rng) * scale;
            }
          }
          std::vector<uint8_t> y(x.size(), 77);
          quantize_f32_u8(x.data(), n, scale, zero, y.data(), isa);
          for (size_t i = 0; i < x.size(); ++i) {
            ASSERT_EQ(y[i], quantize_value(x[i], scale, zero, 0, 255))
                << isa_name(isa) << " x=" << x[i] << " scale=" << scale << " zero=" << zero
                << " n=" << n << " i=" << i;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace sq::kernels
