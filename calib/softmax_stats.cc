#include "calib/softmax_stats.h"

#include <algorithm>
#include <cmath>

#include "calib/observers.h"
#include "runtime/kernels/quant_math.h"

namespace sq {

float SoftmaxGrid::quantize(float y) const {
  const int32_t qmax = (1 << bits) - 1;
  int32_t q = quantize_value(y, scale, zero_point, 0, qmax);
  return dequantize_value(q, scale, zero_point);
}

int length_bucket(int64_t valid_keys) {
  int k = 0;
  while ((int64_t{2} << k) <= valid_keys && k + 1 < kNumLengthBuckets) ++k;
  return k;
}

void SoftmaxCell::add(const SoftmaxCell& o) {
  rows += o.rows;
  sum_beta += o.sum_beta;
  sum_qsum += o.sum_qsum;
  sum_len += o.sum_len;
  sum_deficit += o.sum_deficit;
}

SoftmaxCell& SoftmaxStats::cell(int head, int bucket) {
  if (static_cast<int>(cells_.size()) <= head) cells_.resize(static_cast<size_t>(head) + 1);
  auto& row = cells_[static_cast<size_t>(head)];
  if (row.empty()) row.resize(kNumLengthBuckets);
  return row[static_cast<size_t>(bucket)];
}

void SoftmaxStats::observe(const Tensor& scores, const Tensor& probs) {
  SQ_CHECK(scores.shape() == probs.shape() && probs.rank() >= 1, "softmax statistics: input ",
           shape_str(scores.shape()), " and output ", shape_str(probs.shape()), " differ");
  SQ_CHECK(probs.dtype() == DType::kFloat32 && scores.dtype() == DType::kFloat32,
           "softmax statistics need float32 tensors");
  const Shape& shape = probs.shape();
  rank_ = probs.rank();
  const int64_t keys = shape.back();
  if (keys == 0) return;
  const int64_t rows = probs.numel() / keys;
  int head_axis = probs.rank() == 4 ? 1 : (probs.rank() == 3 ? 0 : -1);
  int64_t inner = 1;  // rows per head index step
  int64_t heads = 1;
  if (head_axis >= 0) {
    heads = shape[static_cast<size_t>(head_axis)];
    for (int d = head_axis + 1; d < probs.rank() - 1; ++d) inner *= shape[static_cast<size_t>(d)];
  }
  const float* x = scores.data<float>();
  const float* y = probs.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * keys;
    const float* yr = y + r * keys;
    int64_t valid = 0;
    double qsum = 0;
    for (int64_t j = 0; j < keys; ++j) {
      if (!(xr[j] > -kMaskSentinel)) continue;  // masked key (float-min or -inf)
      ++valid;
      qsum += grid_.quantize(yr[j]);
    }
    if (valid == 0) continue;
    int h = head_axis >= 0 ? static_cast<int>((r / inner) % heads) : 0;
    SoftmaxCell& c = cell(h, length_bucket(valid));
    c.rows += 1;
    c.sum_beta += (1.0 - qsum) / static_cast<double>(valid);
    c.sum_qsum += qsum;
    c.sum_len += static_cast<double>(valid);
    c.sum_deficit += 1.0 - qsum;
  }
}

SoftmaxCell SoftmaxStats::total() const {
  SoftmaxCell t;
  for (const auto& row : cells_) for (const auto& c : row) t.add(c);
  return t;
}

SoftmaxCell SoftmaxStats::head(int h) const {
  SoftmaxCell t;
  if (h < static_cast<int>(cells_.size())) for (const auto& c : cells_[static_cast<size_t>(h)]) t.add(c);
  return t;
}

SoftmaxCell SoftmaxStats::bucket(int k) const {
  SoftmaxCell t;
  for (const auto& row : cells_) if (!row.empty()) t.add(row[static_cast<size_t>(k)]);
  return t;
}

static double correction_of(const SoftmaxCell& c, BcForm form) {
  if (c.rows == 0) return form == BcForm::kOffset ? 0.0 : 1.0;
  if (form == BcForm::kOffset) return c.sum_beta / c.rows;
  double mean_sum = c.sum_qsum / c.rows;
  return mean_sum > 0 ? 1.0 / mean_sum : 1.0;
}

