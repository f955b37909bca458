#include "runtime/engine/int8_lowering.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include "runtime/core/error.h"
#include "runtime/engine/graph_index.h"
#include "runtime/engine/int8_attention_fusion.h"
#include "runtime/engine/int8_lookup_lowering.h"
#include "runtime/engine/layer_norm_fusion.h"
#include "runtime/ops/op.h"

namespace sq {
namespace {

bool is_pass_through(const Node& n) {
  static const std::set<std::string> ops = {"Reshape", "Transpose", "Squeeze",
                                            "Unsqueeze", "Flatten", "Identity"};
  return is_default_domain(n) && ops.count(n.op_type) != 0 && n.outputs.size() == 1;
}

// Step 1: Pass(DQ(x)) -> DQ(Pass(x)) for per-tensor uint8 DequantizeLinear, to a fixed point.
int sink_dequantize(Graph& g) {
  int moved = 0;
  for (bool changed = true; changed;) {
    changed = false;
    GraphIndex idx(g);
    std::vector<Node> nodes;
    nodes.reserve(g.nodes.size() + 8);
    for (const Node& n : g.nodes) {
      const Node* dq = is_pass_through(n) && n.num_inputs() >= 1 ? idx.u8_dq(n.input(0)) : nullptr;
      if (!dq) {
        nodes.push_back(n);
        continue;
      }
      Node moved_op = n;
      moved_op.name = n.name + "/uint8";
      moved_op.inputs[0] = dq->input(0);
      moved_op.outputs[0] = n.outputs[0] + "/uint8";
      Node new_dq = *dq;
      new_dq.name = n.name + "/DequantizeLinear";
      new_dq.inputs[0] = moved_op.outputs[0];
      new_dq.outputs = {n.outputs[0]};
      nodes.push_back(std::move(moved_op));
      nodes.push_back(std::move(new_dq));
      ++moved;
      changed = true;
    }
    g.nodes = std::move(nodes);
  }
  return moved;
}

// Removes nodes none of whose outputs is read, then initializers nothing reads.
void remove_dead(Graph& g) {
  for (bool changed = true; changed;) {
    changed = false;
    GraphIndex idx(g);
    std::vector<Node> nodes;
    for (Node& n : g.nodes) {
      bool used = false;
      for (const auto& o : n.outputs) used = used || (!o.empty() && idx.consumers(o) > 0);
      if (used) nodes.push_back(std::move(n));
      else changed = true;
    }
    g.nodes = std::move(nodes);
  }
  GraphIndex idx(g);
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    it = idx.consumers(it->first) == 0 ? g.initializers.erase(it) : std::next(it);
  }
}

// An int8 weight behind DequantizeLinear, quantized per tensor or per output channel.
struct Weight {
  Tensor values;  // int8, 2-D
  Tensor scale;   // float32, [1] or [N]
  bool transposed = false;  // values are [N, K]
};

// `out_axis` is the axis of the weight's output channels (for per-channel scales).
bool match_weight(const Graph& g, const GraphIndex& idx, const std::string& name, int out_axis,
                  Weight* w) {
  const Node* dq = idx.producer(name);
  if (!dq || dq->op_type != "DequantizeLinear" || !is_default_domain(*dq) || dq->num_inputs() < 2)
    return false;
  const Tensor* q = find_initializer(g, dq->input(0));
  const Tensor* s = find_initializer(g, dq->input(1));
  const Tensor* z = dq->num_inputs() >= 3 ? find_initializer(g, dq->input(2)) : nullptr;
  if (!q || !s || q->dtype() != DType::kInt8 || s->dtype() != DType::kFloat32) return false;
  if (dq->num_inputs() >= 3 && (!z || z->dtype() != DType::kInt8)) return false;
  if (z) {
    for (int64_t i = 0; i < z->numel(); ++i)
      if (z->data<int8_t>()[i] != 0) return false;  // symmetric weights only
  }
  const int rank = q->rank();
  if (s->numel() != 1) {
    int64_t axis = dq->attr_int("axis", 1);
    if (axis < 0) axis += rank;
    if (axis != out_axis || s->rank() != 1 || s->numel() != q->dim(out_axis)) return false;
  }
  w->values = *q;
  w->scale = *s;
  return true;
}

Node make_u8s8_node(const Node& orig, const Node& a_dq, const Weight& w, const std::string& bias,
                    const std::string& layout) {
  Node n;
  n.name = orig.name + "/int8";
  n.op_type = "MatMulU8S8ToFloat";
  n.domain = kInt8Domain;
  n.inputs = {a_dq.input(0), a_dq.input(1), a_dq.input(2)};
  if (!bias.empty()) n.inputs.push_back(bias);
  n.outputs = {orig.outputs[0]};
  n.attrs["weight"] = Attribute::of_tensor(w.values);
  n.attrs["weight_scale"] = Attribute::of_tensor(w.scale);
  n.attrs["weight_transposed"] = Attribute::of_int(w.transposed ? 1 : 0);
  n.attrs["layout"] = Attribute::of_string(layout);
  return n;
}

// A float [N] (or [1, N]) initializer usable as a per-column bias.
bool is_bias(const Graph& g, const std::string& name, int64_t n) {
  const Tensor* b = find_initializer(g, name);
  return b && b->dtype() == DType::kFloat32 && b->numel() == n && b->rank() >= 1 &&
         b->shape().back() == n;
}

bool all_equal(const std::vector<int64_t>& v, int64_t value) {
  for (int64_t x : v)
    if (x != value) return false;
  return true;
}

std::optional<Node> lower_node(const Graph& g, const GraphIndex& idx, const Node& n) {
  if (!is_default_domain(n) || n.outputs.size() != 1) return std::nullopt;
  const Node* a = n.num_inputs() >= 2 ? idx.u8_dq(n.input(0)) : nullptr;
  if (!a) return std::nullopt;
  Weight w;
  if (n.op_type == "MatMul") {
    if (match_weight(g, idx, n.input(1), 1, &w) && w.values.rank() == 2) {
      return make_u8s8_node(n, *a, w, "", "rows");
    }
    if (const Node* b = idx.u8_dq(n.input(1))) {
      Node m;
      m.name = n.name + "/int8";
      m.op_type = "BatchMatMulU8U8ToFloat";
      m.domain = kInt8Domain;
      m.inputs = {a->input(0), a->input(1), a->input(2), b->input(0), b->input(1), b->input(2)};
      m.outputs = n.outputs;
      return m;
    }
    return std::nullopt;
  }
  if (n.op_type == "Gemm") {
    const bool trans_b = n.attr_int("transB", 0) != 0;
    if (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.0f) != 1.0f) return std::nullopt;
    if (!match_weight(g, idx, n.input(1), trans_b ? 0 : 1, &w) || w.values.rank() != 2)
      return std::nullopt;
    w.transposed = trans_b;
    const int64_t out = trans_b ? w.values.dim(0) : w.values.dim(1);
    std::string bias;
    if (n.num_inputs() >= 3) {
      if (n.attr_float("beta", 1.0f) != 1.0f || !is_bias(g, n.input(2), out)) return std::nullopt;
      bias = n.input(2);
    }
    return make_u8s8_node(n, *a, w, bias, "rows");
  }
  if (n.op_type == "Conv") {
    if (n.attr_int("group", 1) != 1 || n.attr_string("auto_pad", "NOTSET") != "NOTSET")
      return std::nullopt;
    for (const char* key : {"strides", "dilations"}) {
      auto v = n.attr_ints_opt(key);
      if (v && !all_equal(*v, 1)) return std::nullopt;
    }
    auto pads = n.attr_ints_opt("pads");
    if (pads && !all_equal(*pads, 0)) return std::nullopt;
    if (!match_weight(g, idx, n.input(1), 0, &w)) return std::nullopt;
    const Shape& ws = w.values.shape();
    if (ws.size() < 3) return std::nullopt;
    for (size_t d = 2; d < ws.size(); ++d)
      if (ws[d] != 1) return std::nullopt;
    Tensor flat(DType::kInt8, {ws[0], ws[1]});  // [Co, Ci]: a transposed [K, N] weight
    std::copy_n(w.values.data<int8_t>(), flat.numel(), flat.data<int8_t>());
    w.values = flat;
    w.transposed = true;
    std::string bias;
    if (n.num_inputs() >= 3) {
      if (!is_bias(g, n.input(2), ws[0])) return std::nullopt;
      bias = n.input(2);
    }
    return make_u8s8_node(n, *a, w, bias, "nchw");
  }
  return std::nullopt;
}

