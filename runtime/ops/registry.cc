#include <algorithm>

#include "runtime/ops/op.h"

namespace sq {

const Tensor& OpContext::in(size_t i) const {
  const Tensor* t = input(i);
  SQ_CHECK(t != nullptr, node_.describe(), ": required input ", i, " is missing");
  return *t;
}

void OpRegistry::add(const std::string& op_type, OpFactory factory, const std::string& domain) {
  ops_.push_back(Entry{domain == "ai.onnx" ? "" : domain, op_type, std::move(factory)});
}

const OpFactory* OpRegistry::find(const std::string& domain, const std::string& op_type) const {
  const std::string& d = domain == "ai.onnx" ? std::string() : domain;
  for (const auto& e : ops_) {
    if (e.op_type == op_type && e.domain == d) return &e.factory;
  }
  return nullptr;
}

std::vector<std::string> OpRegistry::op_types() const {
  std::vector<std::string> names;
  for (const auto& e : ops_) names.push_back(e.domain.empty() ? e.op_type : e.domain + "::" + e.op_type);
  std::sort(names.begin(), names.end());
  return names;
}

const OpRegistry& OpRegistry::builtin() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    register_elementwise_ops(r);
    register_activation_ops(r);
    register_reduction_ops(r);
    register_softmax_ops(r);
    register_normalization_ops(r);
    register_shape_ops(r);
    register_slicing_ops(r);
    register_generator_ops(r);
    register_matmul_ops(r);
    register_conv_ops(r);
    register_quant_ops(r);
    return r;
  }();
  return registry;
}

}  // namespace sq
