// Elementwise and activation ops against hand-computed values (and PyTorch 1.13 for Erf/Gelu/
// Softplus/Elu): broadcasting of odd shapes, integer math, Cast edge cases, Where, Clip, Expand,
// the variadic ops, and the one-line errors for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "runtime/ops/broadcast.h"
#include "runtime/ops/vec_math.h"
#include "tests/op_test_helpers.h"

namespace sq::test {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
const float kNaNf = std::numeric_limits<float>::quiet_NaN();
const float kInff = std::numeric_limits<float>::infinity();

Attribute I(int64_t v) { return Attribute::of_int(v); }
Attribute F(float v) { return Attribute::of_float(v); }

// ---- Broadcasting. ----

TEST(Broadcast, PlanCollapsesDims) {
  BroadcastPlan equal = make_broadcast_plan({{2, 3, 4}, {2, 3, 4}}, "t");
  EXPECT_EQ(equal.dims, (std::vector<int64_t>{24}));
  EXPECT_EQ(equal.inner_strides[0], 1);
  EXPECT_EQ(equal.inner_strides[1], 1);

  BroadcastPlan vec = make_broadcast_plan({{512, 768}, {768}}, "t");
  EXPECT_EQ(vec.dims, (std::vector<int64_t>{512, 768}));
  EXPECT_EQ(vec.strides[0], (std::vector<int64_t>{768, 1}));
  EXPECT_EQ(vec.strides[1], (std::vector<int64_t>{0, 1}));

  BroadcastPlan scalar = make_broadcast_plan({{}, {5, 1}}, "t");
  EXPECT_EQ(scalar.out_shape, (Shape{5, 1}));
  EXPECT_EQ(scalar.dims, (std::vector<int64_t>{5}));
  EXPECT_EQ(scalar.inner_strides[0], 0);
  EXPECT_EQ(scalar.inner_strides[1], 1);

  BroadcastPlan outer = make_broadcast_plan({{4, 1}, {1, 3}}, "t");
  EXPECT_EQ(outer.dims, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(outer.strides[0], (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(outer.strides[1], (std::vector<int64_t>{0, 1}));

  EXPECT_EQ(broadcast_shapes({{2, 1, 3}, {4, 1}, {}}, "t"), (Shape{2, 4, 3}));
  EXPECT_EQ(broadcast_shapes({{0, 3}, {1, 3}}, "t"), (Shape{0, 3}));
  expect_error(
      [] {
        broadcast_shapes({{2, 3}, {4}}, "node 'n' (Add)");
      },
      {"node 'n' (Add)", "[2,3]", "[4]"});
}

TEST(Broadcast, RunsSplitAtChunkEdges) {
  // Every output element visited exactly once with the right input offsets, for any split.
  BroadcastPlan plan = make_broadcast_plan({{3, 1, 5}, {4, 1}}, "t");
  for (int64_t split : {1, 2, 7, 19, 59}) {
    std::vector<int> seen(static_cast<size_t>(plan.numel), 0);
    for (int64_t b = 0; b < plan.numel; b += split) {
      plan.for_each_run(b, std::min(plan.numel, b + split),
                        [&](int64_t o, const int64_t* off, const int64_t* st, int64_t n) {
                          for (int64_t i = 0; i < n; ++i) {
                            const int64_t e = o + i;  // [3,4,5] index (a, j, k)
                            const int64_t a = e / 20, j = (e / 5) % 4, k = e % 5;
                            EXPECT_EQ(off[0] + i * st[0], a * 5 + k);
                            EXPECT_EQ(off[1] + i * st[1], j);
                            ++seen[static_cast<size_t>(e)];
                          }
                        });
    }
    for (int s : seen) EXPECT_EQ(s, 1);
  }
}

TEST(Elementwise, AddBroadcastsOddShapes) {
  // [2,1,3] + [4,1] -> [2,4,3]; out[i][j][k] = a[i][k] + b[j].
  Tensor a = f32({2, 1, 3}, {0, 1, 2, 3, 4, 5});
  Tensor b = f32({4, 1}, {10, 20, 30, 40});
  std::vector<double> want, want_sub;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) {
      for (int k = 0; k < 3; ++k) {
        want.push_back(3 * i + k + 10 * (j + 1));
        want_sub.push_back(10 * (j + 1) - (3 * i + k));
      }
    }
  }
  expect_f32(run1("Add", {a, b}), {2, 4, 3}, want);
  expect_f32(run1("Sub", {b, a}), {2, 4, 3}, want_sub);
}

TEST(Elementwise, ScalarAndTrailingVectorBroadcast) {
  Tensor m = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_f32(run1("Mul", {m, Tensor::scalar_f32(2)}), {2, 3}, {2, 4, 6, 8, 10, 12});
  expect_f32(run1("Div", {Tensor::scalar_f32(12), m}), {2, 3}, {12, 6, 4, 3, 2.4, 2});
  expect_f32(run1("Sub", {m, f32({3}, {1, 1, 1})}), {2, 3}, {0, 1, 2, 3, 4, 5});
  expect_f32(run1("Add", {Tensor::scalar_f32(1), Tensor::scalar_f32(2)}), {}, {3});
  expect_f32(run1("Add", {f32({0, 3}, {}), f32({1, 3}, {1, 2, 3})}), {0, 3}, {});
}

TEST(Elementwise, LargeBroadcastMatchesLoops) {
  // Big enough to be split across threads mid-run.
  const int64_t A = 64, B = 300, C = 7;
  std::vector<float> av(A * B * C), bv(B);
  for (size_t i = 0; i < av.size(); ++i) av[i] = static_cast<float>(i % 97) * 0.25f;
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = static_cast<float>(i) - 150.0f;
  Tensor out = run1("Mul", {f32({A, B, C}, av), f32({B, 1}, bv)});
  ASSERT_EQ(out.shape(), (Shape{A, B, C}));
  const float* o = out.data<float>();
  int64_t bad = 0;
  for (int64_t i = 0; i < A * B * C; ++i) bad += o[i] != av[i] * bv[(i / C) % B];
  EXPECT_EQ(bad, 0);
}

TEST(Elementwise, Int64Math) {
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  Tensor a = i64({6}, {-7, 7, -7, 7, 5, kMin});
  Tensor b = i64({6}, {2, -2, -2, 2, 0, -1});
  // Truncation toward zero; division by zero gives 0 and INT64_MIN / -1 wraps (no SIGFPE).
  Tensor q = run1("Div", {a, b});
  ASSERT_EQ(q.dtype(), DType::kInt64);
  EXPECT_EQ(q.to_int64_vector(), (std::vector<int64_t>{-3, -3, 3, 3, 0, kMin}));
  EXPECT_EQ(run1("Mul", {i64({2}, {3000000000000, -4}), i64({}, {3})}).to_int64_vector(),
            (std::vector<int64_t>{9000000000000, -12}));
  EXPECT_EQ(run1("Add", {i64({2}, {std::numeric_limits<int64_t>::max(), 1}), i64({}, {1})})
                .to_int64_vector(),
            (std::vector<int64_t>{kMin, 2}));
  Tensor x = i64({4}, {-7, 7, -7, 7}), y = i64({4}, {3, 3, -3, -3});
  EXPECT_EQ(run1("Mod", {x, y}).to_int64_vector(), (std::vector<int64_t>{2, 1, -1, -2}));
  EXPECT_EQ(run1("Mod", {x, y}, {{"fmod", I(1)}}).to_int64_vector(),
            (std::vector<int64_t>{-1, 1, -1, 1}));
  Tensor s = run1("Sub", {i32({3}, {1, 2, 3}), i32({1}, {5})});
  ASSERT_EQ(s.dtype(), DType::kInt32);
  EXPECT_EQ(s.to_int64_vector(), (std::vector<int64_t>{-4, -3, -2}));
  EXPECT_EQ(run1("Div", {i32({2}, {-9, 9}), i32({}, {4})}).to_int64_vector(),
            (std::vector<int64_t>{-2, 2}));
}

TEST(Elementwise, FloatModAndPow) {
  Tensor x = f32({2}, {-7.5f, 7.5f}), y = f32({2}, {2, -2});
  expect_f32(run1("Mod", {x, y}, {{"fmod", I(1)}}), {2}, {-1.5, 1.5});
  expect_f32(run1("Mod", {x, y}), {2}, {0.5, -0.5});
  // Exponent of another type is converted to the base's type.
  expect_f32(run1("Pow", {f32({3}, {2, -3, 0.5f}), i64({}, {2})}), {3}, {4, 9, 0.25});
  expect_f32(run1("Pow", {f32({2}, {4, 9}), f32({}, {0.5f})}), {2}, {2, 3});
  EXPECT_EQ(run1("Pow", {i64({2}, {3, 2}), i64({2}, {4, 10})}).to_int64_vector(),
            (std::vector<int64_t>{81, 1024}));
}

TEST(Elementwise, VariadicMaxMinSumMean) {
  Tensor a = f32({2, 2}, {1, 5, kNaNf, 2}), b = f32({2}, {3, 3}), c = Tensor::scalar_f32(4);
  expect_f32(run1("Max", {a, b, c}), {2, 2}, {4, 5, kNaN, 4});
  expect_f32(run1("Min", {a, b, c}), {2, 2}, {1, 3, kNaN, 2});
  expect_f32(run1("Max", {b}), {2}, {3, 3});
  Tensor s = run1("Sum", {i64({2}, {1, 2}), i64({2, 1}, {10, 20})});
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(s.to_int64_vector(), (std::vector<int64_t>{11, 12, 21, 22}));
  expect_f32(run1("Mean", {f32({3}, {1, 2, 3}), f32({3}, {3, 4, 5}), Tensor::scalar_f32(3)}), {3},
             {7.0 / 3, 3, 11.0 / 3});
  EXPECT_EQ(run1("Max", {i32({3}, {-1, 7, 2}), i32({3}, {0, 3, 2})}).to_int64_vector(),
            (std::vector<int64_t>{0, 7, 2}));
}

TEST(Elementwise, ComparisonsAndLogic) {
  Tensor x = f32({3}, {1, 2, 3}), two = Tensor::scalar_f32(2);
  expect_values(run1("Less", {x, two}), DType::kBool, {3}, {1, 0, 0});
  expect_values(run1("LessOrEqual", {x, two}), DType::kBool, {3}, {1, 1, 0});
  expect_values(run1("Greater", {x, two}), DType::kBool, {3}, {0, 0, 1});
  expect_values(run1("GreaterOrEqual", {x, two}), DType::kBool, {3}, {0, 1, 1});
  expect_values(run1("Equal", {i64({3}, {4, 5, 6}), i64({}, {5})}), DType::kBool, {3}, {0, 1, 0});
  Tensor p = boolean({2, 1}, {true, false}), q = boolean({2}, {true, false});
  expect_values(run1("Equal", {p, q}), DType::kBool, {2, 2}, {1, 0, 0, 1});
  expect_values(run1("And", {p, q}), DType::kBool, {2, 2}, {1, 0, 0, 0});
  expect_values(run1("Or", {p, q}), DType::kBool, {2, 2}, {1, 1, 1, 0});
  expect_values(run1("Xor", {p, q}), DType::kBool, {2, 2}, {0, 1, 1, 0});
  expect_values(run1("Not", {q}), DType::kBool, {2}, {0, 1});
  expect_values(run1("Less", {i32({2}, {-1, 1}), i32({2}, {0, 0})}), DType::kBool, {2}, {1, 0});
}

TEST(Elementwise, UnaryMath) {
  EXPECT_EQ(run1("Neg", {i64({2}, {3, -4})}).to_int64_vector(), (std::vector<int64_t>{-3, 4}));
  EXPECT_EQ(run1("Abs", {i32({2}, {-5, 5})}).to_int64_vector(), (std::vector<int64_t>{5, 5}));
  expect_f32(run1("Abs", {f32({2}, {-1.5f, 2})}), {2}, {1.5, 2});
  expect_f32(run1("Sqrt", {f32({3}, {4, 2, -1})}), {3}, {2, std::sqrt(2.0), kNaN});
  expect_f32(run1("Reciprocal", {f32({2}, {4, -0.5f})}), {2}, {0.25, -2});
  expect_f32(run1("Exp", {f32({3}, {0, 1, -kInff})}), {3}, {1, std::exp(1.0), 0});
  expect_f32(run1("Log", {f32({3}, {1, static_cast<float>(std::exp(1.0)), 0})}), {3},
             {0, 1, -kInf});
  expect_f32(run1("Floor", {f32({2}, {-1.5f, 1.5f})}), {2}, {-2, 1});
  expect_f32(run1("Ceil", {f32({2}, {-1.5f, 1.5f})}), {2}, {-1, 2});
  // Halves to even.
  expect_f32(run1("Round", {f32({6}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f})}), {6},
             {0, 2, 2, 0, -2, 2});
  expect_f32(run1("Sign", {f32({4}, {-3, 0, 2, kNaNf})}), {4}, {-1, 0, 1, kNaN});
  EXPECT_EQ(run1("Sign", {i64({3}, {-3, 0, 2})}).to_int64_vector(),
            (std::vector<int64_t>{-1, 0, 1}));
  expect_values(run1("IsNaN", {f32({3}, {1, kNaNf, kInff})}), DType::kBool, {3}, {0, 1, 0});
  Tensor inf = f32({4}, {1, kNaNf, kInff, -kInff});
  expect_values(run1("IsInf", {inf}), DType::kBool, {4}, {0, 0, 1, 1});
  expect_values(run1("IsInf", {inf}, {{"detect_negative", I(0)}}), DType::kBool, {4}, {0, 0, 1, 0});
  expect_values(run1("IsInf", {inf}, {{"detect_positive", I(0)}}), DType::kBool, {4}, {0, 0, 0, 1});
  expect_values(run1("Sqrt", {f64({1}, {2})}), DType::kFloat64, {1}, {std::sqrt(2.0)}, 1e-15, 0);
}

TEST(Elementwise, WhereBroadcastsBoolCondition) {
  Tensor cond = boolean({2, 1}, {true, false});
  expect_f32(run1("Where", {cond, f32({1, 3}, {1, 2, 3}), Tensor::scalar_f32(9)}), {2, 3},
             {1, 2, 3, 9, 9, 9});
  Tensor c3 = boolean({3}, {false, true, false});
  Tensor w = run1("Where", {c3, i64({2, 3}, {1, 2, 3, 4, 5, 6}), i64({2, 1}, {-1, -2})});
  EXPECT_EQ(w.shape(), (Shape{2, 3}));
  EXPECT_EQ(w.to_int64_vector(), (std::vector<int64_t>{-1, 2, -1, -2, 5, -2}));
  expect_values(run1("Where", {c3, boolean({}, {true}), boolean({3}, {false, false, true})}),
                DType::kBool, {3}, {0, 1, 1});
}

TEST(Elementwise, ClipWithOptionalBounds) {
  Tensor x = f32({4}, {-2, 0.5f, 3, kNaNf});
  expect_f32(run1("Clip", {x, Tensor::scalar_f32(0), Tensor::scalar_f32(1)}), {4},
             {0, 0.5, 1, kNaN});
  expect_f32(run1("Clip", {x, Tensor::scalar_f32(0), Tensor::scalar_f32(1)}, {}, 17, {1}), {4},
             {-2, 0.5, 1, kNaN});
  expect_f32(run1("Clip", {x}), {4}, {-2, 0.5, 3, kNaN});
  EXPECT_EQ(run1("Clip", {i64({3}, {-5, 5, 10}), i64({}, {0})}).to_int64_vector(),
            (std::vector<int64_t>{0, 5, 10}));
  // Opset 6: bounds are attributes.
  expect_f32(run1("Clip", {x}, {{"min", F(-1)}, {"max", F(1)}}, 6), {4}, {-1, 0.5, 1, kNaN});
}

TEST(Elementwise, CastEdgeCases) {
  auto cast = [](const Tensor& t, int to) { return run1("Cast", {t}, {{"to", I(to)}}); };
  // float -> int truncates toward zero (NaN -> int is unspecified and not tested).
  Tensor f = f32({4}, {-1.7f, 2.9f, -0.2f, 1e9f});
  EXPECT_EQ(cast(f, 6).dtype(), DType::kInt32);
  EXPECT_EQ(cast(f, 6).to_int64_vector(), (std::vector<int64_t>{-1, 2, 0, 1000000000}));
  EXPECT_EQ(cast(f, 7).to_int64_vector(), (std::vector<int64_t>{-1, 2, 0, 1000000000}));
  EXPECT_EQ(cast(f32({2}, {0.9f, 200.7f}), 2).to_int64_vector(), (std::vector<int64_t>{0, 200}));
  EXPECT_EQ(cast(f32({2}, {-127.9f, 127.9f}), 3).to_int64_vector(),
            (std::vector<int64_t>{-127, 127}));
  // int -> narrower int wraps (two's complement, like numpy).
  EXPECT_EQ(cast(i64({2}, {300, -1}), 3).to_int64_vector(), (std::vector<int64_t>{44, -1}));
  EXPECT_EQ(cast(i64({2}, {300, -1}), 2).to_int64_vector(), (std::vector<int64_t>{44, 255}));
  // anything -> bool is != 0 (NaN is true); bool -> float is 0/1.
  expect_values(cast(f32({4}, {0, -0.0f, 0.1f, kNaNf}), 9), DType::kBool, {4}, {0, 0, 1, 1});
  expect_values(cast(i64({2}, {0, -3}), 9), DType::kBool, {2}, {0, 1});
  expect_f32(cast(boolean({2}, {true, false}), 1), {2}, {1, 0});
  // float16: round to nearest even, overflow to inf.
  Tensor h = cast(f32({4}, {1.0f, 0.1f, 65504.0f, 70000.0f}), 10);
  ASSERT_EQ(h.dtype(), DType::kFloat16);
  expect_f32(cast(h, 1), {4}, {1.0, 0.0999755859375, 65504, kInf}, 0, 0);
  expect_values(cast(i64({2}, {2049, -3}), 10), DType::kFloat16, {2}, {2048, -3}, 0, 0);
  EXPECT_EQ(cast(h, 7).to_int64_vector()[2], 65504);
  // float64.
  EXPECT_EQ(cast(f64({2}, {-2.5, 1e15 + 0.5}), 7).to_int64_vector(),
            (std::vector<int64_t>{-2, 1000000000000000}));
  expect_values(cast(i32({2}, {-7, 123456789}), 11), DType::kFloat64, {2}, {-7, 123456789}, 0, 0);
  // Same type is a no-op.
  expect_f32(cast(f32({1}, {1.25f}), 1), {1}, {1.25}, 0, 0);
  expect_error([&] { cast(f, 8); }, {"test_Cast", "unsupported ONNX element type 8"});
}

TEST(Elementwise, Expand) {
  Tensor x = f32({3, 1}, {1, 2, 3});
  Tensor out = run1("Expand", {x, i64({3}, {2, 1, 4})});
  std::vector<double> want;
  for (int a = 0; a < 2; ++a) {
    for (int b = 0; b < 3; ++b) {
      for (int c = 0; c < 4; ++c) want.push_back(b + 1);
    }
  }
  expect_f32(out, {2, 3, 4}, want);
  // A target of lower rank or with 1s keeps the input's dims.
  expect_f32(run1("Expand", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), i64({2}, {1, 1})}), {2, 3},
             {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(run1("Expand", {i64({}, {7}), i64({1}, {3})}).to_int64_vector(),
            (std::vector<int64_t>{7, 7, 7}));
  expect_error(
      [&] {
        run1("Expand", {f32({3}, {1, 2, 3}), i64({1}, {2})});
      },
      {"test_Expand", "[3]", "[2]"});
}

TEST(Elementwise, Float16ComputedInFloat) {
  Tensor a = Tensor::from_vector<uint16_t>({2}, {float_to_half(1.5f), float_to_half(2.25f)});
  Tensor b = Tensor::from_vector<uint16_t>({}, {float_to_half(0.25f)});
  expect_values(run1("Add", {a, b}), DType::kFloat16, {2}, {1.75, 2.5}, 0, 0);
  expect_values(run1("Less", {a, b}), DType::kBool, {2}, {0, 0});
  expect_values(run1("Relu", {a}), DType::kFloat16, {2}, {1.5, 2.25}, 0, 0);
}

TEST(Elementwise, BadInputsAreOneLineErrors) {
  expect_error(
      [] {
        run1("Add", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({4}, {1, 2, 3, 4})});
      },
      {"node 'test_Add' (Add)", "cannot broadcast", "[2,3]", "[4]"});
  expect_error(
      [] {
        run1("Where", {boolean({2}, {true, false}), f32({3}, {1, 2, 3}), Tensor::scalar_f32(0)});
      },
      {"test_Where", "[2]", "[3]"});
  expect_error(
      [] {
        run1("Add", {f32({1}, {1}), i64({1}, {1})});
      },
      {"test_Add", "different element types", "float32", "int64"});
  expect_error([] { run1("Sqrt", {i64({1}, {4})}); },
               {"test_Sqrt", "unsupported element type int64"});
  expect_error([] { run1("And", {f32({1}, {1}), f32({1}, {1})}); }, {"test_And", "float32"});
  expect_error(
      [] {
        run1("Where", {f32({1}, {1}), f32({1}, {1}), f32({1}, {1})});
      },
      {"test_Where", "condition must be bool"});
  expect_error(
      [] {
        run1("Add", {f32({1}, {1}), f32({1}, {1}), f32({1}, {1})});
      },
      {"test_Add", "expected 2 inputs, got 3"});
  expect_error(
      [] {
        run1("Mod", {i64({1}, {1}), i64({1}, {1})}, {{"fmod", I(2)}});
      },
      {"test_Mod", "fmod"});
  expect_error(
      [] {
        run1("Clip", {f32({1}, {1}), f32({2}, {0, 1})});
      },
      {"test_Clip", "min must be a scalar"});
}

