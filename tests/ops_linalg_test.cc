// MatMul, Gemm, MatMulInteger and Conv against hand-computed values and naive loops, on odd
// shapes (no size a multiple of any block) and shapes big enough to be split across threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "tests/test_util.h"

namespace sq::test {
namespace {

using A = Attribute;
using F = std::vector<float>;

Tensor f32(Shape s, F v) { return Tensor::from_vector<float>(std::move(s), v); }

// Deterministic values in [-1, 1).
Tensor random_f32(Shape s, uint32_t seed) {
  F v(static_cast<size_t>(shape_numel(s)));
  for (float& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return f32(std::move(s), v);
}

Tensor run1(const std::string& op, const std::vector<std::pair<std::string, Tensor>>& in,
            const std::map<std::string, Attribute>& attrs = {}) {
  return run_single_op(op, in, attrs)[0];
}

void expect_close(const Tensor& got, const F& want, float tol = 1e-4f) {
  F g = got.to_float_vector();
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_NEAR(g[i], want[i], tol * (1.0f + std::fabs(want[i]))) << "at element " << i;
  }
}

// Naive batched matmul of row-major [batch, m, k] x [batch, k, n] with explicit batch offsets.
F naive_matmul(const F& a, const F& b, int64_t m, int64_t k, int64_t n,
               const std::vector<std::pair<int64_t, int64_t>>& batch_offsets) {
  F c;
  for (auto [oa, ob] : batch_offsets) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p) {
          s += static_cast<double>(a[static_cast<size_t>(oa + i * k + p)]) *
               b[static_cast<size_t>(ob + p * n + j)];
        }
        c.push_back(static_cast<float>(s));
      }
    }
  }
  return c;
}

F naive_2d(const Tensor& a, const Tensor& b) {
  return naive_matmul(a.to_float_vector(), b.to_float_vector(), a.dim(0), a.dim(1), b.dim(1),
                      {{0, 0}});
}

// -------------------------------------------------------------------------------- MatMul

TEST(MatMul, HandComputed2D) {
  Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = f32({3, 2}, {7, 8, 9, 10, 11, 12});
  Tensor y = run1("MatMul", {{"a", a}, {"b", b}});
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.to_float_vector(), (F{58, 64, 139, 154}));
}

TEST(MatMul, BroadcastBatch2x1x3x4By5x4x2) {
  Tensor a = random_f32({2, 1, 3, 4}, 1), b = random_f32({5, 4, 2}, 2);
  Tensor y = run1("MatMul", {{"a", a}, {"b", b}});
  EXPECT_EQ(y.shape(), (Shape{2, 5, 3, 2}));
  std::vector<std::pair<int64_t, int64_t>> offs;
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 5; ++j) offs.emplace_back(i * 12, j * 8);
  }
  expect_close(y, naive_matmul(a.to_float_vector(), b.to_float_vector(), 3, 4, 2, offs));
}

TEST(MatMul, OneDimensionalOperands) {
  Tensor v = f32({3}, {1, 2, 3});
  Tensor dot = run1("MatMul", {{"a", v}, {"b", f32({3}, {4, 5, 6})}});
  EXPECT_EQ(dot.rank(), 0);
  EXPECT_EQ(dot.to_float_vector(), (F{32}));
  // [3] x [2, 3, 2]: the vector is a row, prepended dim removed -> [2, 2].
  Tensor b = f32({2, 3, 2}, {1, 0, 0, 1, 1, 1, 2, 0, 0, 2, 1, 1});
  Tensor y = run1("MatMul", {{"a", v}, {"b", b}});
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.to_float_vector(), (F{4, 5, 5, 7}));
  // [2, 2, 3] x [3]: the vector is a column, appended dim removed -> [2, 2].
  Tensor z =
      run1("MatMul", {{"a", f32({2, 2, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1})}, {"b", v}});
  EXPECT_EQ(z.shape(), (Shape{2, 2}));
  EXPECT_EQ(z.to_float_vector(), (F{1, 2, 3, 6}));
}