// Gather(DequantizeLinear(int8 table), indices) on axis 0, the table quantized per tensor or per
// row: GatherDequantize, so an embedding table shared with the LM head stays int8.
std::optional<Node> lower_gather(const Graph& g, const GraphIndex& idx, const Node& n) {
  if (!is_default_domain(n) || n.op_type != "Gather" || n.num_inputs() != 2 ||
      n.attr_int("axis", 0) != 0)
    return std::nullopt;
  const Node* dq = idx.producer(n.input(0));
  if (!dq || dq->op_type != "DequantizeLinear" || !is_default_domain(*dq) || dq->num_inputs() != 3)
    return std::nullopt;
  const Tensor* w = find_initializer(g, dq->input(0));
  const Tensor* s = find_initializer(g, dq->input(1));
  const Tensor* z = find_initializer(g, dq->input(2));
  if (!w || !s || !z || w->dtype() != DType::kInt8 || w->rank() < 1 ||
      s->dtype() != DType::kFloat32 || z->dtype() != DType::kInt8 || z->numel() != s->numel())
    return std::nullopt;
  if (s->numel() != 1 && (dq->attr_int("axis", 1) != 0 || s->numel() != w->dim(0)))
    return std::nullopt;
  Node m;
  m.name = n.name + "/int8";
  m.op_type = "GatherDequantize";
  m.domain = kInt8Domain;
  m.inputs = {n.input(1)};
  m.outputs = n.outputs;
  m.attrs["weight"] = Attribute::of_tensor(*w);
  m.attrs["weight_scale"] = Attribute::of_tensor(*s);
  m.attrs["weight_zero_point"] = Attribute::of_tensor(*z);
  return m;
}

