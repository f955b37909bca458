#include "runtime/engine/reference_engine.h"

#include <unordered_map>

namespace sq {

ReferenceEngine::ReferenceEngine(std::shared_ptr<const Model> model) : model_(std::move(model)) {
  const Graph& g = model_->graph;
  const OpRegistry& registry = OpRegistry::builtin();
  std::unordered_map<std::string, int> slot_of;
  auto slot = [&](const std::string& name) {
    auto [it, inserted] = slot_of.emplace(name, static_cast<int>(slot_names_.size()));
    if (inserted) slot_names_.push_back(name);
    return it->second;
  };
  for (const auto& vi : g.inputs) input_slots_.push_back(slot(vi.name));
  for (const auto& [name, t] : g.initializers) initializer_slots_.emplace_back(slot(name), &t);

  std::string unsupported;
  int64_t opset = model_->opset();
  for (const Node& n : g.nodes) {
    const OpFactory* f = registry.find(n.domain, n.op_type);
    if (!f) {
      unsupported += (unsupported.empty() ? "" : ", ") + n.describe();
      kernels_.push_back(nullptr);
    } else {
      kernels_.push_back((*f)(n, opset));
    }
    std::vector<int> ins, outs;
    for (const auto& in : n.inputs) ins.push_back(in.empty() ? -1 : slot(in));
    for (const auto& out : n.outputs) outs.push_back(out.empty() ? -1 : slot(out));
    node_inputs_.push_back(std::move(ins));
    node_outputs_.push_back(std::move(outs));
  }
  if (!unsupported.empty()) {
    throw make_error("unsupported op(s): ", unsupported);
  }
  // Order is validated here too, for graphs built in memory rather than loaded.
  std::vector<size_t> order = topological_order(g);
  for (size_t i = 0; i < order.size(); ++i) {
    SQ_CHECK(order[i] == i, "graph nodes are not in topological order (", g.nodes[order[i]].describe(), ")");
  }
  for (const auto& vi : g.outputs) output_slots_.push_back(slot(vi.name));
  is_graph_input_.assign(slot_names_.size(), false);
  for (int s : input_slots_) is_graph_input_[s] = true;

  // Liveness: each intermediate is released after the last node that reads it.
  std::vector<int> last_use(slot_names_.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int s : node_inputs_[i]) if (s >= 0) last_use[s] = static_cast<int>(i);
    for (int s : node_outputs_[i]) if (s >= 0 && last_use[s] < static_cast<int>(i)) last_use[s] = static_cast<int>(i);
  }
  std::vector<bool> keep(slot_names_.size(), false);
  for (int s : output_slots_) keep[s] = true;
  for (auto& [s, t] : initializer_slots_) keep[s] = true;
  release_after_.resize(g.nodes.size());
  for (size_t s = 0; s < slot_names_.size(); ++s) {
    if (!keep[s] && last_use[s] >= 0) release_after_[last_use[s]].push_back(static_cast<int>(s));
  }
}

TensorMap ReferenceEngine::run(const TensorMap& inputs, ThreadPool& pool,
                               const Observer* observer) const {
  const Graph& g = model_->graph;
  check_bindings(g, inputs);
  std::vector<Tensor> slots(slot_names_.size());
  for (size_t i = 0; i < g.inputs.size(); ++i) slots[input_slots_[i]] = inputs.at(g.inputs[i].name);
  for (const auto& [s, t] : initializer_slots_) slots[s] = *t;

  int64_t live_bytes = 0, peak = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    std::vector<const Tensor*> ins;
    ins.reserve(node_inputs_[i].size());
    for (int s : node_inputs_[i]) {
      if (s < 0) {
        ins.push_back(nullptr);
        continue;
      }
      SQ_CHECK(!slots[s].empty_handle(), n.describe(), ": input '", slot_names_[s], "' has no value");
      ins.push_back(&slots[s]);
    }
    std::vector<Tensor> outs(node_outputs_[i].size());
    OpContext ctx(n, std::move(ins), &outs, pool);
    try {
      kernels_[i]->run(ctx);
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.find(n.describe()) == std::string::npos) msg = n.describe() + ": " + msg;
      throw Error(msg);
    }
    for (size_t o = 0; o < outs.size(); ++o) {
      int s = node_outputs_[i][o];
      if (s < 0) continue;
      SQ_CHECK(!outs[o].empty_handle(), n.describe(), ": produced no value for output '", n.outputs[o], "'");
      if (observer) (*observer)(n, o, outs[o]);
      live_bytes += static_cast<int64_t>(outs[o].nbytes());
      slots[s] = std::move(outs[o]);
    }
    peak = std::max(peak, live_bytes);
    for (int s : release_after_[i]) {
      if (!is_graph_input_[s]) live_bytes -= static_cast<int64_t>(slots[s].nbytes());
      slots[s] = Tensor();
    }
  }
  last_peak_bytes_ = peak;
  TensorMap result;
  for (size_t i = 0; i < g.outputs.size(); ++i) result[g.outputs[i].name] = slots[output_slots_[i]];
  return result;
}

}  // namespace sq
