#include "calib/observers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/core/error.h"

namespace sq {

ObserverKind parse_observer_kind(const std::string& name) {
  if (name == "minmax") return ObserverKind::kMinMax;
  if (name == "ema") return ObserverKind::kEmaMinMax;
  if (name == "percentile") return ObserverKind::kPercentile;
  if (name == "mse") return ObserverKind::kMse;
  throw make_error("unknown observer '", name, "' (expected minmax, ema, percentile or mse)");
}

const char* observer_kind_name(ObserverKind k) {
  switch (k) {
    case ObserverKind::kMinMax: return "minmax";
    case ObserverKind::kEmaMinMax: return "ema";
    case ObserverKind::kPercentile: return "percentile";
    case ObserverKind::kMse: return "mse";
  }
  return "?";
}

namespace {

bool is_data(float v) { return std::isfinite(v) && std::fabs(v) < kMaskSentinel; }

Range sample_range(const float* x, int64_t n, bool* any) {
  float lo = std::numeric_limits<float>::max(), hi = std::numeric_limits<float>::lowest();
  *any = false;
  for (int64_t i = 0; i < n; ++i) {
    if (!is_data(x[i])) continue;
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    *any = true;
  }
  return {lo, hi};
}

Range with_zero(Range r) { return {std::min(r.min, 0.f), std::max(r.max, 0.f)}; }

class MinMaxObserver : public RangeObserver {
 public:
  void observe(const float* x, int64_t n) override {
    bool any;
    Range r = sample_range(x, n, &any);
    if (!any) return;
    if (empty_) {
      range_ = r;
      empty_ = false;
    } else {
      range_.min = std::min(range_.min, r.min);
      range_.max = std::max(range_.max, r.max);
    }
  }
  Range range() const override { return with_zero(range_); }
  bool empty() const override { return empty_; }

 private:
  Range range_;
  bool empty_ = true;
};

class EmaObserver : public RangeObserver {
 public:
  explicit EmaObserver(double momentum) : m_(momentum) {}
  void observe(const float* x, int64_t n) override {
    bool any;
    Range r = sample_range(x, n, &any);
    if (!any) return;
    if (empty_) {
      range_ = r;
      empty_ = false;
    } else {
      range_.min = static_cast<float>(m_ * range_.min + (1 - m_) * r.min);
      range_.max = static_cast<float>(m_ * range_.max + (1 - m_) * r.max);
    }
  }
  Range range() const override { return with_zero(range_); }
  bool empty() const override { return empty_; }

 private:
  double m_;
  Range range_;
  bool empty_ = true;
};

class PercentileObserver : public RangeObserver {
 public:
  explicit PercentileObserver(double pct) : pct_(pct) {}
  void observe(const float* x, int64_t n) override { hist_.add(x, n); }
  Range range() const override {
    double tail = (100.0 - pct_) / 100.0;
    return with_zero({hist_.quantile(tail), hist_.quantile(1.0 - tail)});
  }
  bool empty() const override { return hist_.empty(); }

 private:
  double pct_;
  Histogram hist_;
};

class MseObserver : public RangeObserver {
 public:
  explicit MseObserver(int bits) : bits_(bits) {}
  void observe(const float* x, int64_t n) override { hist_.add(x, n); }
  Range range() const override {
    Range full = with_zero({hist_.lo(), hist_.hi()});
    Range best = full;
    double best_err = hist_.quantization_mse(full.min, full.max, bits_);
    // Shrink each side independently over a grid of fractions of the full range.
    constexpr int kSteps = 40;
    for (int a = 0; a <= kSteps; ++a) {
      for (int b = 0; b <= kSteps; ++b) {
        float lo = full.min * (1.0f - 0.02f * static_cast<float>(a)) ;
        float hi = full.max * (1.0f - 0.02f * static_cast<float>(b));
        if (hi - lo <= 0) continue;
        double err = hist_.quantization_mse(lo, hi, bits_);
        if (err < best_err) {
          best_err = err;
          best = {lo, hi};
        }
      }
    }
    return best;
  }
  bool empty() const override { return hist_.empty(); }

 private:
  int bits_;
  Histogram hist_;
};

}  // namespace

std::unique_ptr<RangeObserver> make_observer(const ObserverOptions& o) {
  switch (o.kind) {
    case ObserverKind::kMinMax: return std::make_unique<MinMaxObserver>();
    case ObserverKind::kEmaMinMax: return std::make_unique<EmaObserver>(o.ema_momentum);
    case ObserverKind::kPercentile: return std::make_unique<PercentileObserver>(o.percentile);
    case ObserverKind::kMse: return std::make_unique<MseObserver>(o.bits);
  }
  return nullptr;
}

void Histogram::grow_to(float lo, float hi) {
  if (total_ == 0) {
    lo_ = lo;
    hi_ = hi > lo ? hi : lo + 1e-6f;
    return;
  }
  if (lo >= lo_ && hi <= hi_) return;
  float new_lo = std::min(lo, lo_), new_hi = std::max(hi, hi_);
  // Widen generously so re-binning happens O(log) times.
  float span = new_hi - new_lo;
  if (new_lo < lo_) new_lo -= 0.25f * span;
  if (new_hi > hi_) new_hi += 0.25f * span;
  std::vector<double> next(counts_.size(), 0.0);
  const double old_w = (hi_ - lo_) / static_cast<double>(counts_.size());
  const double new_w = (new_hi - new_lo) / static_cast<double>(next.size());
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    double center = lo_ + (static_cast<double>(i) + 0.5) * old_w;
    auto j = static_cast<size_t>(std::clamp((center - new_lo) / new_w, 0.0, static_cast<double>(next.size() - 1)));
    next[j] += counts_[i];
  }
  counts_.swap(next);
  lo_ = new_lo;
  hi_ = new_hi;
}

void Histogram::add(const float* x, int64_t n) {
  bool any;
  Range r = sample_range(x, n, &any);
  if (!any) return;
  grow_to(r.min, r.max);
  const double w = (hi_ - lo_) / static_cast<double>(counts_.size());
  const double last = static_cast<double>(counts_.size() - 1);
  for (int64_t i = 0; i < n; ++i) {
    if (!is_data(x[i])) continue;
    auto j = static_cast<size_t>(std::clamp((x[i] - lo_) / w, 0.0, last));
    counts_[j] += 1;
    total_ += 1;
  }
}

float Histogram::quantile(double fraction) const {
  if (total_ == 0) return 0;
  double target = fraction * total_, acc = 0;
  const double w = (hi_ - lo_) / static_cast<double>(counts_.size());
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (acc + counts_[i] >= target) {
      double within = counts_[i] > 0 ? (target - acc) / counts_[i] : 0;
      return static_cast<float>(lo_ + (static_cast<double>(i) + within) * w);
    }
    acc += counts_[i];
  }
  return hi_;
}

double Histogram::quantization_mse(float min, float max, int bits) const {
  const double levels = std::ldexp(1.0, bits) - 1;
  const double scale = (static_cast<double>(max) - min) / levels;
  if (scale <= 0) return std::numeric_limits<double>::max();
  const double w = (hi_ - lo_) / static_cast<double>(counts_.size());
  double err = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    double c = lo_ + (static_cast<double>(i) + 0.5) * w;
    double q = std::clamp(std::nearbyint((c - min) / scale), 0.0, levels) * scale + min;
    // Inside the range the rounding error is uniform (scale^2 / 12); outside it is clipping.
    double e = (c < min || c > max) ? (c - q) * (c - q) : scale * scale / 12.0;
    err += counts_[i] * e;
  }
  return err / total_;
}

}  // namespace sq
