#include "quantizer/config.h"

#include <sstream>

namespace sq {

const char* softmax_grid_name(SoftmaxGridKind g) {
  switch (g) {
    case SoftmaxGridKind::kFixed: return "fixed";
    case SoftmaxGridKind::kUnit: return "unit";
    case SoftmaxGridKind::kCalibrated: return "calibrated";
  }
  return "?";
}

SoftmaxGridKind parse_softmax_grid(const std::string& s) {
  if (s == "fixed") return SoftmaxGridKind::kFixed;
  if (s == "unit") return SoftmaxGridKind::kUnit;
  if (s == "calibrated") return SoftmaxGridKind::kCalibrated;
  throw make_error("unknown --softmax-grid '", s, "' (expected fixed, unit or calibrated)");
}

static void check_bits(const char* what, int bits, int lo, int hi) {
  SQ_CHECK(bits >= lo && bits <= hi, what, " must be between ", lo, " and ", hi, ", got ", bits);
}

static void validate_override(const std::string& who, const QuantOverride& o) {
  if (o.weight_bits) check_bits((who + " weight bits").c_str(), *o.weight_bits, 2, 8);
  if (o.act_bits) {
    SQ_CHECK(*o.act_bits == 8 || *o.act_bits == 16, who, " activation bits must be 8 or 16, got ", *o.act_bits);
  }
  if (o.softmax_bits) check_bits((who + " softmax bits").c_str(), *o.softmax_bits, 4, 16);
}

void QuantConfig::validate() const {
  check_bits("--weight-bits", weight_bits, 2, 8);
  SQ_CHECK(act_bits == 8 || act_bits == 16, "--act-bits must be 8 or 16, got ", act_bits);
  check_bits("--softmax-bits", softmax_bits, 4, 16);
  for (const auto& [op, o] : op_overrides) validate_override("op " + op, o);
  for (const auto& [node, o] : node_overrides) validate_override("node " + node, o);
}

NodeQuantSettings QuantConfig::resolve(const Node& node) const {
  NodeQuantSettings s;
  s.quantize = !float_ops.count(node.op_type);
  s.weight_bits = weight_bits;
  s.act_bits = act_bits;
  s.softmax_bits = softmax_bits;
  auto apply = [&](const QuantOverride& o) {
    if (o.weight_bits) s.weight_bits = *o.weight_bits;
    if (o.act_bits) s.act_bits = *o.act_bits;
    if (o.softmax_bits) s.softmax_bits = *o.softmax_bits;
    if (o.keep_float) s.quantize = !*o.keep_float;
  };
  if (auto it = op_overrides.find(node.op_type); it != op_overrides.end()) apply(it->second);
  if (auto it = node_overrides.find(node.name); it != node_overrides.end()) apply(it->second);
  return s;
}

std::string QuantConfig::summary() const {
  std::ostringstream os;
  os << "W" << weight_bits << "A" << act_bits << " (" << observer_kind_name(act_observer)
     << " activation ranges, " << (weight_per_channel ? "per-channel" : "per-tensor")
     << " weights), softmax " << softmax_bits << "-bit on the " << softmax_grid_name(softmax_grid)
     << " grid, bias correction " << bc_granularity_name(softmax_bc);
  if (softmax_bc != BcGranularity::kNone) os << " (" << bc_form_name(softmax_bc_form) << " form)";
  return os.str();
}

void apply_override_spec(QuantConfig& config, const Graph& graph, const std::string& spec) {
  size_t colon = spec.find(':');
  SQ_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < spec.size(), "--override '", spec,
           "': expected NAME:key=value[,key=value]");
  std::string name = spec.substr(0, colon);
  bool is_node = false;
  for (const Node& n : graph.nodes) is_node = is_node || n.name == name;
  bool is_op = false;
  for (const Node& n : graph.nodes) is_op = is_op || n.op_type == name;
  SQ_CHECK(is_node || is_op, "--override '", spec, "': '", name, "' is neither a node name nor an op type in the model");
  QuantOverride& o = is_node ? config.node_overrides[name] : config.op_overrides[name];
  std::stringstream ss(spec.substr(colon + 1));
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t eq = item.find('=');
    SQ_CHECK(eq != std::string::npos, "--override '", spec, "': '", item, "' is not key=value");
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    int v = 0;
    if (key != "float") {
      try {
        v = std::stoi(value);
      } catch (const std::exception&) {
        throw make_error("--override '", spec, "': '", value, "' is not a number");
      }
    }
    if (key == "weight-bits") o.weight_bits = v;
    else if (key == "act-bits") o.act_bits = v;
    else if (key == "softmax-bits") o.softmax_bits = v;
    else if (key == "float") o.keep_float = value == "1" || value == "true" || value == "yes";
    else throw make_error("--override '", spec, "': unknown key '", key,
                          "' (expected weight-bits, act-bits, softmax-bits or float)");
  }
  config.validate();
}

}  // namespace sq
