// Why this exists: the typed, validated quantization configuration (no string-keyed option
// bags). Global settings, per-op-type and per-node overrides, and ops kept in float; resolve()
// answers "how is this node quantized" in one place.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

#include "calib/observers.h"
#include "calib/softmax_stats.h"
#include "runtime/graph/ir.h"

namespace sq {

enum class SoftmaxGridKind { kFixed, kUnit, kCalibrated };
const char* softmax_grid_name(SoftmaxGridKind g);
SoftmaxGridKind parse_softmax_grid(const std::string& s);

// Settings that may differ per op type or per node; unset fields inherit.
struct QuantOverride {
  std::optional<int> weight_bits;
  std::optional<int> act_bits;
  std::optional<int> softmax_bits;
  std::optional<bool> keep_float;
};

// The resolved settings for one node.
struct NodeQuantSettings {
  bool quantize = true;
  int weight_bits = 8;
  int act_bits = 8;
  int softmax_bits = 8;
};

struct QuantConfig {
  int weight_bits = 8;             // 2..8, symmetric
  bool weight_per_channel = true;  // per output channel (else per tensor)
  int act_bits = 8;                // 8 or 16, asymmetric
  ObserverKind act_observer = ObserverKind::kMinMax;
  int softmax_bits = 8;            // 4..16, unsigned
  SoftmaxGridKind softmax_grid = SoftmaxGridKind::kFixed;
  BcGranularity softmax_bc = BcGranularity::kNone;
  BcForm softmax_bc_form = BcForm::kOffset;
  std::set<std::string> float_ops;                 // op types kept in float
  std::map<std::string, QuantOverride> op_overrides;    // by op type
  std::map<std::string, QuantOverride> node_overrides;  // by node name (wins over op type)

  // Throws sq::Error naming the offending setting.
  void validate() const;
  NodeQuantSettings resolve(const Node& node) const;
  // One-line human summary, e.g. "W8A8, softmax 8-bit fixed grid, correction head/offset".
  std::string summary() const;
};

// Parses "NAME:key=value[,key=value]" (keys: weight-bits, act-bits, softmax-bits, float) into
// the config; NAME is an op type if it starts with an upper-case letter and matches no node,
// else a node name. Throws sq::Error on bad syntax.
void apply_override_spec(QuantConfig& config, const Graph& graph, const std::string& spec);

}  // namespace sq
