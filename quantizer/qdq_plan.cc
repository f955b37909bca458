#include "quantizer/qdq_plan.h"

#include <set>
#include <unordered_map>

namespace sq {

bool is_pass_through_op(const std::string& op) {
  static const std::set<std::string> kOps = {"Reshape", "Transpose", "Squeeze", "Unsqueeze",
                                             "Flatten", "Identity", "Slice", "Gather", "Split",
                                             "Expand", "Tile"};
  return kOps.count(op) != 0;
}

namespace {

struct GraphIndex {
  std::unordered_map<std::string, size_t> producer;
  std::unordered_map<std::string, std::vector<InputRef>> consumers;
  explicit GraphIndex(const Graph& g) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      for (const auto& out : g.nodes[i].outputs) producer[out] = i;
      for (size_t k = 0; k < g.nodes[i].inputs.size(); ++k) {
        if (!g.nodes[i].inputs[k].empty()) consumers[g.nodes[i].inputs[k]].push_back({i, k});
      }
    }
  }
};

bool is_float_tensor(const Graph& g, const std::string& name) {
  const ValueInfo* vi = g.find_value_info(name);
  return !vi || !vi->has_type || vi->dtype == DType::kFloat32;
}

// Weight input slot and its per-channel (output channel) axis, or -1 if the op has none.
int weight_slot(const Node& n, int* axis) {
  if (n.op_type == "MatMul") {
    *axis = -2;  // last axis of B, resolved from its rank
    return 1;
  }
  if (n.op_type == "Gemm") {
    *axis = n.attr_int("transB", 0) ? 0 : 1;
    return 1;
  }
  if (n.op_type == "Conv") {
    *axis = 0;
    return 1;
  }
  return -1;
}

}  // namespace

QdqPlan plan_qdq(const Model& model, const QuantConfig& config) {
  const Graph& g = model.graph;
  GraphIndex index(g);
  QdqPlan plan;
  std::map<std::string, size_t> act_of_source, weight_of_init;
  std::set<std::string> softmax_outputs;

  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.op_type != "Softmax" || !n.domain.empty()) continue;
    NodeQuantSettings s = config.resolve(n);
    if (!s.quantize) continue;
    SoftmaxQuantPlan sp;
    sp.node = n.name;
    sp.output = n.outputs[0];
    sp.scores = n.input(0);
    sp.bits = s.softmax_bits;
    auto it = index.consumers.find(sp.output);
    if (it != index.consumers.end()) sp.uses = it->second;
    softmax_outputs.insert(sp.output);
    plan.softmaxes.push_back(std::move(sp));
  }

  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (!n.domain.empty() || (n.op_type != "MatMul" && n.op_type != "Gemm" && n.op_type != "Conv")) continue;
    NodeQuantSettings s = config.resolve(n);
    if (!s.quantize) {
      plan.float_nodes.push_back(n.name);
      continue;
    }
    plan.quantized_nodes.push_back(n.name);
    int axis = -1;
    int wslot = weight_slot(n, &axis);
    size_t data_inputs = n.op_type == "MatMul" ? 2 : 2;  // Gemm C and Conv B (bias) stay float
    for (size_t k = 0; k < data_inputs && k < n.inputs.size(); ++k) {
      const std::string& in = n.inputs[k];
      if (in.empty()) continue;
      if (g.is_initializer(in)) {
        if (g.initializers.at(in).dtype() != DType::kFloat32 || weight_of_init.count(in)) continue;
        WeightQuantPlan w;
        w.initializer = in;
        w.bits = s.weight_bits;
        int rank = g.initializers.at(in).rank();
        if (static_cast<int>(k) == wslot && config.weight_per_channel && rank >= 2) {
          w.axis = axis == -2 ? rank - 1 : axis;
        }
        weight_of_init[in] = plan.weights.size();
        plan.weights.push_back(w);
        continue;
      }
      // Trace back through pass-through ops to the tensor that produced the values.
      std::string cur = in;
      InputRef use{i, k};
      for (;;) {
        auto p = index.producer.find(cur);
        if (p == index.producer.end()) break;
        const Node& pn = g.nodes[p->second];
        if (!is_pass_through_op(pn.op_type) || pn.inputs.empty() || g.is_initializer(pn.inputs[0])) break;
        use = InputRef{p->second, 0};
        cur = pn.inputs[0];
      }
      if (g.is_initializer(cur) || softmax_outputs.count(cur) || !is_float_tensor(g, cur)) continue;
      auto [it, inserted] = act_of_source.emplace(cur, plan.activations.size());
      if (inserted) {
        ActQuantPlan a;
        a.source = cur;
        a.bits = s.act_bits;
        plan.activations.push_back(a);
      }
      ActQuantPlan& a = plan.activations[it->second];
      a.bits = std::max(a.bits, s.act_bits);
      bool seen = false;
      for (const auto& u : a.uses) seen = seen || (u.node == use.node && u.input == use.input);
      if (!seen) a.uses.push_back(use);
    }
  }
  return plan;
}

}  // namespace sq
