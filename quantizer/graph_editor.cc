#include "quantizer/graph_editor.h"

namespace sq {

GraphEditor::GraphEditor(Model& model) : model_(model) {
  const Graph& g = model.graph;
  for (const auto& vi : g.inputs) used_.insert(vi.name);
  for (const auto& [name, t] : g.initializers) used_.insert(name);
  for (const auto& n : g.nodes) {
    used_.insert(n.name);
    for (const auto& o : n.outputs) used_.insert(o);
  }
}

std::string GraphEditor::unique_name(const std::string& hint) {
  std::string name = hint;
  for (int i = 1; used_.count(name); ++i) name = hint + "_" + std::to_string(i);
  used_.insert(name);
  return name;
}

std::string GraphEditor::add_constant(const std::string& hint, Tensor value) {
  std::string name = unique_name(hint);
  model_.graph.initializers[name] = std::move(value);
  return name;
}

std::string GraphEditor::add_scalar(const std::string& hint, float value) {
  return add_constant(hint, Tensor::scalar_f32(value));
}

std::string GraphEditor::add_node(const std::string& op_type, std::vector<std::string> inputs,
                                  const std::string& hint, std::map<std::string, Attribute> attrs) {
  Node n;
  n.name = unique_name("softquant/" + hint + "/" + op_type);
  n.op_type = op_type;
  n.inputs = std::move(inputs);
  n.outputs = {unique_name(hint + "_" + op_type)};
  n.attrs = std::move(attrs);
  model_.graph.nodes.push_back(n);
  return n.outputs[0];
}

void GraphEditor::finish() {
  Graph& g = model_.graph;
  std::vector<size_t> order = topological_order(g);
  std::vector<Node> sorted;
  sorted.reserve(order.size());
  for (size_t i : order) sorted.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(sorted);
  // Shapes inferred before the rewrite no longer describe the renamed tensors.
  g.value_info.clear();
}

}  // namespace sq
