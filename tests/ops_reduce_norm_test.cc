// Reductions, ArgMax/ArgMin, CumSum, Softmax/LogSoftmax and the normalizations against
// hand-computed values (GroupNormalization against PyTorch 1.13), including attention-mask rows
// and the one-line errors for bad axes and parameter shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/op_test_helpers.h"

namespace sq::test {
namespace {

const float kInff = std::numeric_limits<float>::infinity();
const float kNaNf = std::numeric_limits<float>::quiet_NaN();
constexpr float kFloatMin = -3.4028234663852886e38f;  // the attention-mask constant

Attribute I(int64_t v) { return Attribute::of_int(v); }
Attribute Ints(std::vector<int64_t> v) { return Attribute::of_ints(std::move(v)); }

Tensor iota(Shape shape) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return f32(std::move(shape), v);
}

// ---- Reduce*. x[i][j][k] = 12i + 4j + k over [2,3,4]. ----

TEST(Reduce, SumKeepdimsAndNegativeAxes) {
  Tensor x = iota({2, 3, 4});
  expect_f32(run1("ReduceSum", {x}, {{"axes", Ints({1})}}, 11), {2, 1, 4},
             {12, 15, 18, 21, 48, 51, 54, 57});
  expect_f32(run1("ReduceSum", {x}, {{"axes", Ints({1})}, {"keepdims", I(0)}}, 11), {2, 4},
             {12, 15, 18, 21, 48, 51, 54, 57});
  expect_f32(run1("ReduceSum", {x}, {{"axes", Ints({-1})}}, 11), {2, 3, 1},
             {6, 22, 38, 54, 70, 86});
  // Leading axis: [outer=1, 2, inner=12].
  std::vector<double> lead;
  for (int r = 0; r < 12; ++r) lead.push_back(2 * r + 12);
  expect_f32(run1("ReduceSum", {x}, {{"axes", Ints({0})}, {"keepdims", I(0)}}, 11), {3, 4}, lead);
  // Non-adjacent axes.
  expect_f32(run1("ReduceSum", {x}, {{"axes", Ints({0, -1})}}, 11), {1, 3, 1}, {60, 92, 124});
}

TEST(Reduce, AxesAsInput) {
  Tensor x = iota({2, 3, 4});
  // ReduceSum takes axes as an input from opset 13, the others from 18.
  expect_f32(run1("ReduceSum", {x, i64({2}, {0, 2})}, {{"keepdims", I(0)}}, 13), {3},
             {60, 92, 124});
  expect_f32(run1("ReduceMax", {x, i64({2}, {-3, 2})}, {}, 18), {1, 3, 1}, {15, 19, 23});
  expect_f32(run1("ReduceMin", {x, i64({2}, {0, 2})}, {{"keepdims", I(0)}}, 18), {3}, {0, 4, 8});
  // Empty axes: reduce everything, unless noop_with_empty_axes.
  expect_f32(run1("ReduceMean", {x, i64({0}, {})}, {}, 18), {1, 1, 1}, {11.5});
  expect_f32(run1("ReduceMean", {x}, {{"keepdims", I(0)}}, 18), {}, {11.5});
  Tensor same = run1("ReduceSum", {x, i64({0}, {})}, {{"noop_with_empty_axes", I(1)}}, 18);
  const std::vector<float> xv = x.to_float_vector();
  expect_f32(same, {2, 3, 4}, std::vector<double>(xv.begin(), xv.end()));
}

TEST(Reduce, OtherKinds) {
  Tensor x = f32({2, 2}, {1, 2, 3, 4});
  expect_f32(run1("ReduceProd", {x}, {{"axes", Ints({0})}}, 17), {1, 2}, {3, 8});
  expect_f32(run1("ReduceProd", {x}, {{"axes", Ints({1})}, {"keepdims", I(0)}}, 17), {2}, {2, 12});
  expect_f32(run1("ReduceL2", {f32({2, 2}, {3, 4, 6, 8})}, {{"axes", Ints({1})}}, 17), {2, 1},
             {5, 10});
  expect_f32(run1("ReduceSumSquare", {x}, {{"axes", Ints({1})}}, 17), {2, 1}, {5, 25});
  expect_f32(run1("ReduceL1", {f32({3}, {-1, 2, -3})}, {}, 17), {1}, {6});
  expect_f32(run1("ReduceMean", {x}, {{"axes", Ints({0})}}, 17), {1, 2}, {2, 3});
  expect_f32(run1("ReduceMax", {f32({3}, {1, kNaNf, 3})}, {}, 17), {1},
             {std::numeric_limits<double>::quiet_NaN()});
  Tensor s = run1("ReduceSum", {i64({2, 3}, {1, 2, 3, 4, 5, 6}), i64({1}, {0})}, {}, 13);
  ASSERT_EQ(s.dtype(), DType::kInt64);
  EXPECT_EQ(s.to_int64_vector(), (std::vector<int64_t>{5, 7, 9}));
  EXPECT_EQ(
      run1("ReduceMax", {i32({2, 2}, {-5, 3, 2, -1})}, {{"axes", Ints({1})}}, 17).to_int64_vector(),
      (std::vector<int64_t>{3, 2}));
}

TEST(Reduce, BadAxes) {
  Tensor x = iota({2, 3, 4});
  expect_error(
      [&] {
        run1("ReduceSum", {x}, {{"axes", Ints({3})}}, 11);
      },
      {"test_ReduceSum", "axes 3 is out of range", "rank 3"});
  expect_error(
      [&] {
        run1("ReduceSum", {x}, {{"axes", Ints({1, -2})}}, 11);
      },
      {"test_ReduceSum", "repeated"});
  expect_error(
      [&] {
        run1("ReduceMean", {x, i64({1}, {0})}, {{"axes", Ints({0})}}, 18);
      },
      {"test_ReduceMean", "both"});
  expect_error(
      [&] {
        run1("ReduceSum", {x, f32({1}, {0})}, {}, 13);
      },
      {"test_ReduceSum", "axes must be a 1-D int64 tensor"});
}

// ---- ArgMax / ArgMin / CumSum. ----

TEST(ArgReduce, KeepdimsAndLastIndex) {
  Tensor x = f32({2, 3}, {1, 5, 5, 7, 2, 7});
  Tensor a = run1("ArgMax", {x}, {{"axis", I(1)}});
  ASSERT_EQ(a.dtype(), DType::kInt64);
  EXPECT_EQ(a.shape(), (Shape{2, 1}));
  EXPECT_EQ(a.to_int64_vector(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(run1("ArgMax", {x}, {{"axis", I(-1)}, {"select_last_index", I(1)}}).to_int64_vector(),
            (std::vector<int64_t>{2, 2}));
  Tensor m = run1("ArgMin", {x}, {{"keepdims", I(0)}});
  EXPECT_EQ(m.shape(), (Shape{3}));
  EXPECT_EQ(m.to_int64_vector(), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(
      run1("ArgMin", {i64({4}, {3, 1, 1, 2})}, {{"select_last_index", I(1)}}).to_int64_vector(),
      (std::vector<int64_t>{2}));
  EXPECT_EQ(run1("ArgMax", {f32({3}, {1, kNaNf, 3})}).to_int64_vector(), (std::vector<int64_t>{1}));
  expect_error([&] { run1("ArgMax", {x}, {{"axis", I(2)}}); }, {"test_ArgMax", "axis 2"});
}

TEST(CumSum, ExclusiveReverse) {
  Tensor x = f32({4}, {1, 2, 3, 4});
  Tensor axis = i64({}, {0});
  expect_f32(run1("CumSum", {x, axis}), {4}, {1, 3, 6, 10});
  expect_f32(run1("CumSum", {x, axis}, {{"exclusive", I(1)}}), {4}, {0, 1, 3, 6});
  expect_f32(run1("CumSum", {x, axis}, {{"reverse", I(1)}}), {4}, {10, 9, 7, 4});
  expect_f32(run1("CumSum", {x, axis}, {{"reverse", I(1)}, {"exclusive", I(1)}}), {4},
             {9, 7, 4, 0});
  Tensor m = i64({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(run1("CumSum", {m, i64({1}, {0})}).to_int64_vector(),
            (std::vector<int64_t>{1, 2, 3, 5, 7, 9}));
  EXPECT_EQ(run1("CumSum", {m, i32({}, {-1})}).to_int64_vector(),
            (std::vector<int64_t>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(
      run1("CumSum", {i32({3}, {1, 1, 1}), i32({}, {0})}, {{"exclusive", I(1)}}).to_int64_vector(),
      (std::vector<int64_t>{0, 1, 2}));
  expect_error([&] { run1("CumSum", {x, i64({2}, {0, 0})}); }, {"test_CumSum", "axis"});
}

// ---- Softmax / LogSoftmax. ----

TEST(Softmax, RowsAndStridedAxis) {
  Tensor x = f32({2, 3}, {1, 2, 3, 0, 0, 0});
  const double third = 1.0 / 3;
  expect_f32(run1("Softmax", {x}), {2, 3},
             {0.0900305732, 0.244728471, 0.665240956, third, third, third});
  // axis 0: each column [a, b] gives [sigmoid(a - b), sigmoid(b - a)].
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  expect_f32(run1("Softmax", {x}, {{"axis", I(0)}}), {2, 3},
             {sig(1), sig(2), sig(3), sig(-1), sig(-2), sig(-3)});
  expect_f32(run1("LogSoftmax", {f32({3}, {1, 2, 3})}), {3},
             {-2.40760596, -1.40760596, -0.40760596});
}

TEST(Softmax, Float64AndFloat16) {
  const double e1 = std::exp(-1.0), e2 = std::exp(-2.0), s = 1 + e1 + e2;
  expect_values(run1("Softmax", {f64({3}, {1, 2, 3})}), DType::kFloat64, {3},
                {e2 / s, e1 / s, 1 / s}, 1e-14, 0);
  Tensor h = Tensor::from_vector<uint16_t>({2}, {float_to_half(0.0f), float_to_half(0.0f)});
  expect_values(run1("Softmax", {h}), DType::kFloat16, {2}, {0.5, 0.5}, 0, 0);
}

TEST(Softmax, Opset11CoercesTo2D) {
  Tensor x = iota({2, 2, 2});
  const std::vector<double> row4 = {0.0320586033, 0.0871443187, 0.236882818, 0.643914260};
  std::vector<double> want = row4;
  want.insert(want.end(), row4.begin(), row4.end());
  expect_f32(run1("Softmax", {x}, {}, 11), {2, 2, 2}, want);
  expect_f32(run1("Softmax", {x}, {}, 13), {2, 2, 2},
             {0.268941421, 0.731058579, 0.268941421, 0.731058579, 0.268941421, 0.731058579,
              0.268941421, 0.731058579});
}

TEST(Softmax, AttentionMasksGiveNoNaN) {
  const float kNegInf = -kInff;
  // Row 0: two float-min masked keys -> exact zeros. Row 1: every key float-min -> uniform.
  // Row 2: max is -inf (two masks added) -> uniform. Row 3: -inf and float-min mixed.
  Tensor x = f32({4, 4}, {1, 2, kFloatMin, kFloatMin,                  //
                          kFloatMin, kFloatMin, kFloatMin, kFloatMin,  //
                          kNegInf, kNegInf, kNegInf, kNegInf,          //
                          kNegInf, kFloatMin, kNegInf, kFloatMin});
  Tensor y = run1("Softmax", {x});
  expect_f32(y, {4, 4},
             {0.268941421, 0.731058579, 0, 0, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0,
              0.5, 0, 0.5});
  EXPECT_EQ(y.data<float>()[2], 0.0f);  // exactly zero on masked keys
  for (float v : y.to_float_vector()) EXPECT_TRUE(std::isfinite(v));
  // The -inf row really comes from adding two masks.
  Tensor sum = run1("Add", {f32({1}, {kFloatMin}), f32({1}, {kFloatMin})});
  EXPECT_EQ(sum.data<float>()[0], kNegInf);
  Tensor ly = run1("LogSoftmax", {x});
  const double lq = std::log(0.25);
  EXPECT_NEAR(ly.data<float>()[4], lq, 1e-6);
  EXPECT_NEAR(ly.data<float>()[8], lq, 1e-6);
  for (int i : {4, 5, 6, 7, 8, 9, 10, 11}) EXPECT_FALSE(std::isnan(ly.data<float>()[i]));
}

TEST(Softmax, ManyRowsMatchDoubleReference) {
  const int64_t rows = 3 * 40, len = 77;  // odd row length: lane tails
  std::vector<float> v(static_cast<size_t>(rows * len));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(std::sin(0.37 * i) * 8.0);
  Tensor y = run1("Softmax", {f32({3, 40, len}, v)});
  const float* py = y.data<float>();
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = v.data() + r * len;
    double m = row[0], s = 0;
    for (int64_t j = 0; j < len; ++j) m = std::max<double>(m, row[j]);
    for (int64_t j = 0; j < len; ++j) s += std::exp(row[j] - m);
    for (int64_t j = 0; j < len; ++j) {
      const double want = std::exp(row[j] - m) / s;
      worst = std::max(worst, std::fabs(py[r * len + j] - want) / want);
    }
  }
  EXPECT_LT(worst, 2e-6);
}

// ---- Normalizations. ----

TEST(LayerNorm, MatchesHandArithmetic) {
  Tensor x = f32({2, 4}, {1, 2, 3, 4, 2, 4, 6, 8});
  Tensor scale = f32({4}, {1, 2, 0.5f, -1}), bias = f32({4}, {0, 1, 0, -1});
  auto outs = run_single_op("LayerNormalization", {{"x", x}, {"s", scale}, {"b", bias}}, {}, 3);
  // Row 0: mean 2.5, var 1.25; row 1: mean 5, var 5; epsilon 1e-5.
  const double i0 = 1 / std::sqrt(1.25 + 1e-5), i1 = 1 / std::sqrt(5 + 1e-5);
  const double sc[4] = {1, 2, 0.5, -1}, b[4] = {0, 1, 0, -1};
  const double d0[4] = {-1.5, -0.5, 0.5, 1.5}, d1[4] = {-3, -1, 1, 3};
  std::vector<double> want;
  for (int j = 0; j < 4; ++j) want.push_back(d0[j] * i0 * sc[j] + b[j]);
  for (int j = 0; j < 4; ++j) want.push_back(d1[j] * i1 * sc[j] + b[j]);
  expect_f32(outs[0], {2, 4}, want, 1e-6, 1e-7);
  expect_f32(outs[1], {2, 1}, {2.5, 5});
  expect_f32(outs[2], {2, 1}, {i0, i1});
  // stash_type sets the statistics' output type.
  auto outs64 = run_single_op("LayerNormalization", {{"x", x}, {"s", scale}, {"b", bias}},
                              {{"stash_type", I(11)}}, 3);
  expect_values(outs64[1], DType::kFloat64, {2, 1}, {2.5, 5}, 0, 0);
  expect_values(outs64[2], DType::kFloat64, {2, 1}, {i0, i1}, 1e-12, 0);
  // No bias; axis 1 of [2,2,2] normalizes the last 4 elements with a [2,2] scale.
  Tensor y =
      run1("LayerNormalization", {iota({2, 2, 2}), f32({2, 2}, {1, 1, 1, 2})}, {{"axis", I(1)}});
  const double iv = 1 / std::sqrt(1.25 + 1e-5);
  expect_f32(y, {2, 2, 2},
             {-1.5 * iv, -0.5 * iv, 0.5 * iv, 3 * iv, -1.5 * iv, -0.5 * iv, 0.5 * iv, 3 * iv}, 1e-6,
             1e-7);
  // A one-element scale broadcasts over the normalized shape.
  expect_f32(run1("LayerNormalization", {f32({1, 2}, {0, 2}), f32({1}, {3})},
                  {{"epsilon", Attribute::of_float(0)}}),
             {1, 2}, {-3, 3});
}

TEST(LayerNorm, AccurateWhenMeanDominates) {
  std::vector<float> v = {1000.001f, 1000.002f, 1000.0035f, 1000.004f, 999.9995f};
  double m = 0, var = 0;
  for (float f : v) m += f;
  m /= 5;
  for (float f : v) var += (f - m) * (f - m);
  var /= 5;
  std::vector<double> want;
  for (float f : v) want.push_back((f - m) / std::sqrt(var + 1e-12));
  Tensor y = run1("LayerNormalization", {f32({1, 5}, v), f32({5}, {1, 1, 1, 1, 1})},
                  {{"epsilon", Attribute::of_float(1e-12f)}});
  expect_f32(y, {1, 5}, want, 1e-5, 1e-6);
}

TEST(InstanceNorm, MatchesHandArithmetic) {
  Tensor x = f32({1, 2, 3}, {1, 2, 3, 2, 4, 9});
  Tensor y = run1("InstanceNormalization", {x, f32({2}, {1, 2}), f32({2}, {0, 1})});
  const double i0 = 1 / std::sqrt(2.0 / 3 + 1e-5), i1 = 1 / std::sqrt(26.0 / 3 + 1e-5);
  expect_f32(y, {1, 2, 3}, {-1 * i0, 0, 1 * i0, 2 * -3 * i1 + 1, 2 * -1 * i1 + 1, 2 * 4 * i1 + 1},
             1e-6, 1e-7);
}

TEST(GroupNorm, MatchesPyTorch) {
  std::vector<float> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::pow(static_cast<float>(i), 1.5f);
  Tensor x = f32({2, 4, 3}, v);
  const std::vector<double> torch_out = {
      -1.19779027, -0.942985713, -0.477094173, 0.126212969,  0.840646148, 1.65101123,
      -3.80708599, -2.78118563,  -1.67912483,  -0.505842805, 0.734572709, 2.03866744,
      -1.42928398, -0.885285974, -0.319941461, 0.265972376,  0.87175703,  1.49678087,
      -3.87921071, -2.76637483,  -1.62385404,  -0.452400774, 0.747286022, 1.97455764};
  // Opset 18: one scale/bias per group.
  expect_f32(run1("GroupNormalization", {x, f32({2}, {1, 2}), f32({2}, {0, -1})},
                  {{"num_groups", I(2)}}, 18),
             {2, 4, 3}, torch_out, 1e-5, 1e-6);
  // Per-channel parameters (opset 21 form, and what torch.nn.GroupNorm holds).
  expect_f32(run1("GroupNormalization", {x, f32({4}, {1, 1, 2, 2}), f32({4}, {0, 0, -1, -1})},
                  {{"num_groups", I(2)}}, 18),
             {2, 4, 3}, torch_out, 1e-5, 1e-6);
  expect_error(
      [&] {
        run1("GroupNormalization", {x, f32({3}, {1, 1, 1}), f32({3}, {0, 0, 0})},
             {{"num_groups", I(3)}}, 18);
      },
      {"test_GroupNormalization", "not divisible"});
}

TEST(Normalization, BadParameterShapes) {
  Tensor x = f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  expect_error(
      [&] {
        run1("LayerNormalization", {x, f32({3}, {1, 1, 1})});
      },
      {"test_LayerNormalization", "Scale", "[3]", "[4]"});
  expect_error(
      [&] {
        run1("LayerNormalization", {x, f32({4}, {1, 1, 1, 1})}, {{"axis", I(2)}});
      },
      {"test_LayerNormalization", "axis 2"});
  expect_error(
      [&] {
        run1("InstanceNormalization", {x, f32({3}, {1, 1, 1}), f32({4}, {0, 0, 0, 0})});
      },
      {"test_InstanceNormalization", "scale", "[4]"});
  expect_error(
      [&] {
        run1("LayerNormalization", {x, i64({4}, {1, 1, 1, 1})});
      },
      {"test_LayerNormalization", "Scale is int64"});
}

}  // namespace
}  // namespace sq::test
