// Why this exists: the int8 lowering passes look a graph up by value name (who produces it, who
// reads it, which initializer it is) and recognize the same small facts (a per-tensor
// DequantizeLinear, a scalar constant) in several places; this is the one implementation.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/graph/ir.h"

namespace sq {

inline bool is_default_domain(const Node& n) { return n.domain.empty() || n.domain == "ai.onnx"; }

inline const Tensor* find_initializer(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  return it == g.initializers.end() ? nullptr : &it->second;
}

// The value of a one-element float32 initializer, or false.
inline bool scalar_initializer(const Graph& g, const std::string& name, float* value) {
  const Tensor* t = find_initializer(g, name);
  if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
  *value = t->data<float>()[0];
  return true;
}

// A QuantizeLinear or DequantizeLinear whose scale and zero point (inputs 1 and 2) are one
// float32 and one value of the given type.
inline bool has_per_tensor_params(const Graph& g, const Node& n, DType type) {
  if (n.num_inputs() != 3) return false;
  const Tensor* s = find_initializer(g, n.input(1));
  const Tensor* z = find_initializer(g, n.input(2));
  return s && z && s->dtype() == DType::kFloat32 && s->numel() == 1 && z->dtype() == type &&
         z->numel() == 1;
}

inline bool is_per_tensor_dq(const Graph& g, const Node& n, DType type) {
  return n.op_type == "DequantizeLinear" && is_default_domain(n) && has_per_tensor_params(g, n, type);
}

class GraphIndex {
 public:
  explicit GraphIndex(const Graph& g) : g_(g) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      for (const auto& o : g.nodes[i].outputs) producer_[o] = i;
      for (const auto& in : g.nodes[i].inputs) readers_[in].push_back(i);
    }
    for (const auto& o : g.outputs) ++graph_outputs_[o.name];
  }
  const Node* producer(const std::string& name) const {
    auto it = producer_.find(name);
    return it == producer_.end() ? nullptr : &g_.nodes[it->second];
  }
  // Reads by nodes plus by the graph's outputs.
  int consumers(const std::string& name) const {
    auto r = readers_.find(name);
    auto o = graph_outputs_.find(name);
    return (r == readers_.end() ? 0 : static_cast<int>(r->second.size())) +
           (o == graph_outputs_.end() ? 0 : o->second);
  }
  // The only node reading `name`, or nullptr (none, several, or a graph output).
  const Node* only_reader(const std::string& name) const {
    if (consumers(name) != 1) return nullptr;
    auto r = readers_.find(name);
    return r == readers_.end() ? nullptr : &g_.nodes[r->second.front()];
  }
  // The per-tensor uint8 DequantizeLinear producing `name`, or nullptr.
  const Node* u8_dq(const std::string& name) const {
    const Node* p = producer(name);
    return p && is_per_tensor_dq(g_, *p, DType::kUInt8) ? p : nullptr;
  }

 private:
  const Graph& g_;
  std::unordered_map<std::string, size_t> producer_;
  std::unordered_map<std::string, std::vector<size_t>> readers_;
  std::unordered_map<std::string, int> graph_outputs_;
};

}  // namespace sq