std::vector<double> SoftmaxStats::corrections(BcGranularity g, BcForm form) const {
  switch (g) {
    case BcGranularity::kNone: return {};
    case BcGranularity::kTensor: return {correction_of(total(), form)};
    case BcGranularity::kHead: {
      std::vector<double> v;
      for (int h = 0; h < num_heads(); ++h) v.push_back(correction_of(head(h), form));
      return v;
    }
    case BcGranularity::kLength: {
      std::vector<double> v;
      double fallback = correction_of(total(), form);
      for (int k = 0; k < kNumLengthBuckets; ++k) {
        SoftmaxCell c = bucket(k);
        v.push_back(c.rows > 0 ? correction_of(c, form) : fallback);
      }
      return v;
    }
  }
  return {};
}

double SoftmaxStats::correction_for(const std::vector<double>& corr, BcGranularity g, int head,
                                    int bucket) const {
  switch (g) {
    case BcGranularity::kNone: return 0;
    case BcGranularity::kTensor: return corr[0];
    case BcGranularity::kHead: return corr[static_cast<size_t>(head)];
    case BcGranularity::kLength: return corr[static_cast<size_t>(bucket)];
  }
  return 0;
}

double SoftmaxStats::deficit_before() const {
  SoftmaxCell t = total();
  return t.rows > 0 ? t.sum_deficit / t.rows : 0;
}

double SoftmaxStats::deficit_after(BcGranularity g, BcForm form) const {
  if (g == BcGranularity::kNone) return deficit_before();
  std::vector<double> corr = corrections(g, form);
  double rows = 0, deficit = 0;
  for (size_t h = 0; h < cells_.size(); ++h) {
    for (size_t k = 0; k < cells_[h].size(); ++k) {
      const SoftmaxCell& c = cells_[h][k];
      if (c.rows == 0) continue;
      double v = correction_for(corr, g, static_cast<int>(h), static_cast<int>(k));
      rows += c.rows;
      // offset: 1 - (S + beta L); scale: 1 - S * factor.
      deficit += form == BcForm::kOffset ? c.sum_deficit - v * c.sum_len : c.rows - v * c.sum_qsum;
    }
  }
  return rows > 0 ? deficit / rows : 0;
}

std::vector<SoftmaxStats::BucketRow> SoftmaxStats::row_sum_by_length(BcGranularity g, BcForm form) const {
  std::vector<double> corr = corrections(g, form);
  std::vector<BucketRow> out;
  for (int k = 0; k < kNumLengthBuckets; ++k) {
    BucketRow row{k, 0, 0, 0, 0};
    double len = 0;
    for (size_t h = 0; h < cells_.size(); ++h) {
      if (cells_[h].empty()) continue;
      const SoftmaxCell& c = cells_[h][static_cast<size_t>(k)];
      if (c.rows == 0) continue;
      double v = correction_for(corr, g, static_cast<int>(h), k);
      row.rows += c.rows;
      len += c.sum_len;
      row.sum_before += c.sum_qsum;
      if (g == BcGranularity::kNone) row.sum_after += c.sum_qsum;
      else row.sum_after += form == BcForm::kOffset ? c.sum_qsum + v * c.sum_len : c.sum_qsum * v;
    }
    if (row.rows == 0) continue;
    row.mean_len = len / row.rows;
    row.sum_before /= row.rows;
    row.sum_after /= row.rows;
    out.push_back(row);
  }
  return out;
}

const char* bc_granularity_name(BcGranularity g) {
  switch (g) {
    case BcGranularity::kNone: return "none";
    case BcGranularity::kTensor: return "tensor";
    case BcGranularity::kHead: return "head";
    case BcGranularity::kLength: return "length";
  }
  return "?";
}

const char* bc_form_name(BcForm f) { return f == BcForm::kOffset ? "offset" : "scale"; }

BcGranularity parse_bc_granularity(const std::string& s) {
  if (s == "none") return BcGranularity::kNone;
  if (s == "tensor") return BcGranularity::kTensor;
  if (s == "head") return BcGranularity::kHead;
  if (s == "length") return BcGranularity::kLength;
  throw make_error("unknown --softmax-bc '", s, "' (expected none, tensor, head or length)");
}

BcForm parse_bc_form(const std::string& s) {
  if (s == "offset") return BcForm::kOffset;
  if (s == "scale") return BcForm::kScale;
  throw make_error("unknown --softmax-bc-form '", s, "' (expected offset or scale)");
}

}  // namespace sq
