#include "runtime/engine/constant_folding.h"

#include <set>

#include "runtime/ops/op.h"

namespace sq {

int fold_constants(Model& model) {
  static const std::set<std::string> kFoldable = {"Constant", "Cast", "Transpose", "Reshape",
                                                  "Squeeze", "Unsqueeze", "Flatten", "Identity"};
  Graph& g = model.graph;
  std::set<std::string> graph_outputs;
  for (const auto& vi : g.outputs) graph_outputs.insert(vi.name);
  const OpRegistry& registry = OpRegistry::builtin();
  ThreadPool pool(1);
  std::vector<Node> kept;
  int folded = 0;
  for (Node& n : g.nodes) {
    bool foldable = n.domain.empty() && kFoldable.count(n.op_type) && !n.outputs.empty();
    std::vector<const Tensor*> inputs;
    for (const auto& in : n.inputs) {
      if (in.empty()) {
        inputs.push_back(nullptr);
        continue;
      }
      auto it = g.initializers.find(in);
      if (it == g.initializers.end()) {
        foldable = false;
        break;
      }
      inputs.push_back(&it->second);
    }
    for (const auto& out : n.outputs) foldable = foldable && !out.empty() && !graph_outputs.count(out);
    const OpFactory* factory = foldable ? registry.find(n.domain, n.op_type) : nullptr;
    if (!factory) {
      kept.push_back(std::move(n));
      continue;
    }
    std::vector<Tensor> outputs(n.outputs.size());
    OpContext ctx(n, inputs, &outputs, pool);
    (*factory)(n, model.opset())->run(ctx);
    for (size_t o = 0; o < outputs.size(); ++o) {
      // Views (Reshape, Identity) share the input's buffer; give the folded tensor its own.
      g.initializers[n.outputs[o]] = outputs[o].clone();
    }
    ++folded;
  }
  g.nodes = std::move(kept);
  // Drop initializers nothing reads any more (e.g. the fp16 originals of folded Casts).
  std::set<std::string> used;
  for (const Node& n : g.nodes) used.insert(n.inputs.begin(), n.inputs.end());
  for (const auto& vi : g.outputs) used.insert(vi.name);
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    it = used.count(it->first) ? std::next(it) : g.initializers.erase(it);
  }
  return folded;
}

}  // namespace sq
