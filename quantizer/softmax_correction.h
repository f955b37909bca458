// Why this exists: folds softmax bias correction into the exported graph, in standard ONNX ops.
// Offset form: probabilities become q(y) + beta on valid keys, exactly 0 on masked keys (valid =
// score above the mask sentinel), i.e. a fractional zero point z' = z - beta/s. Scale form: the
// DequantizeLinear scale becomes s * factor (per tensor or per head), or the dequantized values
// are multiplied by a per-length factor. Masked keys quantize to 0 and stay 0 in both forms.
#pragma once

#include <string>
#include <vector>

#include "calib/softmax_stats.h"
#include "quantizer/graph_editor.h"
#include "quantizer/qdq_plan.h"

namespace sq {

struct SoftmaxCorrection {
  BcGranularity granularity = BcGranularity::kNone;
  BcForm form = BcForm::kOffset;
  std::vector<double> values;  // beta (offset) or factor (scale): 1, per head, or per length bucket
  int head_axis = -1;          // axis of the head dimension in the Softmax output (-1: none)
  int rank = 0;
};

// Chooses the correction for one Softmax from its statistics (granularity none -> no values).
// Per-head needs a rank-3 or rank-4 Softmax; otherwise it falls back to per tensor.
SoftmaxCorrection make_softmax_correction(const SoftmaxStats& stats, BcGranularity g, BcForm form);

// Inserts the softmax output quantizer with its correction; returns the corrected tensor name.
std::string emit_softmax_quantizer(GraphEditor& ed, const SoftmaxQuantPlan& plan,
                                   const SoftmaxGrid& grid, const SoftmaxCorrection& corr);

}  // namespace sq
