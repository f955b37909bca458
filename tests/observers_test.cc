// Range observers against hand-computed ranges.
#include <gtest/gtest.h>

#include <vector>

#include "calib/observers.h"

namespace sq {
namespace {

TEST(Observers, MinMaxIgnoresMaskSentinels) {
  auto obs = make_observer({ObserverKind::kMinMax});
  std::vector<float> a = {0.5f, -2.0f, -3.4e38f, 1.5f};
  std::vector<float> b = {4.0f, -1.0f};
  obs->observe(a.data(), static_cast<int64_t>(a.size()));
  obs->observe(b.data(), static_cast<int64_t>(b.size()));
  Range r = obs->range();
  EXPECT_FLOAT_EQ(r.min, -2.0f);
  EXPECT_FLOAT_EQ(r.max, 4.0f);
}

TEST(Observers, RangeAlwaysContainsZero) {
  auto obs = make_observer({ObserverKind::kMinMax});
  std::vector<float> a = {2.0f, 3.0f};
  obs->observe(a.data(), 2);
  EXPECT_FLOAT_EQ(obs->range().min, 0.0f);
}

TEST(Observers, EmaAveragesSampleRanges) {
  ObserverOptions o;
  o.kind = ObserverKind::kEmaMinMax;
  o.ema_momentum = 0.5;
  auto obs = make_observer(o);
  std::vector<float> a = {-1.0f, 1.0f}, b = {-3.0f, 5.0f};
  obs->observe(a.data(), 2);
  obs->observe(b.data(), 2);
  EXPECT_FLOAT_EQ(obs->range().min, -2.0f);
  EXPECT_FLOAT_EQ(obs->range().max, 3.0f);
}

TEST(Observers, PercentileClipsOutliers) {
  ObserverOptions o;
  o.kind = ObserverKind::kPercentile;
  o.percentile = 99.0;
  auto obs = make_observer(o);
  std::vector<float> x;
  for (int i = 0; i < 10000; ++i) x.push_back(static_cast<float>(i % 100) / 100.0f);  // uniform [0, 1)
  x.push_back(1000.0f);  // one outlier
  obs->observe(x.data(), static_cast<int64_t>(x.size()));
  Range r = obs->range();
  EXPECT_NEAR(r.max, 0.99f, 0.6f);  // far below the outlier
  EXPECT_LT(r.max, 10.0f);
}

TEST(Observers, MseShrinksRangeForHeavyTail) {
  ObserverOptions o;
  o.kind = ObserverKind::kMse;
  o.bits = 4;
  auto obs = make_observer(o);
  std::vector<float> x;
  for (int i = 0; i < 20000; ++i) x.push_back(static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f);
  x.push_back(50.0f);
  obs->observe(x.data(), static_cast<int64_t>(x.size()));
  Range r = obs->range();
  EXPECT_LT(r.max, 50.0f);  // clipping the lone outlier lowers the expected error
  EXPECT_GT(r.max, 0.4f);
}

TEST(Observers, HistogramQuantiles) {
  Histogram h(1000);
  std::vector<float> x;
  for (int i = 0; i <= 1000; ++i) x.push_back(static_cast<float>(i));
  h.add(x.data(), static_cast<int64_t>(x.size()));
  EXPECT_NEAR(h.quantile(0.5), 500.0f, 2.0f);
  EXPECT_NEAR(h.quantile(0.0), 0.0f, 1.0f);
  EXPECT_NEAR(h.quantile(1.0), 1000.0f, 1.0f);
}

TEST(Observers, ParseNames) {
  EXPECT_EQ(parse_observer_kind("mse"), ObserverKind::kMse);
  EXPECT_THROW(parse_observer_kind("avg"), std::exception);
}

}  // namespace
}  // namespace sq
