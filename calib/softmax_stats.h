// Why this exists: the statistics softmax bias correction needs. For every row of a Softmax
// output (one query), with L valid keys (score above the mask sentinel; masked and padded keys
// excluded), it measures the quantized row sum S = sum_j q(y_j) for the chosen unsigned output
// grid, and accumulates, per (head, valid-length bucket) cell: rows, sum of (1 - S) / L, sum of S,
// sum of L and sum of (1 - S). Any granularity (tensor, head, length) and either correction form
// (offset beta, or scale factor) is computed from these cells, and so is the deficit left after
// correcting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"

namespace sq {

// The unsigned b-bit grid of a softmax output: q(y) = s * (clamp(round(y/s) + z, 0, 2^b-1) - z).
struct SoftmaxGrid {
  int bits = 8;
  float scale = 1.0f / 256;
  int32_t zero_point = 0;
  float quantize(float y) const;  // returns the dequantized value q(y)
};

// Valid-length buckets: bucket k holds rows with L in [2^k, 2^(k+1)).
int length_bucket(int64_t valid_keys);
constexpr int kNumLengthBuckets = 24;

struct SoftmaxCell {
  double rows = 0, sum_beta = 0, sum_qsum = 0, sum_len = 0, sum_deficit = 0;
  void add(const SoftmaxCell& o);
};

enum class BcGranularity { kNone, kTensor, kHead, kLength };
enum class BcForm { kOffset, kScale };

class SoftmaxStats {
 public:
  SoftmaxStats() = default;
  explicit SoftmaxStats(SoftmaxGrid grid) : grid_(grid) {}

  // scores: the Softmax input; probs: its output (same shape, softmax over the last axis).
  // The head index is axis 1 of a rank-4 tensor, axis 0 of a rank-3 one, else 0.
  void observe(const Tensor& scores, const Tensor& probs);

  const SoftmaxGrid& grid() const { return grid_; }
  int num_heads() const { return static_cast<int>(cells_.size()); }
  SoftmaxCell total() const;
  SoftmaxCell head(int h) const;
  SoftmaxCell bucket(int k) const;
  bool empty() const { return total().rows == 0; }
  int rank() const { return rank_; }  // rank of the observed Softmax tensors (0 if none)

  // Correction per group: beta (offset form) or factor (scale form). For kTensor one value;
  // kHead one per head; kLength one per bucket (empty buckets take the tensor value).
  std::vector<double> corrections(BcGranularity g, BcForm form) const;
  // Mean row-sum deficit E[1 - S] before, and after applying corrections(g, form).
  double deficit_before() const;
  double deficit_after(BcGranularity g, BcForm form) const;
  // Mean quantized row sum per length bucket, before and after (for plots): {bucket, before, after}.
  struct BucketRow {
    int bucket;
    double rows, mean_len, sum_before, sum_after;
  };
  std::vector<BucketRow> row_sum_by_length(BcGranularity g, BcForm form) const;

 private:
  SoftmaxCell& cell(int head, int bucket);
  double correction_for(const std::vector<double>& corr, BcGranularity g, int head, int bucket) const;

  SoftmaxGrid grid_;
  int rank_ = 0;
  std::vector<std::vector<SoftmaxCell>> cells_;  // [head][bucket]
};

const char* bc_granularity_name(BcGranularity g);
const char* bc_form_name(BcForm f);
BcGranularity parse_bc_granularity(const std::string& s);
BcForm parse_bc_form(const std::string& s);

}  // namespace sq