// MatMulU8S8ToFloat without bias followed by Add(x, bias[N]) (torch exports Linear this way):
// the bias moves into the GEMM epilogue, the GEMM writes the Add's output, the Add goes.
void fuse_bias_adds(Graph& g) {
  std::vector<bool> drop(g.nodes.size(), false);
  {
    GraphIndex idx(g);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& add = g.nodes[i];
      if (add.op_type != "Add" || !is_default_domain(add) || add.num_inputs() != 2) continue;
      for (int side = 0; side < 2; ++side) {
        const Node* mm = idx.producer(add.input(side));
        if (!mm || mm->op_type != "MatMulU8S8ToFloat" || mm->num_inputs() != 3 ||
            mm->attr_string("layout", "rows") != "rows" || idx.consumers(mm->outputs[0]) != 1)
          continue;
        const Tensor& w = mm->attr_tensor("weight");
        const int64_t n = mm->attr_int("weight_transposed", 0) ? w.dim(0) : w.dim(1);
        const Tensor* b = find_initializer(g, add.input(1 - side));
        if (!b || b->dtype() != DType::kFloat32 || b->rank() != 1 || b->numel() != n) continue;
        Node& target = g.nodes[static_cast<size_t>(mm - g.nodes.data())];
        target.inputs.push_back(add.input(1 - side));
        target.outputs[0] = add.outputs[0];
        drop[i] = true;
        break;
      }
    }
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!drop[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
}

}  // namespace

std::string Int8LoweringReport::summary() const {
  std::ostringstream os;
  os << "int8 engine: " << lowered_matmuls << " weight product(s), " << fused_attention
     << " attention(s), " << lowered_act_matmuls << " other activation product(s) and "
     << lookups << " elementwise lookup table(s) on integer kernels";
  if (fused_layer_norms > 0) os << "; " << fused_layer_norms << " LayerNorm chain(s) fused (FP32)";
  if (float_nodes.empty()) return os.str();
  os << "; " << float_nodes.size() << " node(s) read dequantized values in FP32: ";
  const size_t shown = std::min<size_t>(float_nodes.size(), 8);
  for (size_t i = 0; i < shown; ++i) os << (i ? ", " : "") << float_nodes[i];
  if (shown < float_nodes.size()) os << ", ... (" << float_nodes.size() - shown << " more)";
  return os.str();
}

Model lower_to_int8(const Model& qdq_model, Int8LoweringReport* report) {
  Int8LoweringReport r;
  Model m = qdq_model;
  Graph& g = m.graph;
  r.sunk_dequantize = sink_dequantize(g);
  {
    // Shape reads no values: Shape(DequantizeLinear(x)) = Shape(x).
    GraphIndex idx(g);
    for (Node& n : g.nodes) {
      if (n.op_type != "Shape" || !is_default_domain(n) || n.inputs.empty()) continue;
      const Node* p = idx.producer(n.inputs[0]);
      if (p && p->op_type == "DequantizeLinear" && is_default_domain(*p)) n.inputs[0] = p->input(0);
    }
  }
  fuse_int8_attention(g, m.opset());
  r.lookups = lower_elementwise_to_lookup(g, m.opset());
  {
    GraphIndex idx(g);
    for (Node& n : g.nodes) {
      if (auto lowered = lower_node(g, idx, n)) n = std::move(*lowered);
      else if (auto gather = lower_gather(g, idx, n)) n = std::move(*gather);
    }
  }
  fuse_bias_adds(g);
  r.fused_layer_norms = fuse_layer_norm_chains(g);
  remove_dead(g);
  GraphIndex idx(g);
  for (const Node& n : g.nodes) {
    if (n.domain == kInt8Domain) {
      r.lowered_matmuls += n.op_type == "MatMulU8S8ToFloat";
      r.fused_attention += n.op_type == "AttentionU8";
      r.lowered_act_matmuls += n.op_type == "BatchMatMulU8U8ToFloat";
    }
    const bool float_op = is_default_domain(n) || n.op_type == "LayerNormChainF32";
    if (!float_op || n.op_type == "QuantizeLinear") continue;
    for (const auto& in : n.inputs) {
      const Node* p = in.empty() ? nullptr : idx.producer(in);
      if (p && p->op_type == "DequantizeLinear" && n.op_type != "DequantizeLinear") {
        r.float_nodes.push_back(n.describe());
        break;
      }
    }
  }
  m.opset_imports[kInt8Domain] = 1;
  if (report) *report = std::move(r);
  return m;
}

}  // namespace sq
