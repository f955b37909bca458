#include "calib/calibrator.h"

#include <iostream>
#include <mutex>

#include "calib/progress.h"

namespace sq {

CalibrationResult calibrate(const ReferenceEngine& engine, const SampleSet& data,
                            const CalibrationPlan& plan, int threads, const std::string& label) {
  const Graph& g = engine.model().graph;
  std::map<std::string, std::unique_ptr<RangeObserver>> observers;
  for (const auto& name : plan.range_tensors) {
    auto it = plan.observer_overrides.find(name);
    observers[name] = make_observer(it != plan.observer_overrides.end() ? it->second : plan.observer);
  }
  CalibrationResult result;
  std::map<std::string, std::string> softmax_input_to_node;
  for (const Node& n : g.nodes) {
    auto it = plan.softmax_grids.find(n.name);
    if (it == plan.softmax_grids.end()) continue;
    result.softmax[n.name] = SoftmaxStats(it->second);
    softmax_input_to_node[n.input(0)] = n.name;
  }
  std::map<std::string, Tensor> pending_scores;

  ReferenceEngine::Observer observer = [&](const Node& node, size_t o, const Tensor& value) {
    const std::string& name = node.outputs[o];
    auto obs = observers.find(name);
    if (obs != observers.end() && value.dtype() == DType::kFloat32) {
      obs->second->observe(value.data<float>(), value.numel());
    }
    if (softmax_input_to_node.count(name) && value.dtype() == DType::kFloat32) pending_scores[name] = value;
    if (node.op_type == "Softmax" && o == 0) {
      auto st = result.softmax.find(node.name);
      if (st != result.softmax.end()) {
        auto sc = pending_scores.find(node.input(0));
        if (sc != pending_scores.end()) {
          st->second.observe(sc->second, value);
          pending_scores.erase(sc);
        }
      }
    }
  };

  ThreadPool pool(threads);
  Progress progress(label, static_cast<int64_t>(data.size()));
  for (size_t i = 0; i < data.size(); ++i) {
    TensorMap feeds = data.feeds(i);
    for (const auto& [name, t] : feeds) {
      auto obs = observers.find(name);
      if (obs != observers.end() && t.dtype() == DType::kFloat32) obs->second->observe(t.data<float>(), t.numel());
    }
    try {
      engine.run(feeds, pool, &observer);
    } catch (const Error& e) {
      throw make_error("calibration sample ", data.name(i), ": ", e.what());
    }
    progress.step();
  }
  progress.finish();
  result.samples = data.size();
  for (auto& [name, obs] : observers) {
    if (!obs->empty()) result.ranges[name] = obs->range();
  }
  return result;
}

}  // namespace sq
