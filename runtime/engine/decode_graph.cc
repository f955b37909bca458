#include "runtime/engine/decode_graph.h"

#include <algorithm>
#include <limits>
#include <set>

#include "runtime/engine/graph_index.h"
#include "runtime/ops/op.h"

namespace sq {
namespace {

bool is_default(const Node& n, const char* op) { return is_default_domain(n) && n.op_type == op; }

// Ops that keep a [batch, sequence, ...] value row-aligned with their other (broadcast) input.
bool is_rowwise_elementwise(const Node& n) {
  static const std::set<std::string> ops = {"Add", "Sub", "Mul", "Div", "Identity", "Cast",
                                            "Dropout"};
  return is_default_domain(n) && ops.count(n.op_type) != 0;
}

// The token-embedding lookup reading input_ids (through Cast/Reshape/Unsqueeze views), or null.
const Node* token_gather(const Graph& g, const std::string& ids) {
  std::vector<std::string> frontier = {ids};
  for (size_t step = 0; step < 4 && !frontier.empty(); ++step) {
    std::vector<std::string> next;
    for (const Node& n : g.nodes) {
      for (const std::string& name : frontier) {
        const bool gather =
            (is_default(n, "Gather") && n.input(1) == name) ||
            (n.domain == kInt8Domain && n.op_type == "GatherDequantize" && n.input(0) == name);
        if (gather) return &n;
        const bool view = (is_default(n, "Cast") || is_default(n, "Reshape") ||
                           is_default(n, "Unsqueeze") || is_default(n, "Squeeze")) &&
                          n.input(0) == name;
        if (view) next.push_back(n.outputs[0]);
      }
    }
    frontier = std::move(next);
  }
  return nullptr;
}

}  // namespace

bool is_prepared_for_cached_decoding(const Model& model) {
  for (const Node& n : model.graph.nodes)
    if (n.domain == kInt8Domain && n.op_type == "AttentionU8" && n.has_attr("kv_cache_slot"))
      return true;
  return false;
}

bool has_past_length_input(const Model& model) {
  for (const ValueInfo& vi : model.graph.inputs)
    if (vi.name == kPastLengthInput) return true;
  return false;
}

Model prepare_for_cached_decoding(const Model& lowered, DecodeGraphInfo* info) {
  SQ_CHECK(!is_prepared_for_cached_decoding(lowered), "the graph is already prepared for cached decoding");
  Model m = lowered;
  m.memory_plans.clear();  // made for the graph as compiled, not for the cached-decoding one
  Graph& g = m.graph;
  const std::string what = "cached decoding: ";
  bool has_ids = false;
  for (const ValueInfo& vi : g.inputs) {
    if (vi.name == "input_ids") has_ids = true;
    SQ_CHECK(vi.name.rfind("past_key_values", 0) != 0, what, "the graph has its own cache input '",
             vi.name, "' (run it through its past_key_values inputs instead)");
  }
  SQ_CHECK(has_ids, what, "the graph has no 'input_ids' input");

  int slots = 0;
  for (Node& n : g.nodes) {
    if (n.domain == kInt8Domain && n.op_type == "AttentionU8") {
      n.attrs["kv_cache_slot"] = Attribute::of_int(slots++);
    }
  }
  SQ_CHECK(slots > 0, what,
           "no attention was fused into AttentionU8 (the attention pattern was not recognized; "
           "`softquant run --engine int8` lists the nodes left in float)");

  if (info) info->attention_layers = slots;
  // A step fed with only its new tokens has a longer attention_mask than input_ids: they may no
  // longer share a symbolic sequence dimension.
  const ValueInfo* ids_info = nullptr;
  for (const ValueInfo& vi : g.inputs)
    if (vi.name == "input_ids") ids_info = &vi;
  for (ValueInfo& vi : g.inputs) {
    if (vi.name != "attention_mask" || vi.dims.size() != 2 || ids_info->dims.size() != 2) continue;
    const Dim& seq = ids_info->dims[1];
    if (!vi.dims[1].param.empty() && vi.dims[1].param == seq.param)
      vi.dims[1].param += "_with_past";
  }
  const GraphIndex index(g);
  const Node* gather = token_gather(g, "input_ids");
  if (!gather) return m;  // only the new-tokens feed is possible
  // Follow the embedding through single-reader elementwise ops (adding position embeddings,
  // scaling) to the hidden state that enters the first layer.
  std::string hidden = gather->outputs[0];
  for (;;) {
    const Node* r = index.only_reader(hidden);
    if (!r || !is_rowwise_elementwise(*r) || r->outputs.size() != 1) break;
    hidden = r->outputs[0];
  }
  for (const ValueInfo& o : g.outputs)
    if (o.name == hidden) return m;

  // Slice(hidden, starts = past, ends = max, axes = [1]) right after hidden's producer.
  const std::string sliced = hidden + "/softquant_new_rows";
  const std::string ends = sliced + "/ends", axes = sliced + "/axes";
  g.initializers[ends] =
      Tensor::from_vector<int64_t>({1}, {std::numeric_limits<int64_t>::max()});
  g.initializers[axes] = Tensor::from_vector<int64_t>({1}, {1});
  ValueInfo past;
  past.name = kPastLengthInput;
  past.dtype = DType::kInt64;
  past.has_type = past.has_shape = true;
  past.dims = {Dim{1, ""}};
  g.inputs.push_back(past);
  for (Node& n : g.nodes)
    for (std::string& in : n.inputs)
      if (in == hidden) in = sliced;
  Node slice;
  slice.name = sliced;
  slice.op_type = "Slice";
  slice.inputs = {hidden, kPastLengthInput, ends, axes};
  slice.outputs = {sliced};
  size_t at = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (std::find(g.nodes[i].outputs.begin(), g.nodes[i].outputs.end(), hidden) !=
        g.nodes[i].outputs.end())
      at = i + 1;
  g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(at), std::move(slice));
  if (info) info->hidden = hidden;
  return m;
}

}  // namespace sq
