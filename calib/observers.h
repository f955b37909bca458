// Why this exists: range observers turn the values a tensor takes on calibration data into the
// [min, max] its quantizer covers. Four strategies: min-max, running (EMA) min-max over samples,
// percentile, and the MSE-optimal range for the target bit width (searched on a histogram).
// Values beyond +-1e30 are attention-mask sentinels (float-min), not data, and are ignored so
// they never blow up a range.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sq {

enum class ObserverKind { kMinMax, kEmaMinMax, kPercentile, kMse };

ObserverKind parse_observer_kind(const std::string& name);  // minmax|ema|percentile|mse
const char* observer_kind_name(ObserverKind k);

struct ObserverOptions {
  ObserverKind kind = ObserverKind::kMinMax;
  int bits = 8;                // target bit width (MSE search)
  double ema_momentum = 0.9;   // EMA: range = m * range + (1 - m) * sample range
  double percentile = 99.99;   // percentile: kept fraction of values on each side
};

struct Range {
  float min = 0, max = 0;
};

// Magnitude beyond which a value is treated as a mask sentinel and ignored.
constexpr float kMaskSentinel = 1e30f;

class RangeObserver {
 public:
  virtual ~RangeObserver() = default;
  // One call per sample (EMA updates once per call).
  virtual void observe(const float* x, int64_t n) = 0;
  // The range to quantize with; always contains 0 (so 0 is exactly representable).
  virtual Range range() const = 0;
  virtual bool empty() const = 0;
};

std::unique_ptr<RangeObserver> make_observer(const ObserverOptions& options);

// Histogram over a range that grows as data arrives (re-binning on growth), for percentile and
// MSE observers.
class Histogram {
 public:
  explicit Histogram(int bins = 2048) : counts_(static_cast<size_t>(bins), 0.0) {}
  void add(const float* x, int64_t n);
  bool empty() const { return total_ == 0; }
  double total() const { return total_; }
  float lo() const { return lo_; }
  float hi() const { return hi_; }
  // Value below which `fraction` of the mass lies (linear within a bin).
  float quantile(double fraction) const;
  // Expected squared error of quantizing the data to `bits` bits over [min, max].
  double quantization_mse(float min, float max, int bits) const;

 private:
  void grow_to(float lo, float hi);

  std::vector<double> counts_;
  float lo_ = 0, hi_ = 0;
  double total_ = 0;
};

}  // namespace sq
