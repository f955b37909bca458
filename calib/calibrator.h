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
  // Softmax statistics to collect, keyed by the name they get in the result: each is a Softmax
  // node and one output grid (several keys may name the same node with different grids).
  struct SoftmaxRequest {
    std::string node;
    SoftmaxGrid grid;
  };
  std::map<std::string, SoftmaxRequest> softmax;
};

struct CalibrationResult {
  std::map<std::string, Range> ranges;
  std::map<std::string, SoftmaxStats> softmax;  // request key -> statistics
  size_t samples = 0;
};

CalibrationResult calibrate(const ReferenceEngine& engine, const SampleSet& data,
                            const CalibrationPlan& plan, int threads, const std::string& label);

}  // namespace sq
