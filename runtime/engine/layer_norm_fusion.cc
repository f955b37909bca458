#include "runtime/engine/layer_norm_fusion.h"

#include <optional>

#include "runtime/engine/graph_index.h"
#include "runtime/ops/op.h"

namespace sq {
namespace {

bool is_op(const Node* n, const char* op) {
  return n && n->op_type == op && is_default_domain(*n) && n->outputs.size() == 1;
}

// A ReduceMean over the last axis only, keeping dims (axes as an attribute, or from opset 18 as
// an int64 initializer input).
bool is_last_axis_mean(const Graph& g, const Node* n) {
  if (!is_op(n, "ReduceMean") || n->attr_int("keepdims", 1) != 1) return false;
  std::vector<int64_t> axes;
  if (n->has_attr("axes")) {
    axes = n->attr_ints("axes");
  } else if (n->num_inputs() >= 2 && !n->input(1).empty()) {
    const Tensor* t = find_initializer(g, n->input(1));
    if (!t || t->dtype() != DType::kInt64) return false;
    axes.assign(t->data<int64_t>(), t->data<int64_t>() + t->numel());
  }
  return axes == std::vector<int64_t>{-1};
}

// The input of a binary node that is not `name` (commutative ops), or nullopt.
std::optional<std::string> other_input(const Node& n, const std::string& name) {
  if (n.num_inputs() != 2) return std::nullopt;
  if (n.input(0) == name) return n.input(1);
  if (n.input(1) == name) return n.input(0);
  return std::nullopt;
}

bool is_vector_initializer(const Graph& g, const std::string& name) {
  const Tensor* t = find_initializer(g, name);
  return t && t->dtype() == DType::kFloat32 && t->rank() == 1;
}

// The fused node for the chain ending at `add_beta`, or nullopt.
std::optional<Node> match(const Graph& g, const GraphIndex& idx, const Node& add_beta) {
  if (!is_op(&add_beta, "Add")) return std::nullopt;
  for (int which = 0; which < 2; ++which) {  // Add(Mul(...), beta) or Add(beta, Mul(...))
    const Node* mul = idx.producer(add_beta.input(which));
    if (!is_op(mul, "Mul") || idx.only_reader(mul->outputs[0]) != &add_beta) continue;
    const std::string beta = add_beta.input(1 - which);
    if (!is_vector_initializer(g, beta)) continue;
    for (int m = 0; m < 2; ++m) {
      const Node* div = idx.producer(mul->input(m));
      const std::string gamma = mul->input(1 - m);
      if (!is_op(div, "Div") || idx.only_reader(div->outputs[0]) != mul ||
          !is_vector_initializer(g, gamma) || div->num_inputs() != 2)
        continue;
      const Node* sqrt = idx.producer(div->input(1));
      const Node* sub = idx.producer(div->input(0));
      if (!is_op(sqrt, "Sqrt") || idx.only_reader(sqrt->outputs[0]) != div) continue;
      if (!is_op(sub, "Sub") || sub->num_inputs() != 2 || idx.consumers(sub->outputs[0]) != 2)
        continue;
      const Node* add_eps = idx.producer(sqrt->input(0));
      if (!is_op(add_eps, "Add") || idx.only_reader(add_eps->outputs[0]) != sqrt) continue;
      for (int e = 0; e < 2; ++e) {
        float eps = 0;
        const Node* var = idx.producer(add_eps->input(e));
        if (!scalar_initializer(g, add_eps->input(1 - e), &eps) || !is_last_axis_mean(g, var) ||
            idx.only_reader(var->outputs[0]) != add_eps)
          continue;
        const Node* pow = idx.producer(var->input(0));
        float two = 0;
        if (!is_op(pow, "Pow") || pow->num_inputs() != 2 || pow->input(0) != sub->outputs[0] ||
            !scalar_initializer(g, pow->input(1), &two) || two != 2.0f ||
            idx.only_reader(pow->outputs[0]) != var)
          continue;
        const std::string& x = sub->input(0);
        const Node* mean = idx.producer(sub->input(1));
        if (!is_last_axis_mean(g, mean) || mean->input(0) != x ||
            idx.only_reader(mean->outputs[0]) != sub)
          continue;
        Node fused;
        fused.name = add_beta.name.empty() ? sub->name + "/LayerNormChainF32"
                                           : add_beta.name + "/LayerNormChainF32";
        fused.op_type = "LayerNormChainF32";
        fused.domain = kInt8Domain;
        fused.inputs = {x, gamma, beta};
        fused.outputs = {add_beta.outputs[0]};
        fused.attrs["epsilon"] = Attribute::of_float(eps);
        return fused;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

int fuse_layer_norm_chains(Graph& g) {
  // One index serves the whole pass: a rewrite keeps the node's slot and output, and the chain
  // it replaces stays in place (dead) until the caller removes it, so no other chain's match
  // changes.
  const GraphIndex idx(g);
  int fused = 0;
  for (Node& n : g.nodes) {
    if (auto f = match(g, idx, n)) {
      n = std::move(*f);
      ++fused;
    }
  }
  return fused;
}

}  // namespace sq