// ---- Activations. ----

TEST(Activations, ReluFamily) {
  expect_f32(run1("Relu", {f32({4}, {-1, 0, 2, kNaNf})}), {4}, {0, 0, 2, kNaN});
  EXPECT_EQ(run1("Relu", {i32({2}, {-3, 4})}).to_int64_vector(), (std::vector<int64_t>{0, 4}));
  expect_f32(run1("LeakyRelu", {f32({2}, {-2, 3})}), {2}, {-0.02, 3});
  expect_f32(run1("LeakyRelu", {f32({2}, {-2, 3})}, {{"alpha", F(0.5f)}}), {2}, {-1, 3});
  expect_f32(run1("HardSigmoid", {f32({4}, {-3, 0, 1, 3})}), {4}, {0, 0.5, 0.7, 1});
  expect_f32(run1("HardSigmoid", {f32({1}, {1})}, {{"alpha", F(0.5f)}, {"beta", F(0.25f)}}), {1},
             {0.75});
}

TEST(Activations, SmoothFunctionsMatchPyTorch) {
  Tensor x = f32({7}, {-3, -1, -0.5f, 0, 0.5f, 1, 3});
  const double rel = 2e-6, abs = 1e-7;
  expect_f32(run1("Sigmoid", {f32({5}, {-100, -1, 0, 1, 100})}), {5},
             {0, 0.268941421, 0.5, 0.731058579, 1}, rel, abs);
  expect_f32(run1("Tanh", {f32({3}, {-1, 0, 0.5f})}), {3}, {-0.761594156, 0, 0.462117157}, rel,
             abs);
  expect_f32(run1("Erf", {x}), {7},
             {-0.999977887, -0.842700779, -0.520499885, 0.0, 0.520499885, 0.842700779, 0.999977887},
             rel, abs);
  // PyTorch's float Gelu(-3) is -0.00404986739, off by 4e-5 relative from cancellation in
  // 1 + erf(x); the exact value is -3 * Phi(-3).
  expect_f32(run1("Gelu", {x}), {7},
             {-1.5 * std::erfc(3 / std::sqrt(2.0)), -0.158655286, -0.154268786, 0.0, 0.345731199,
              0.841344714, 2.99595022},
             rel, abs);
  expect_f32(
      run1("Gelu", {x}, {{"approximate", Attribute::of_string("tanh")}}, 20), {7},
      {-0.00363743305, -0.158807993, -0.154285997, 0.0, 0.345714003, 0.841192007, 2.99636269}, rel,
      abs);
  expect_f32(run1("Softplus", {f32({5}, {-100, -1, 0, 1, 100})}), {5},
             {3.78350585e-44, 0.313261688, 0.693147182, 1.31326163, 100.0}, rel, abs);
  expect_f32(run1("Elu", {x}, {{"alpha", F(0.5f)}}), {7},
             {-0.475106478, -0.316060275, -0.196734667, 0.0, 0.5, 1.0, 3.0}, rel, abs);
  expect_values(run1("Sigmoid", {f64({2}, {-40, 2})}), DType::kFloat64, {2},
                {1.0 / (1.0 + std::exp(40.0)), 1.0 / (1.0 + std::exp(-2.0))}, 1e-14, 0);
  expect_error(
      [&] {
        run1("Gelu", {x}, {{"approximate", Attribute::of_string("fast")}});
      },
      {"test_Gelu", "approximate", "fast"});
}