TEST(MatMul, OddSizesAndThreadSplits) {
  // m >= n (rows split), m < n (column split), folded batch, many small and few large batches.
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{37, 53, 29},
                         {130, 300, 70},
                         {7, 301, 515},
                         {1, 257, 33}}) {
    Tensor a = random_f32({m, k}, 3), b = random_f32({k, n}, 4);
    expect_close(run1("MatMul", {{"a", a}, {"b", b}}), naive_2d(a, b));
  }
  Tensor a = random_f32({3, 5, 67}, 5), w = random_f32({67, 9}, 6);
  F want = naive_matmul(a.to_float_vector(), w.to_float_vector(), 15, 67, 9, {{0, 0}});
  Tensor y = run1("MatMul", {{"a", a}, {"b", w}});
  EXPECT_EQ(y.shape(), (Shape{3, 5, 9}));
  expect_close(y, want);
  for (auto [batch, m, k, n] :
       {std::tuple<int64_t, int64_t, int64_t, int64_t>{16, 5, 7, 3}, {2, 100, 200, 90}}) {
    Tensor x = random_f32({batch, m, k}, 7), z = random_f32({batch, k, n}, 8);
    std::vector<std::pair<int64_t, int64_t>> offs;
    for (int64_t i = 0; i < batch; ++i) offs.emplace_back(i * m * k, i * k * n);
    expect_close(run1("MatMul", {{"a", x}, {"b", z}}),
                 naive_matmul(x.to_float_vector(), z.to_float_vector(), m, k, n, offs));
  }
}

TEST(MatMul, Int64) {
  Tensor a = Tensor::from_vector<int64_t>({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector<int64_t>({2, 1}, {5, -6});
  Tensor y = run1("MatMul", {{"a", a}, {"b", b}});
  EXPECT_EQ(y.dtype(), DType::kInt64);
  EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{-7, -9}));
}

TEST(MatMul, InnerDimMismatchNamesNode) {
  try {
    run1("MatMul", {{"a", random_f32({2, 3}, 1)}, {"b", random_f32({4, 2}, 2)}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("test_MatMul"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4,2]"), std::string::npos) << msg;
  }
  EXPECT_THROW(run1("MatMul", {{"a", random_f32({2, 2, 3}, 1)}, {"b", random_f32({3, 3, 2}, 2)}}),
               Error);
}

// ---------------------------------------------------------------------------------- Gemm

TEST(Gemm, AllTransposeCombosWithAlphaBeta) {
  const int64_t m = 5, k = 7, n = 3;
  Tensor a = random_f32({m, k}, 11), b = random_f32({k, n}, 12);
  Tensor at = f32({k, m}, F(static_cast<size_t>(m * k))),
         bt = f32({n, k}, F(static_cast<size_t>(k * n)));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t p = 0; p < k; ++p) at.data<float>()[p * m + i] = a.data<float>()[i * k + p];
  }
  for (int64_t p = 0; p < k; ++p) {
    for (int64_t j = 0; j < n; ++j) bt.data<float>()[j * k + p] = b.data<float>()[p * n + j];
  }
  Tensor c = f32({n}, {1, -2, 3});
  F ab = naive_2d(a, b), want(ab.size());
  for (size_t i = 0; i < ab.size(); ++i) want[i] = 0.5f * ab[i] + 2.0f * c.data<float>()[i % 3];
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      Tensor y = run1("Gemm", {{"a", ta ? at : a}, {"b", tb ? bt : b}, {"c", c}},
                      {{"transA", A::of_int(ta)},
                       {"transB", A::of_int(tb)},
                       {"alpha", A::of_float(0.5f)},
                       {"beta", A::of_float(2.0f)}});
      EXPECT_EQ(y.shape(), (Shape{m, n}));
      expect_close(y, want);
    }
  }
}

TEST(Gemm, CBroadcastForms) {
  Tensor a = f32({2, 2}, {1, 2, 3, 4}), b = f32({2, 2}, {1, 0, 0, 1});
  EXPECT_EQ(run1("Gemm", {{"a", a}, {"b", b}}).to_float_vector(), (F{1, 2, 3, 4}));
  EXPECT_EQ(run1("Gemm", {{"a", a}, {"b", b}, {"c", Tensor::scalar_f32(10)}}).to_float_vector(),
            (F{11, 12, 13, 14}));
  EXPECT_EQ(run1("Gemm", {{"a", a}, {"b", b}, {"c", f32({2, 1}, {10, 20})}}).to_float_vector(),
            (F{11, 12, 23, 24}));
  EXPECT_EQ(run1("Gemm", {{"a", a}, {"b", b}, {"c", f32({2, 2}, {1, 1, 1, 1})}},
                 {{"beta", A::of_float(0)}})
                .to_float_vector(),
            (F{1, 2, 3, 4}));
  EXPECT_THROW(run1("Gemm", {{"a", a}, {"b", b}, {"c", f32({3}, {1, 2, 3})}}), Error);
}

