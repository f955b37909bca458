// Softmax bias statistics and correction values against hand arithmetic.
#include <gtest/gtest.h>

#include <cmath>

#include "calib/softmax_stats.h"
#include "quantizer/quant_params.h"

namespace sq {
namespace {

constexpr float kMasked = -3.4028234663852886e38f;

TEST(SoftmaxGrid, QuantizesOnTheUnsignedGrid) {
  SoftmaxGrid g{4, 1.0f / 16, 0};
  EXPECT_FLOAT_EQ(g.quantize(0.5f), 0.5f);
  EXPECT_FLOAT_EQ(g.quantize(0.3f), 5.0f / 16);   // 4.8 -> 5
  EXPECT_FLOAT_EQ(g.quantize(0.03125f), 0.0f);    // 0.5 -> 0 (ties to even)
  EXPECT_FLOAT_EQ(g.quantize(0.09375f), 2.0f / 16);  // 1.5 -> 2 (ties to even)
  EXPECT_FLOAT_EQ(g.quantize(1.0f), 15.0f / 16);  // 16 saturates at 2^4 - 1
}

TEST(SoftmaxGrid, GridKinds) {
  EXPECT_FLOAT_EQ(softmax_grid(SoftmaxGridKind::kFixed, 8, 0).scale, 1.0f / 256);
  EXPECT_FLOAT_EQ(softmax_grid(SoftmaxGridKind::kUnit, 8, 0).scale, 1.0f / 255);
  EXPECT_FLOAT_EQ(softmax_grid(SoftmaxGridKind::kCalibrated, 8, 0.51f).scale, 0.51f / 255);
}

TEST(SoftmaxStats, LengthBuckets) {
  EXPECT_EQ(length_bucket(1), 0);
  EXPECT_EQ(length_bucket(2), 1);
  EXPECT_EQ(length_bucket(3), 1);
  EXPECT_EQ(length_bucket(4), 2);
  EXPECT_EQ(length_bucket(4095), 11);
  EXPECT_EQ(length_bucket(4096), 12);
}

// One head, two rows of 6 keys; the last key of row 0 is masked.
TEST(SoftmaxStats, DeficitAndCorrectionsByHand) {
  SoftmaxStats stats(SoftmaxGrid{4, 1.0f / 16, 0});
  Tensor scores = Tensor::from_vector<float>({1, 1, 2, 6}, {0, 0, 0, 0, 0, kMasked,  //
                                                            0, 0, 0, 0, 0, 0});
  // Row 0 (5 valid): q = 0.5, 0.3125, 0.125, 0.0625, 0.0625 -> sum 1.0625, deficit -0.0625.
  // Row 1 (6 valid): 1/6 -> 2.67 -> 3/16 each -> sum 1.125, deficit -0.125.
  const float s6 = 1.0f / 6;
  Tensor probs = Tensor::from_vector<float>({1, 1, 2, 6}, {0.5f, 0.3f, 0.1f, 0.05f, 0.05f, 0.f,  //
                                                           s6, s6, s6, s6, s6, s6});
  stats.observe(scores, probs);
  SoftmaxCell t = stats.total();
  EXPECT_EQ(t.rows, 2);
  EXPECT_DOUBLE_EQ(t.sum_len, 11);
  EXPECT_NEAR(stats.deficit_before(), (-0.0625 - 0.125) / 2, 1e-12);
  // beta = E[(1 - S) / L] = (-0.0625/5 - 0.125/6) / 2
  std::vector<double> beta = stats.corrections(BcGranularity::kTensor, BcForm::kOffset);
  ASSERT_EQ(beta.size(), 1u);
  EXPECT_NEAR(beta[0], (-0.0625 / 5 - 0.125 / 6) / 2, 1e-12);
  // factor = 1 / E[S]
  std::vector<double> f = stats.corrections(BcGranularity::kTensor, BcForm::kScale);
  EXPECT_NEAR(f[0], 1.0 / ((1.0625 + 1.125) / 2), 1e-12);
  // After the scale correction the mean row sum is exactly 1.
  EXPECT_NEAR(stats.deficit_after(BcGranularity::kTensor, BcForm::kScale), 0.0, 1e-12);
  // Length buckets: L=5 -> bucket 2, L=6 -> bucket 2 (same bucket): offset by length gives
  // deficit_after = E[1-S] - beta * E[L].
  std::vector<double> by_len = stats.corrections(BcGranularity::kLength, BcForm::kOffset);
  EXPECT_NEAR(by_len[2], beta[0], 1e-12);
  EXPECT_NEAR(stats.deficit_after(BcGranularity::kLength, BcForm::kOffset),
              (-0.0625 - 0.125) / 2 - beta[0] * 5.5, 1e-12);
}

TEST(SoftmaxStats, PerHeadCells) {
  SoftmaxStats stats(SoftmaxGrid{8, 1.0f / 256, 0});
  // Two heads, one row each, 4 keys: head 0 uniform (0.25 -> exact), head 1 tiny values.
  Tensor scores = Tensor::zeros(DType::kFloat32, {1, 2, 1, 4});
  Tensor probs = Tensor::from_vector<float>({1, 2, 1, 4}, {0.25f, 0.25f, 0.25f, 0.25f,  //
                                                           0.997f, 0.001f, 0.001f, 0.001f});
  stats.observe(scores, probs);
  ASSERT_EQ(stats.num_heads(), 2);
  EXPECT_NEAR(stats.head(0).sum_deficit, 0.0, 1e-9);
  // 0.997*256 = 255.2 -> 255/256; 0.001*256 = 0.256 -> 0.
  EXPECT_NEAR(stats.head(1).sum_deficit, 1.0 - 255.0 / 256, 1e-9);
  std::vector<double> beta = stats.corrections(BcGranularity::kHead, BcForm::kOffset);
  ASSERT_EQ(beta.size(), 2u);
  EXPECT_NEAR(beta[0], 0.0, 1e-12);
  EXPECT_NEAR(beta[1], (1.0 / 256) / 4, 1e-12);
  EXPECT_NEAR(stats.deficit_after(BcGranularity::kHead, BcForm::kOffset), 0.0, 1e-12);
}

TEST(QuantParams, AsymmetricByHand) {
  AffineParams p = asymmetric_params({-1.0f, 3.0f}, 8);
  EXPECT_FLOAT_EQ(p.scale, 4.0f / 255);
  EXPECT_EQ(p.zero_point, 64);  // round(1 / (4/255)) = round(63.75)
  AffineParams q = asymmetric_params({0.5f, 2.0f}, 8);  // range widened to include 0
  EXPECT_FLOAT_EQ(q.scale, 2.0f / 255);
  EXPECT_EQ(q.zero_point, 0);
  EXPECT_FLOAT_EQ(symmetric_scale(1.27f, 8), 0.01f);
  EXPECT_FLOAT_EQ(symmetric_scale(0.7f, 4), 0.1f);
}

}  // namespace
}  // namespace sq
