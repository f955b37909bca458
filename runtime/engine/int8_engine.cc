#include "runtime/engine/int8_engine.h"

namespace sq {

std::unique_ptr<ReferenceEngine> make_int8_engine(const Model& qdq_model,
                                                  Int8LoweringReport* report) {
  return make_int8_engine_from_lowered(std::make_shared<Model>(lower_to_int8(qdq_model, report)));
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

}  // namespace sq