TEST(Gemm, TiedHeadTransBIsSplitAcrossColumns) {
  Tensor x = random_f32({3, 64}, 21), w = random_f32({515, 64}, 22);
  Tensor y = run1("Gemm", {{"x", x}, {"w", w}}, {{"transB", A::of_int(1)}});
  EXPECT_EQ(y.shape(), (Shape{3, 515}));
  F want;
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 515; ++j) {
      double s = 0;
      for (int64_t p = 0; p < 64; ++p) {
        s += static_cast<double>(x.data<float>()[i * 64 + p]) * w.data<float>()[j * 64 + p];
      }
      want.push_back(static_cast<float>(s));
    }
  }
  expect_close(y, want);
}

TEST(MatMulInteger, OnnxExampleWithZeroPoint) {
  Tensor a = Tensor::from_vector<uint8_t>({4, 3}, {11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0});
  Tensor b = Tensor::from_vector<uint8_t>({3, 2}, {1, 4, 2, 5, 3, 6});
  Tensor y = run1("MatMulInteger", {{"a", a},
                                    {"b", b},
                                    {"az", Tensor::from_vector<uint8_t>({}, {12})},
                                    {"bz", Tensor::from_vector<uint8_t>({}, {0})}});
  EXPECT_EQ(y.dtype(), DType::kInt32);
  EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{-38, -83, -44, -98, -50, -113, -56, -128}));
  // Per-column zero point of B (int8).
  Tensor bi = Tensor::from_vector<int8_t>({2, 2}, {1, -1, 2, 3});
  Tensor z = run1("MatMulInteger", {{"a", Tensor::from_vector<int8_t>({1, 2}, {1, 1})},
                                    {"b", bi},
                                    {"", Tensor()},
                                    {"bz", Tensor::from_vector<int8_t>({2}, {1, -1})}});
  EXPECT_EQ(z.to_int64_vector(), (std::vector<int64_t>{1, 4}));
}

// ---------------------------------------------------------------------------------- Conv

struct ConvCase {
  int64_t n, c, h, w, m, kh, kw, group;
  int64_t sh, sw, dh, dw, pt, pl, pb, pr;
};

// Naive NCHW convolution with explicit pads (begin top/left, end bottom/right).
F naive_conv(const Tensor& x, const Tensor& wt, const Tensor* bias, const ConvCase& p) {
  const int64_t oh = (p.h + p.pt + p.pb - ((p.kh - 1) * p.dh + 1)) / p.sh + 1;
  const int64_t ow = (p.w + p.pl + p.pr - ((p.kw - 1) * p.dw + 1)) / p.sw + 1;
  const int64_t cg = p.c / p.group, mg = p.m / p.group;
  const float* xd = x.data<float>();
  const float* wd = wt.data<float>();
  F out;
  for (int64_t n = 0; n < p.n; ++n) {
    for (int64_t o = 0; o < p.m; ++o) {
      const int64_t g = o / mg;
      for (int64_t y = 0; y < oh; ++y) {
        for (int64_t xx = 0; xx < ow; ++xx) {
          double s = bias ? bias->data<float>()[o] : 0.0;
          for (int64_t ci = 0; ci < cg; ++ci) {
            for (int64_t i = 0; i < p.kh; ++i) {
              for (int64_t j = 0; j < p.kw; ++j) {
                const int64_t iy = y * p.sh - p.pt + i * p.dh, ix = xx * p.sw - p.pl + j * p.dw;
                if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                s += static_cast<double>(xd[((n * p.c + g * cg + ci) * p.h + iy) * p.w + ix]) *
                     wd[((o * cg + ci) * p.kh + i) * p.kw + j];
              }
            }
          }
          out.push_back(static_cast<float>(s));
        }
      }
    }
  }
  return out;
}

Tensor run_conv(const ConvCase& p, const Tensor& x, const Tensor& wt, const Tensor* bias,
                std::map<std::string, Attribute> attrs = {}) {
  attrs.emplace("strides", A::of_ints({p.sh, p.sw}));
  attrs.emplace("dilations", A::of_ints({p.dh, p.dw}));
  attrs.emplace("group", A::of_int(p.group));
  if (!attrs.count("auto_pad")) attrs.emplace("pads", A::of_ints({p.pt, p.pl, p.pb, p.pr}));
  std::vector<std::pair<std::string, Tensor>> in = {{"x", x}, {"w", wt}};
  if (bias) in.emplace_back("b", *bias);
  return run1("Conv", in, attrs);
}

TEST(Conv, HandComputed2x2Ones) {
  Tensor x = f32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor w = f32({1, 1, 2, 2}, {1, 1, 1, 1});
  Tensor y = run1("Conv", {{"x", x}, {"w", w}, {"b", f32({1}, {0.5f})}});
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_float_vector(), (F{12.5f, 16.5f, 24.5f, 28.5f}));
}

