#include "runtime/engine/binding.h"

namespace sq {

std::string describe_value(const ValueInfo& vi) {
  std::string s = vi.name + ": " + dtype_name(vi.dtype);
  if (!vi.has_shape) return s + " (any shape)";
  s += " [";
  for (size_t i = 0; i < vi.dims.size(); ++i) {
    if (i) s += ",";
    const Dim& d = vi.dims[i];
    s += d.known() ? std::to_string(d.value) : (d.param.empty() ? "?" : d.param);
  }
  return s + "]";
}

void check_bindings(const Graph& graph, const TensorMap& inputs) {
  std::map<std::string, std::pair<int64_t, std::string>> symbols;  // param -> (value, who bound it)
  for (const auto& vi : graph.inputs) {
    auto it = inputs.find(vi.name);
    SQ_CHECK(it != inputs.end(), "missing input '", vi.name, "' (expected ", describe_value(vi),
             ")");
    const Tensor& t = it->second;
    SQ_CHECK(!t.empty_handle(), "input '", vi.name, "': the tensor holds no data");
    SQ_CHECK(t.dtype() == vi.dtype, "input '", vi.name, "': got ", dtype_name(t.dtype()),
             ", expected ", describe_value(vi));
    if (!vi.has_shape) continue;
    SQ_CHECK(t.rank() == static_cast<int>(vi.dims.size()), "input '", vi.name, "': got shape ",
             shape_str(t.shape()), ", expected ", describe_value(vi));
    for (size_t i = 0; i < vi.dims.size(); ++i) {
      const Dim& d = vi.dims[i];
      int64_t got = t.shape()[i];
      if (d.known()) {
        SQ_CHECK(got == d.value, "input '", vi.name, "': got shape ", shape_str(t.shape()),
                 ", expected ", describe_value(vi));
      } else if (!d.param.empty()) {
        auto [sit, inserted] = symbols.emplace(d.param, std::make_pair(got, vi.name));
        SQ_CHECK(inserted || sit->second.first == got, "input '", vi.name, "': dimension '",
                 d.param, "' is ", got, " but input '", sit->second.second, "' bound it to ",
                 sit->second.first);
      }
    }
  }
  for (const auto& [name, t] : inputs) {
    bool known = false;
    for (const auto& vi : graph.inputs) known = known || vi.name == name;
    if (!known) {
      std::string names;
      for (const auto& vi : graph.inputs) names += (names.empty() ? "" : ", ") + vi.name;
      throw make_error("unknown input '", name, "' (the model's inputs are: ", names, ")");
    }
  }
}

}  // namespace sq
