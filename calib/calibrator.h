// Why this exists: one pass of the FP32 reference engine over a calibration SampleSet that feeds
// every produced tensor to the observers that asked for it: range observers for the activations
// the quantizer will quantize, and softmax statistics for the Softmax nodes it will correct.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "calib/dataset.h"
#include "calib/observers.h"
#include "calib/softmax_stats.h"
#include "runtime/engine/reference_engine.h"

namespace sq {

struct CalibrationPlan {
  std::set<std::string> range_tensors;             // activations to observe
  std::map<std::string, ObserverOptions> observer_overrides;  // per tensor, else `observer`
  ObserverOptions observer;
  std::map<std::string, SoftmaxGrid> softmax_grids;  // Softmax node name -> its output grid
};

struct CalibrationResult {
  std::map<std::string, Range> ranges;
  std::map<std::string, SoftmaxStats> softmax;  // Softmax node name -> statistics
  size_t samples = 0;
};

CalibrationResult calibrate(const ReferenceEngine& engine, const SampleSet& data,
                            const CalibrationPlan& plan, int threads, const std::string& label);

}  // namespace sq
