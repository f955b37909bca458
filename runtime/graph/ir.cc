#include "runtime/graph/ir.h"

#include <set>
#include <unordered_map>

namespace sq {

Attribute Attribute::of_int(int64_t v) {
  Attribute a;
  a.kind = Kind::kInt;
  a.i = v;
  return a;
}
Attribute Attribute::of_float(float v) {
  Attribute a;
  a.kind = Kind::kFloat;
  a.f = v;
  return a;
}
Attribute Attribute::of_string(std::string v) {
  Attribute a;
  a.kind = Kind::kString;
  a.s = std::move(v);
  return a;
}
Attribute Attribute::of_ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Kind::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute Attribute::of_floats(std::vector<float> v) {
  Attribute a;
  a.kind = Kind::kFloats;
  a.floats = std::move(v);
  return a;
}
Attribute Attribute::of_tensor(Tensor v) {
  Attribute a;
  a.kind = Kind::kTensor;
  a.t = std::move(v);
  return a;
}

std::string Node::describe() const {
  return "node '" + name + "' (" + (domain.empty() ? "" : domain + ".") + op_type + ")";
}

size_t Node::num_inputs() const {
  size_t n = inputs.size();
  while (n > 0 && inputs[n - 1].empty()) --n;
  return n;
}

const std::string& Node::input(size_t i) const {
  static const std::string kEmpty;
  return i < inputs.size() ? inputs[i] : kEmpty;
}

static const Attribute& get_attr(const Node& n, const std::string& key, Attribute::Kind kind) {
  auto it = n.attrs.find(key);
  SQ_CHECK(it != n.attrs.end(), n.describe(), ": missing required attribute '", key, "'");
  SQ_CHECK(it->second.kind == kind, n.describe(), ": attribute '", key, "' has the wrong type");
  return it->second;
}

int64_t Node::attr_int(const std::string& key) const {
  return get_attr(*this, key, Attribute::Kind::kInt).i;
}
int64_t Node::attr_int(const std::string& key, int64_t def) const {
  return has_attr(key) ? attr_int(key) : def;
}
float Node::attr_float(const std::string& key, float def) const {
  return has_attr(key) ? get_attr(*this, key, Attribute::Kind::kFloat).f : def;
}
std::string Node::attr_string(const std::string& key, const std::string& def) const {
  return has_attr(key) ? get_attr(*this, key, Attribute::Kind::kString).s : def;
}
std::vector<int64_t> Node::attr_ints(const std::string& key) const {
  return get_attr(*this, key, Attribute::Kind::kInts).ints;
}
std::optional<std::vector<int64_t>> Node::attr_ints_opt(const std::string& key) const {
  if (!has_attr(key)) return std::nullopt;
  return attr_ints(key);
}
std::vector<float> Node::attr_floats(const std::string& key) const {
  return get_attr(*this, key, Attribute::Kind::kFloats).floats;
}
const Tensor& Node::attr_tensor(const std::string& key) const {
  return get_attr(*this, key, Attribute::Kind::kTensor).t;
}

const ValueInfo* Graph::find_value_info(const std::string& name) const {
  for (const auto* list : {&inputs, &outputs, &value_info}) {
    for (const auto& vi : *list) {
      if (vi.name == name) return &vi;
    }
  }
  return nullptr;
}

int64_t Model::opset() const {
  auto it = opset_imports.find("");
  if (it != opset_imports.end()) return it->second;
  it = opset_imports.find("ai.onnx");
  return it != opset_imports.end() ? it->second : 0;
}

std::vector<size_t> topological_order(const Graph& graph) {
  std::unordered_map<std::string, size_t> producer;
  std::set<std::string> available;
  for (const auto& in : graph.inputs) {
    SQ_CHECK(available.insert(in.name).second, "graph input '", in.name,
             "' is declared more than once");
  }
  for (const auto& [name, t] : graph.initializers) available.insert(name);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const auto& out : graph.nodes[i].outputs) {
      if (out.empty()) continue;
      SQ_CHECK(!available.count(out), graph.nodes[i].describe(), ": output '", out,
               "' has the name of a graph input or initializer");
      SQ_CHECK(!producer.count(out), graph.nodes[i].describe(), ": output '", out,
               "' is produced more than once");
      producer[out] = i;
    }
  }
  // Kahn's algorithm, stable in file order.
  std::vector<int> missing(graph.nodes.size(), 0);
  std::unordered_map<std::string, std::vector<size_t>> consumers;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const auto& in : graph.nodes[i].inputs) {
      if (in.empty() || available.count(in)) continue;
      SQ_CHECK(producer.count(in), graph.nodes[i].describe(), ": input '", in,
               "' is not a graph input, an initializer or any node's output (dangling input)");
      ++missing[i];
      consumers[in].push_back(i);
    }
  }
  std::vector<size_t> ready, order;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (missing[i] == 0) ready.push_back(i);
  }
  // Process in ascending index order for determinism.
  std::set<size_t> queue(ready.begin(), ready.end());
  while (!queue.empty()) {
    size_t i = *queue.begin();
    queue.erase(queue.begin());
    order.push_back(i);
    for (const auto& out : graph.nodes[i].outputs) {
      auto it = consumers.find(out);
      if (it == consumers.end()) continue;
      for (size_t c : it->second) {
        if (--missing[c] == 0) queue.insert(c);
      }
    }
  }
  if (order.size() != graph.nodes.size()) {
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      if (missing[i] > 0) throw make_error("graph has a cycle through ", graph.nodes[i].describe());
    }
  }
  for (const auto& out : graph.outputs) {
    SQ_CHECK(available.count(out.name) || producer.count(out.name), "graph output '", out.name,
             "' is not produced by any node");
  }
  return order;
}

}  // namespace sq
