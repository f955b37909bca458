#include "runtime/engine/int8_lookup_lowering.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "runtime/engine/graph_index.h"
#include "runtime/engine/reference_engine.h"
#include "runtime/ops/op.h"

namespace sq {
namespace {

constexpr size_t kMaxNodes = 16;

bool is_elementwise(const Node& n) {
  static const std::set<std::string> ops = {
      "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu",
      "Elu", "Selu", "Softplus", "Softsign", "Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal",
      "Floor", "Ceil", "Round", "Sign", "Clip", "Add", "Sub", "Mul", "Div", "Pow", "Min", "Max",
      "Identity", "Sin", "Cos"};
  return is_default_domain(n) && ops.count(n.op_type) != 0 && n.outputs.size() == 1;
}

bool is_scalar_constant(const Graph& g, const std::string& name) {
  const Tensor* t = find_initializer(g, name);
  return t != nullptr && t->numel() == 1;
}

// The elementwise subgraph computing `value` from per-tensor uint8 DequantizeLinear outputs
// (roots) and scalar constants, in graph order; empty if there is none.
struct Subgraph {
  std::vector<size_t> nodes;          // indices into g.nodes, ascending
  std::vector<const Node*> roots;     // the DequantizeLinear nodes, at most 2
};

Subgraph find_subgraph(const Graph& g, const GraphIndex& idx, const std::string& value) {
  Subgraph s;
  std::set<size_t> seen;
  std::vector<std::string> todo = {value};
  while (!todo.empty()) {
    const std::string v = todo.back();
    todo.pop_back();
    if (is_scalar_constant(g, v)) continue;
    const Node* p = idx.producer(v);
    if (!p) return {};
    if (is_per_tensor_dq(g, *p, DType::kUInt8)) {
      if (std::find(s.roots.begin(), s.roots.end(), p) == s.roots.end()) s.roots.push_back(p);
      if (s.roots.size() > 2) return {};
      continue;
    }
    if (!is_elementwise(*p)) return {};
    const size_t i = static_cast<size_t>(p - g.nodes.data());
    if (!seen.insert(i).second) continue;
    if (seen.size() > kMaxNodes) return {};
    for (const std::string& in : p->inputs)
      if (!in.empty()) todo.push_back(in);
  }
  if (seen.empty() || s.roots.empty()) return {};
  s.nodes.assign(seen.begin(), seen.end());
  return s;
}

// Every value the subgraph makes, but `value`, is read only by subgraph nodes.
bool is_closed(const Graph& g, const GraphIndex& idx, const Subgraph& s, const std::string& value) {
  std::set<std::string> inside;
  for (size_t i : s.nodes) inside.insert(g.nodes[i].outputs[0]);
  for (size_t i : s.nodes) {
    const std::string& out = g.nodes[i].outputs[0];
    if (out == value) continue;
    int readers = 0;
    for (size_t j : s.nodes)
      for (const std::string& in : g.nodes[j].inputs) readers += in == out;
    if (readers != idx.consumers(out)) return false;
  }
  return idx.consumers(value) == 1;
}

// Runs DQ roots -> subgraph -> Q on every input value: 256 entries (one root, as [256]) or
// 65,536 (two roots, as [256, 1] and [1, 256], so entry a * 256 + b).
Tensor compute_table(const Graph& g, const Subgraph& s, const Node& q, int64_t opset) {
  auto m = std::make_shared<Model>();
  m->opset_imports[""] = opset;
  Graph& t = m->graph;
  const bool two = s.roots.size() == 2;
  TensorMap feeds;
  for (size_t r = 0; r < s.roots.size(); ++r) {
    const Node& dq = *s.roots[r];
    const std::string in = "lookup_input_" + std::to_string(r);
    ValueInfo vi;
    vi.name = in;
    vi.dtype = DType::kUInt8;
    t.inputs.push_back(vi);
    const Shape shape = !two ? Shape{256} : r == 0 ? Shape{256, 1} : Shape{1, 256};
    Tensor x(DType::kUInt8, shape);
    for (int v = 0; v < 256; ++v) x.data<uint8_t>()[v] = static_cast<uint8_t>(v);
    feeds[in] = x;
    Node copy = dq;
    copy.inputs[0] = in;
    t.nodes.push_back(copy);
    for (size_t k = 1; k < dq.inputs.size(); ++k)
      if (!dq.inputs[k].empty()) t.initializers[dq.inputs[k]] = g.initializers.at(dq.inputs[k]);
  }
  for (size_t i : s.nodes) {
    const Node& n = g.nodes[i];
    t.nodes.push_back(n);
    for (const std::string& in : n.inputs)
      if (is_scalar_constant(g, in)) t.initializers[in] = g.initializers.at(in);
  }
  t.nodes.push_back(q);
  for (size_t k = 1; k < q.inputs.size(); ++k)
    if (!q.inputs[k].empty()) t.initializers[q.inputs[k]] = g.initializers.at(q.inputs[k]);
  ValueInfo out;
  out.name = q.outputs[0];
  t.outputs.push_back(out);
  ReferenceEngine engine(m);
  ThreadPool pool(1);
  Tensor table = engine.run(feeds, pool).at(q.outputs[0]);
  SQ_CHECK(table.dtype() == DType::kUInt8 && table.numel() == (two ? 65536 : 256),
           q.describe(), ": lookup table has ", table.numel(), " entries");
  return table.reshaped({table.numel()});
}

}  // namespace

int lower_elementwise_to_lookup(Graph& g, int64_t opset) {
  int made = 0;
  GraphIndex idx(g);
  std::vector<std::pair<size_t, Node>> replace;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& q = g.nodes[i];
    if (q.op_type != "QuantizeLinear" || !is_default_domain(q) ||
        !has_per_tensor_params(g, q, DType::kUInt8))
      continue;
    const Subgraph s = find_subgraph(g, idx, q.input(0));
    if (s.nodes.empty() || !is_closed(g, idx, s, q.input(0))) continue;
    Tensor table;
    try {
      table = compute_table(g, s, q, opset);
    } catch (const Error&) {
      continue;  // an op the reference kernels refuse here: leave the subgraph in float
    }
    Node l;
    l.name = q.name + "/lookup";
    l.op_type = "LookupU8";
    l.domain = kInt8Domain;
    for (const Node* dq : s.roots) l.inputs.push_back(dq->input(0));
    l.outputs = q.outputs;
    l.attrs["table"] = Attribute::of_tensor(table);
    replace.emplace_back(i, std::move(l));
    ++made;
  }
  for (auto& [i, l] : replace) g.nodes[i] = std::move(l);
  return made;
}

}  // namespace sq
