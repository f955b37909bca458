// Why this exists: the quantizer's entry point. Plans what to quantize, calibrates on the FP32
// model (ranges of activations; softmax statistics on the chosen output grid, with a first pass
// for the softmax maximum when the grid is calibrated), then rewrites a copy of the model into a
// QDQ graph with the softmax bias correction folded in, and describes every encoding.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "calib/calibrator.h"
#include "quantizer/config.h"
#include "quantizer/qdq_plan.h"
#include "quantizer/softmax_correction.h"
#include "runtime/core/json.h"

namespace sq {

struct SoftmaxReport {
  std::string node;
  SoftmaxGrid grid;
  SoftmaxCorrection correction;
  double rows = 0, mean_valid_keys = 0;
  double deficit_before = 0, deficit_after = 0;
  std::vector<SoftmaxStats::BucketRow> by_length;
};

// A softmax output quantizer whose statistics a calibration pass collects.
struct SoftmaxVariant {
  int bits = 8;
  SoftmaxGridKind grid = SoftmaxGridKind::kFixed;
  auto operator<=>(const SoftmaxVariant&) const = default;
};

// Statistics gathered once on the FP32 model: activation ranges, and softmax statistics for
// every requested (bits, grid) variant, so one calibration serves a whole sweep of softmax
// settings and corrections (granularity and form need no new statistics).
struct Calibration {
  QdqPlan plan;
  std::map<std::string, Range> ranges;
  std::map<SoftmaxVariant, std::map<std::string, SoftmaxStats>> softmax;  // variant -> node -> stats
  std::map<SoftmaxVariant, std::map<std::string, SoftmaxGrid>> grids;     // variant -> node -> grid
  size_t samples = 0;
};

struct QuantizeResult {
  Model model;
  Json encodings;
  std::vector<SoftmaxReport> softmax;
  size_t quantized_nodes = 0, weights = 0, activations = 0;
};

// Variants default to those the config itself needs (its softmax bits and grid, plus per-node
// softmax-bits overrides).
Calibration calibrate_model(std::shared_ptr<const Model> model, const QuantConfig& config,
                            const SampleSet& data, int threads,
                            std::vector<SoftmaxVariant> variants = {});

QuantizeResult build_quantized_model(const Model& model, const QuantConfig& config,
                                     const Calibration& calibration);

}  // namespace sq