TEST(Conv, PointwiseAsGemmMatchesNaive) {
  ConvCase p{2, 6, 5, 7, 4, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
  Tensor x = random_f32({2, 6, 5, 7}, 31), w = random_f32({4, 6, 1, 1}, 32),
         b = random_f32({4}, 33);
  Tensor y = run_conv(p, x, w, &b);
  EXPECT_EQ(y.shape(), (Shape{2, 4, 5, 7}));
  expect_close(y, naive_conv(x, w, &b, p));
  // Big enough for the GEMM to be split across threads, like SD's proj_in.
  ConvCase q{1, 64, 16, 16, 48, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
  Tensor x2 = random_f32({1, 64, 16, 16}, 34), w2 = random_f32({48, 64, 1, 1}, 35);
  expect_close(run_conv(q, x2, w2, nullptr), naive_conv(x2, w2, nullptr, q));
}

TEST(Conv, ThreeByThreePaddingStrideDilationGroup) {
  const ConvCase cases[] = {
      {1, 3, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    // same padding
      {2, 4, 9, 8, 6, 3, 3, 2, 2, 2, 1, 1, 1, 0, 2, 1},    // stride 2, asymmetric pads, group 2
      {1, 2, 11, 10, 3, 3, 2, 1, 1, 2, 2, 1, 0, 1, 1, 0},  // dilation 2x1, non-square kernel
      {1, 4, 6, 6, 4, 3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1},    // depthwise
  };
  uint32_t seed = 40;
  for (const ConvCase& p : cases) {
    Tensor x = random_f32({p.n, p.c, p.h, p.w}, seed++);
    Tensor w = random_f32({p.m, p.c / p.group, p.kh, p.kw}, seed++);
    Tensor b = random_f32({p.m}, seed++);
    expect_close(run_conv(p, x, w, &b), naive_conv(x, w, &b, p));
  }
}

TEST(Conv, AutoPad) {
  Tensor x = random_f32({1, 2, 5, 6}, 50), w = random_f32({3, 2, 3, 3}, 51);
  // SAME_UPPER, stride 2: out = ceil(5/2)=3 x 3, total pad 2 (rows) and 1 (cols, extra at end).
  ConvCase up{1, 2, 5, 6, 3, 3, 3, 1, 2, 2, 1, 1, 1, 0, 1, 1};
  Tensor y = run_conv(up, x, w, nullptr, {{"auto_pad", A::of_string("SAME_UPPER")}});
  EXPECT_EQ(y.shape(), (Shape{1, 3, 3, 3}));
  expect_close(y, naive_conv(x, w, nullptr, up));
  ConvCase low{1, 2, 5, 6, 3, 3, 3, 1, 2, 2, 1, 1, 1, 1, 1, 0};
  expect_close(run_conv(low, x, w, nullptr, {{"auto_pad", A::of_string("SAME_LOWER")}}),
               naive_conv(x, w, nullptr, low));
  ConvCase valid{1, 2, 5, 6, 3, 3, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0};
  Tensor v = run_conv(valid, x, w, nullptr, {{"auto_pad", A::of_string("VALID")}});
  EXPECT_EQ(v.shape(), (Shape{1, 3, 3, 4}));
  expect_close(v, naive_conv(x, w, nullptr, valid));
}

TEST(Conv, OneDimensional) {
  Tensor x = f32({1, 1, 5}, {1, 2, 3, 4, 5});
  Tensor w = f32({2, 1, 2}, {1, -1, 0.5f, 0.5f});
  Tensor y = run1("Conv", {{"x", x}, {"w", w}},
                  {{"pads", A::of_ints({1, 0})}, {"strides", A::of_ints({2})}});
  EXPECT_EQ(y.shape(), (Shape{1, 2, 3}));
  // Padded input [0,1,2,3,4,5], windows at 0, 2, 4.
  EXPECT_EQ(y.to_float_vector(), (F{-1, -1, -1, 0.5f, 2.5f, 4.5f}));
}

TEST(Conv, BadShapesAreErrors) {
  Tensor x = random_f32({1, 3, 4, 4}, 1), w = random_f32({2, 2, 3, 3}, 2);
  EXPECT_THROW(run1("Conv", {{"x", x}, {"w", w}}), Error);
  EXPECT_THROW(run1("Conv", {{"x", x}, {"w", random_f32({2, 3, 5, 5}, 3)}}), Error);
  EXPECT_THROW(run1("Conv", {{"x", x}, {"w", random_f32({2, 3, 1, 1}, 3)}},
                    {{"auto_pad", A::of_string("BOGUS")}}),
               Error);
}

}  // namespace
}  // namespace sq::test
