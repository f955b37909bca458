// QuantizeLinear / DequantizeLinear per tensor and per axis (saturation, ties to even, default
// zero point), and the shared arithmetic of runtime/kernels/quant_math.h.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "runtime/kernels/quant_math.h"
#include "tests/test_util.h"

namespace sq::test {
namespace {

using A = Attribute;
using F = std::vector<float>;
using I = std::vector<int64_t>;

Tensor f32(Shape s, F v) { return Tensor::from_vector<float>(std::move(s), v); }
template <typename T>
Tensor ints(Shape s, const std::vector<T>& v) {
  return Tensor::from_vector<T>(std::move(s), v);
}

Tensor run1(const std::string& op, const std::vector<std::pair<std::string, Tensor>>& in,
            const std::map<std::string, Attribute>& attrs = {}) {
  return run_single_op(op, in, attrs)[0];
}

// ------------------------------------------------------------------------- QuantizeLinear

TEST(QuantizeLinear, PerTensorUint8TiesToEvenAndSaturation) {
  Tensor x = f32({8}, {0, 1, 3, 5, -1, -3, 1000, -1000});
  Tensor y = run1("QuantizeLinear",
                  {{"x", x}, {"s", Tensor::scalar_f32(2)}, {"z", ints<uint8_t>({}, {128})}});
  EXPECT_EQ(y.dtype(), DType::kUInt8);
  // x / 2 = 0, 0.5, 1.5, 2.5, -0.5, -1.5, 500, -500 -> 0, 0, 2, 2, 0, -2, sat, sat.
  EXPECT_EQ(y.to_int64_vector(), (I{128, 128, 130, 130, 128, 126, 255, 0}));
}

TEST(QuantizeLinear, Int8WithNegativeZeroPoint) {
  Tensor x = f32({4}, {-300, 2.5f, 3.5f, 127});
  Tensor y = run1("QuantizeLinear",
                  {{"x", x}, {"s", Tensor::scalar_f32(1)}, {"z", ints<int8_t>({}, {-1})}});
  EXPECT_EQ(y.dtype(), DType::kInt8);
  EXPECT_EQ(y.to_int64_vector(), (I{-128, 1, 3, 126}));
}

TEST(QuantizeLinear, ZeroPointDefaultsToUint8Zero) {
  Tensor y = run1("QuantizeLinear", {{"x", f32({4}, {-1, 0.4f, 0.6f, 300})}, {"s", f32({1}, {1})}});
  EXPECT_EQ(y.dtype(), DType::kUInt8);
  EXPECT_EQ(y.to_int64_vector(), (I{0, 0, 1, 255}));
}

TEST(QuantizeLinear, PerAxisDefaultAndNegativeAxis) {
  Tensor x = f32({2, 3}, {1, 2, 4, -1, 5, 10});
  Tensor s = f32({3}, {1, 2, 4});
  Tensor z = ints<uint8_t>({3}, {0, 10, 20});
  // axis 1 (default): columns use (1, 0), (2, 10), (4, 20); 5/2 = 2.5 -> 2, 10/4 = 2.5 -> 2.
  Tensor y = run1("QuantizeLinear", {{"x", x}, {"s", s}, {"z", z}});
  EXPECT_EQ(y.to_int64_vector(), (I{1, 11, 21, 0, 12, 22}));
  Tensor y2 = run1("QuantizeLinear", {{"x", x}, {"s", s}, {"z", z}}, {{"axis", A::of_int(-1)}});
  EXPECT_EQ(y2.to_int64_vector(), y.to_int64_vector());
  // axis 0 on a [2, 3, 1] input: rows use (0.5, -3), (1, 3).
  Tensor y3 = run1("QuantizeLinear",
                   {{"x", f32({2, 3, 1}, {1, 2, 4, -1, 5, 10})},
                    {"s", f32({2}, {0.5f, 1})},
                    {"z", ints<int8_t>({2}, {-3, 3})}},
                   {{"axis", A::of_int(0)}});
  EXPECT_EQ(y3.to_int64_vector(), (I{-1, 1, 5, 2, 8, 13}));
}

TEST(QuantizeLinear, BadParamsAreErrors) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  try {
    run1("QuantizeLinear", {{"x", x}, {"s", f32({2}, {1, 1})}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test_QuantizeLinear"), std::string::npos) << e.what();
  }
  EXPECT_THROW(run1("QuantizeLinear",
                    {{"x", x}, {"s", f32({3}, {1, 1, 1})}, {"z", ints<uint8_t>({2}, {0, 0})}}),
               Error);
  EXPECT_THROW(run1("QuantizeLinear",
                    {{"x", x}, {"s", Tensor::scalar_f32(1)}, {"z", ints<int32_t>({}, {0})}}),
               Error);
}

// ----------------------------------------------------------------------- DequantizeLinear

TEST(DequantizeLinear, PerTensorUint8Int8Int32) {
  Tensor u = run1("DequantizeLinear", {{"x", ints<uint8_t>({3}, {0, 128, 255})},
                                       {"s", Tensor::scalar_f32(0.5f)},
                                       {"z", ints<uint8_t>({}, {128})}});
  EXPECT_EQ(u.to_float_vector(), (F{-64, 0, 63.5f}));
  Tensor i = run1("DequantizeLinear", {{"x", ints<int8_t>({2}, {-128, 127})},
                                       {"s", Tensor::scalar_f32(0.1f)},
                                       {"z", ints<int8_t>({}, {-1})}});
  EXPECT_EQ(i.to_float_vector(), (F{-127.0f * 0.1f, 128.0f * 0.1f}));
  Tensor w = run1("DequantizeLinear",
                  {{"x", ints<int32_t>({2}, {-5, 7})}, {"s", Tensor::scalar_f32(0.25f)}});
  EXPECT_EQ(w.to_float_vector(), (F{-1.25f, 1.75f}));
}

TEST(DequantizeLinear, PerAxis) {
  Tensor y = run1("DequantizeLinear",
                  {{"x", ints<int8_t>({2, 2}, {4, -4, 4, -4})},
                   {"s", f32({2}, {1, 0.5f})},
                   {"z", ints<int8_t>({2}, {0, 2})}},
                  {{"axis", A::of_int(0)}});
  EXPECT_EQ(y.to_float_vector(), (F{4, -4, 1, -3}));
}

TEST(DequantizeLinear, ZeroPointTypeMismatchIsError) {
  EXPECT_THROW(run1("DequantizeLinear", {{"x", ints<int8_t>({2}, {1, 2})},
                                         {"s", Tensor::scalar_f32(1)},
                                         {"z", ints<uint8_t>({}, {0})}}),
               Error);
}

TEST(QuantDequant, RoundTripPerChannelWithinHalfStep) {
  Tensor x = f32({3, 4}, {0.1f, -0.7f, 0.33f, 0.9f, 2.0f, -1.5f, 0.0f, 0.25f, -3, 3, 1, -1});
  Tensor s = f32({3}, {0.01f, 0.02f, 0.05f});
  Tensor z = ints<int8_t>({3}, {0, 5, -5});
  Tensor q = run1("QuantizeLinear", {{"x", x}, {"s", s}, {"z", z}}, {{"axis", A::of_int(0)}});
  Tensor d = run1("DequantizeLinear", {{"q", q}, {"s", s}, {"z", z}}, {{"axis", A::of_int(0)}});
  F xv = x.to_float_vector(), dv = d.to_float_vector();
  for (size_t i = 0; i < xv.size(); ++i) {
    EXPECT_LE(std::fabs(xv[i] - dv[i]), 0.5f * s.data<float>()[i / 4] + 1e-6f) << i;
  }
}

TEST(QuantizeLinear, LargeTensorsMatchScalarArithmetic) {
  // Big enough to be split across threads, per tensor and per axis.
  const int64_t rows = 7, cols = 20011;
  F v(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(static_cast<int64_t>(i % 613) - 300) / 64.0f;
  Tensor x = f32({rows, cols}, v);
  Tensor q = run1("QuantizeLinear",
                  {{"x", x}, {"s", Tensor::scalar_f32(0.03125f)}, {"z", ints<int8_t>({}, {3})}});
  Tensor s = f32({rows}, {0.01f, 0.02f, 0.03f, 0.04f, 0.05f, 0.06f, 0.07f});
  Tensor qa = run1("QuantizeLinear", {{"x", x}, {"s", s}}, {{"axis", A::of_int(0)}});
  const int8_t* qd = q.data<int8_t>();
  const uint8_t* qad = qa.data<uint8_t>();
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_EQ(qd[i], quantize_value(v[i], 0.03125f, 3, -128, 127)) << i;
    ASSERT_EQ(qad[i], quantize_value(v[i], s.data<float>()[i / cols], 0, 0, 255)) << i;
  }
}

// ------------------------------------------------------------------------- quant_math.h

TEST(QuantMath, RoundHalfEven) {
  EXPECT_EQ(round_half_even(0.5f), 0.0f);
  EXPECT_EQ(round_half_even(1.5f), 2.0f);
  EXPECT_EQ(round_half_even(2.5f), 2.0f);
  EXPECT_EQ(round_half_even(-0.5f), 0.0f);
  EXPECT_EQ(round_half_even(-1.5f), -2.0f);
  EXPECT_EQ(round_half_even(-2.5f), -2.0f);
  EXPECT_EQ(round_half_even(2.5000002f), 3.0f);
  EXPECT_EQ(round_half_even(-0.49999997f), 0.0f);
}

TEST(QuantMath, QuantizeDequantizeEdges) {
  constexpr QRange u8 = qrange_of<uint8_t>();
  EXPECT_EQ(u8.qmin, 0);
  EXPECT_EQ(u8.qmax, 255);
  constexpr QRange s4 = qrange_bits(4, true);
  EXPECT_EQ(s4.qmin, -8);
  EXPECT_EQ(s4.qmax, 7);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(quantize_value(inf, 0.1f, 3, 0, 255), 255);
  EXPECT_EQ(quantize_value(-inf, 0.1f, 3, 0, 255), 0);
  EXPECT_EQ(quantize_value(std::nanf(""), 0.1f, 3, 0, 255), 3);
  EXPECT_EQ(quantize_value(1e30f, 1e-30f, 0, -128, 127), 127);
  // Softmax grid s = 1/256, z = 0: 1.0 saturates to 255 (not representable).
  EXPECT_EQ(quantize_value(1.0f, 1.0f / 256, 0, 0, 255), 255);
  EXPECT_EQ(quantize_value(1.0f / 512, 1.0f / 256, 0, 0, 255), 0);  // tie -> even 0
  EXPECT_EQ(quantize_value(3.0f / 512, 1.0f / 256, 0, 0, 255), 2);  // tie -> even 2
  EXPECT_EQ(dequantize_value(255, 0.5f, 128), 63.5f);
  EXPECT_EQ(fake_quantize(0.3f, 0.25f, 0, 0, 255), 0.25f);
  EXPECT_EQ(fake_quantize(-1.0f, 0.25f, 0, 0, 255), 0.0f);
}

TEST(QuantMath, RequantizeFloatAndFixedAgree) {
  EXPECT_EQ(requantize(100, 0.025f, 10, -128, 127), 12);  // 2.5 -> 2 (+10)
  EXPECT_EQ(requantize(140, 0.025f, 10, -128, 127), 14);  // 3.5 -> 4 (+10)
  EXPECT_EQ(requantize(100000, 0.025f, 10, -128, 127), 127);
  for (double m : {0.75, 0.0123, 3.5e-5, 1.0, 2.75}) {
    const FixedMultiplier f = fixed_multiplier(m);
    EXPECT_GE(f.mantissa, int32_t{1} << 30);
    for (int32_t acc : {0, 1, -1, 7, -7, 1000, -1000, 123457, -99999, 1 << 20}) {
      const double exact =
          acc * (static_cast<double>(f.mantissa) * std::ldexp(1.0, f.exponent - 31));
      EXPECT_EQ(multiply_fixed(acc, f), static_cast<int32_t>(std::nearbyint(exact)))
          << "m=" << m << " acc=" << acc;
    }
  }
  // Exact ties round to even: 3 * 0.5 = 1.5 -> 2, 5 * 0.5 = 2.5 -> 2, -5 * 0.5 -> -2.
  const FixedMultiplier half = fixed_multiplier(0.5);
  EXPECT_EQ(multiply_fixed(3, half), 2);
  EXPECT_EQ(multiply_fixed(5, half), 2);
  EXPECT_EQ(multiply_fixed(-5, half), -2);
  EXPECT_EQ(requantize_fixed(5, half, 100, 0, 255), 102);
  EXPECT_EQ(requantize_fixed(1000, half, 100, 0, 255), 255);
}

TEST(QuantMath, ChooseQParams) {
  QParams a = choose_qparams_asymmetric(-1.0f, 3.0f, qrange_of<uint8_t>());
  EXPECT_FLOAT_EQ(a.scale, 4.0f / 255);
  EXPECT_EQ(a.zero_point, 64);  // round(0 - (-1) / (4/255)) = round(63.75)
  EXPECT_EQ(quantize_value(0.0f, a.scale, a.zero_point, 0, 255), a.zero_point);
  QParams pos = choose_qparams_asymmetric(0.5f, 2.0f, qrange_of<uint8_t>());  // range grows to 0
  EXPECT_EQ(pos.zero_point, 0);
  EXPECT_FLOAT_EQ(pos.scale, 2.0f / 255);
  QParams s = choose_qparams_symmetric(-2.0f, 1.0f, qrange_of<int8_t>());
  EXPECT_EQ(s.zero_point, 0);
  EXPECT_FLOAT_EQ(s.scale, 2.0f / 127);
  QParams su = choose_qparams_symmetric(-2.0f, 1.0f, qrange_of<uint8_t>());
  EXPECT_EQ(su.zero_point, 128);
  EXPECT_FLOAT_EQ(su.scale, 2.0f / 127);
  QParams degenerate = choose_qparams_asymmetric(0.0f, 0.0f, qrange_of<int8_t>());
  EXPECT_EQ(degenerate.scale, 1.0f);
  EXPECT_EQ(degenerate.zero_point, 0);
}

}  // namespace
}  // namespace sq::test
