#include "models/graph_builder.h"

#include <set>
#include <utility>

namespace sq {

bool is_helper_constant(const std::string& initializer_name) {
  return initializer_name.rfind(kHelperConstantPrefix, 0) == 0;
}

int64_t count_parameters(const Model& model) {
  int64_t n = 0;
  for (const auto& [name, t] : model.graph.initializers) {
    if (!is_helper_constant(name)) n += t.numel();
  }
  return n;
}

Dim fixed_dim(int64_t value) {
  Dim d;
  d.value = value;
  return d;
}

Dim symbolic_dim(const std::string& name) {
  Dim d;
  d.param = name;
  return d;
}

GraphBuilder::GraphBuilder(int64_t opset, std::string graph_name) {
  model_.opset_imports[""] = opset;
  model_.graph.name = std::move(graph_name);
}

GraphBuilder::Scope::Scope(GraphBuilder& b, const std::string& name)
    : b_(b), saved_size_(b.scope_.size()) {
  b_.scope_.push_back(name);
}

GraphBuilder::Scope::~Scope() { b_.scope_.resize(saved_size_); }

namespace {
ValueInfo make_value_info(const std::string& name, DType dtype, std::vector<Dim> dims) {
  ValueInfo vi;
  vi.name = name;
  vi.dtype = dtype;
  vi.has_type = true;
  vi.has_shape = true;
  vi.dims = std::move(dims);
  return vi;
}
}  // namespace

void GraphBuilder::add_input(const std::string& name, DType dtype, std::vector<Dim> dims) {
  model_.graph.inputs.push_back(make_value_info(name, dtype, std::move(dims)));
}

void GraphBuilder::add_output(const std::string& name, DType dtype, std::vector<Dim> dims) {
  model_.graph.outputs.push_back(make_value_info(name, dtype, std::move(dims)));
}

const std::string& GraphBuilder::add_initializer(const std::string& name, Tensor t) {
  SQ_CHECK(!is_helper_constant(name), "initializer '", name, "': the prefix '",
           kHelperConstantPrefix, "' is reserved for helper constants");
  parameter_count_ += t.numel();
  auto [it, inserted] = model_.graph.initializers.emplace(name, std::move(t));
  SQ_CHECK(inserted, "initializer '", name, "' added twice");
  return it->first;
}

std::string GraphBuilder::constant(const Tensor& t, const std::string& hint) {
  std::string key = std::string(dtype_name(t.dtype())) + shape_str(t.shape());
  key.append(static_cast<const char*>(t.raw()), t.nbytes());
  auto it = constant_by_key_.find(key);
  if (it != constant_by_key_.end()) return it->second;
  std::string name = std::string(kHelperConstantPrefix) + (hint.empty() ? "c" : hint) + "_" +
                     std::to_string(constant_counter_++);
  model_.graph.initializers.emplace(name, t.clone());
  constant_by_key_.emplace(std::move(key), name);
  return name;
}

std::string GraphBuilder::const_f32(float v) { return constant(Tensor::scalar_f32(v), "f32"); }

std::string GraphBuilder::const_i64(int64_t v) { return constant(Tensor::scalar_i64(v), "i64"); }

std::string GraphBuilder::const_i64s(const std::vector<int64_t>& v) {
  return constant(Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v), "i64s");
}

std::string GraphBuilder::unique_node_name(const std::string& op_type) {
  std::string base;
  for (const auto& s : scope_) base += "/" + s;
  base += "/" + op_type;
  int& uses = name_uses_[base];
  std::string name = uses == 0 ? base : base + "_" + std::to_string(uses);
  ++uses;
  return name;
}

std::vector<std::string> GraphBuilder::add_node(const std::string& op_type,
                                                const std::vector<std::string>& inputs,
                                                const std::map<std::string, Attribute>& attrs,
                                                size_t num_outputs,
                                                const std::vector<std::string>& output_names) {
  SQ_CHECK(output_names.empty() || output_names.size() == num_outputs, "GraphBuilder: ", op_type,
           " given ", output_names.size(), " output names for ", num_outputs, " outputs");
  Node n;
  n.name = unique_node_name(op_type);
  n.op_type = op_type;
  n.inputs = inputs;
  n.attrs = attrs;
  for (size_t i = 0; i < num_outputs; ++i) {
    n.outputs.push_back(output_names.empty() ? n.name + "_output_" + std::to_string(i)
                                             : output_names[i]);
  }
  model_.graph.nodes.push_back(std::move(n));
  return model_.graph.nodes.back().outputs;
}

std::string GraphBuilder::op(const std::string& op_type, const std::vector<std::string>& inputs,
                             const std::map<std::string, Attribute>& attrs) {
  return add_node(op_type, inputs, attrs, 1).front();
}

Model GraphBuilder::finish() {
  std::set<std::string> produced;
  for (const auto& n : model_.graph.nodes) produced.insert(n.outputs.begin(), n.outputs.end());
  for (const auto& vi : model_.graph.outputs) {
    SQ_CHECK(produced.count(vi.name), "GraphBuilder: graph output '", vi.name,
             "' is not produced by any node");
  }
  topological_order(model_.graph);  // throws on dangling inputs or duplicates
  return std::move(model_);
}

}  // namespace sq
