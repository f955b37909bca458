#include "runtime/engine/int8_engine.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <optional>
#include <unordered_map>
#include <vector>

#include "runtime/ops/int8_packed_weight.h"

namespace sq {

std::unique_ptr<ReferenceEngine> make_int8_engine(const Model& qdq_model,
                                                  Int8LoweringReport* report) {
  auto lowered = std::make_shared<Model>(lower_to_int8(qdq_model, report));
  prepack_int8_weights(*lowered, kernels::default_isa());
  return make_int8_engine_from_lowered(std::move(lowered));
}

std::unique_ptr<ReferenceEngine> make_int8_engine(std::shared_ptr<const Model> qdq_model,
                                                  Int8LoweringReport* report) {
  SQ_CHECK(qdq_model != nullptr, "make_int8_engine: no model");
  auto lowered = std::make_shared<Model>(lower_to_int8(*qdq_model, report));
  qdq_model.reset();  // the lowered graph shares the weights it still needs
  prepack_int8_weights(*lowered, kernels::default_isa());
  return make_int8_engine_from_lowered(std::move(lowered));
}

std::unique_ptr<ReferenceEngine> make_int8_engine_from_lowered(std::shared_ptr<Model> lowered) {
  static const OpRegistry registry = [] {
    OpRegistry r = OpRegistry::builtin();
    register_int8_ops(r);
    return r;
  }();
  auto engine = std::make_unique<ReferenceEngine>(lowered, registry);
  // The prepared kernels hold the packed weights; run() never reads node attributes again.
  for (Node& n : lowered->graph.nodes) {
    if (n.domain == kInt8Domain) n.attrs.erase("weight");
  }
  return engine;
}

PrepackStats prepack_int8_weights(Model& lowered, kernels::Isa isa) {
  // Gather tables by buffer: a tied LM head's weight is the same int8 matrix, transposed.
  std::unordered_map<const void*, std::vector<Node*>> tables;
  for (Node& n : lowered.graph.nodes) {
    if (n.domain == kInt8Domain && n.op_type == "GatherDequantize" && n.has_attr("weight") &&
        n.attr_tensor("weight").rank() == 2) {
      tables[n.attr_tensor("weight").raw()].push_back(&n);
    }
  }
  // Weights that are also a gather table first: the table is freed as soon as its packed copy
  // exists, before the other weights' packed copies add to the heap.
  std::vector<Node*> order;
  for (int shared = 1; shared >= 0; --shared) {
    for (Node& n : lowered.graph.nodes) {
      if (n.domain != kInt8Domain || n.op_type != "MatMulU8S8ToFloat") continue;
      const bool is_table = n.has_attr("weight") && tables.count(n.attr_tensor("weight").raw());
      if (is_table == (shared == 1)) order.push_back(&n);
    }
  }
  int64_t slab_bytes = 0;
  for (const Node* n : order) slab_bytes += unpacked_weight_bytes(*n, isa);
  std::optional<PackedWeightSlab> slab;
  if (slab_bytes > 0) slab.emplace(slab_bytes);
  PrepackStats st;
  for (Node* node : order) {
    Node& n = *node;
    const Tensor* w = n.has_attr("weight") ? &n.attr_tensor("weight") : nullptr;
    const bool transposed = w && n.attr_int("weight_transposed", 0) != 0;
    const void* buffer = w ? w->raw() : nullptr;
    const Shape shape = w ? w->shape() : Shape{};
    const int64_t bytes = prepack_weight(n, isa, slab ? &*slab : nullptr);  // errors name the node
#ifdef __GLIBC__
    // The unpacked weight was just freed, but the packed copy went to the slab, not into its
    // place: give its pages back now, or every weight would stay resident twice until the end.
    if (slab) malloc_trim(0);
#endif
    st.matrices += bytes > 0;
    st.packed_bytes += bytes;
    auto it = transposed ? tables.find(buffer) : tables.end();
    if (it == tables.end()) continue;
    for (Node* g : it->second) {
      if (g->has_attr("weight") && g->attr_tensor("weight").shape() == shape) {
        share_packed_table(*g, n);
      }
    }
  }
  return st;
}

}  // namespace sq