// Every compiled version of the float kernels against the standard library, on lengths that
// leave vector tails.
std::vector<VecIsa> available_isas() {
  std::vector<VecIsa> isas = {VecIsa::kBase};
  if (cpu_has_avx2_fma()) isas.push_back(VecIsa::kAvx2Fma);
  return isas;
}

TEST(VecMath, ExpMatchesStdExp) {
  std::vector<float> x;
  for (float v = -87.0f; v < 88.0f; v += 0.0137f) x.push_back(v);
  x.resize(x.size() / 8 * 8 + 5);  // odd tail
  for (VecIsa isa : available_isas()) {
    std::vector<float> y(x.size());
    array_exp(x.data(), y.data(), static_cast<int64_t>(x.size()), 0.0f, isa);
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = std::exp(static_cast<double>(x[i]));
      worst = std::max(worst, std::fabs(y[i] - want) / want);
    }
    EXPECT_LT(worst, 3e-7) << static_cast<int>(isa);
    // Special values, in a 7-element call (all in the tail for both widths).
    const std::vector<float> sx = {0.0f, -kInff, -100.0f, -3.4e38f, 100.0f, kNaNf, 1.0f};
    std::vector<float> sy(sx.size());
    array_exp(sx.data(), sy.data(), 7, 0.0f, isa);
    EXPECT_EQ(sy[0], 1.0f);
    EXPECT_EQ(sy[1], 0.0f);
    EXPECT_EQ(sy[2], 0.0f);
    EXPECT_EQ(sy[3], 0.0f);
    EXPECT_EQ(sy[4], kInff);
    EXPECT_TRUE(std::isnan(sy[5]));
    EXPECT_NEAR(sy[6], std::exp(1.0), 3e-7 * std::exp(1.0));
  }
  EXPECT_EQ(exp_scalar(0.0f), 1.0f);
}

TEST(VecMath, MaxAndSigmoidMatchScalar) {
  for (VecIsa isa : available_isas()) {
    for (int64_t n : {0, 1, 3, 4, 7, 8, 9, 17, 33}) {
      std::vector<float> x(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(std::sin(1.7 * i) * 30);
      float want = -kInff;
      for (float v : x) want = std::max(want, v);
      EXPECT_EQ(array_max(x.data(), n, isa), want) << n;
      std::vector<float> y(x.size());
      array_sigmoid(x.data(), y.data(), n, isa);
      for (int64_t i = 0; i < n; ++i) {
        const double s = 1 / (1 + std::exp(-static_cast<double>(x[i])));
        EXPECT_NEAR(y[i], s, 1e-6 * s) << n << " " << i;
      }
    }
    EXPECT_EQ(array_max(std::vector<float>{1, kNaNf, 3, -2, 5}.data(), 5, isa), 5.0f);
  }
}

}  // namespace
}  // namespace sq::test
