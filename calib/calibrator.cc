#include "calib/calibrator.h"

#include <iostream>
#include <mutex>
#include <set>

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
  std::map<std::string, std::vector<std::string>> requests_of_node;  // node -> request keys
  std::set<std::string> softmax_inputs;
  for (const auto& [key, req] : plan.softmax) {
    result.softmax[key] = SoftmaxStats(req.grid);
    requests_of_node[req.node].push_back(key);
  }
  for (const Node& n : g.nodes) {
    if (requests_of_node.count(n.name)) softmax_inputs.insert(n.input(0));
  }
  std::map<std::string, Tensor> pending_scores;

  ReferenceEngine::Observer observer = [&](const Node& node, size_t o, const Tensor& value) {
    const std::string& name = node.outputs[o];
    auto obs = observers.find(name);
    if (obs != observers.end() && value.dtype() == DType::kFloat32) {
      obs->second->observe(value.data<float>(), value.numel());
    }
    if (softmax_inputs.count(name) && value.dtype() == DType::kFloat32) pending_scores[name] = value;
    if (node.op_type == "Softmax" && o == 0) {
      auto req = requests_of_node.find(node.name);
      auto sc = pending_scores.find(node.input(0));
      if (req != requests_of_node.end() && sc != pending_scores.end()) {
        for (const auto& key : req->second) result.softmax[key].observe(sc->second, value);
        pending_scores.erase(sc);
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
