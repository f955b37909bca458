// Why this exists: the project's own graph IR, independent of protobuf. ONNX files are converted
// to it on load and back on save; the engines, the quantizer and the model builders all work on
// it. Nodes keep ONNX's names, op types, domains and attributes so a round trip is lossless for
// everything the runtime understands.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/planner/memory_plan.h"

namespace sq {

struct Attribute {
  enum class Kind { kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings };
  Kind kind = Kind::kInt;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;

  static Attribute of_int(int64_t v);
  static Attribute of_float(float v);
  static Attribute of_string(std::string v);
  static Attribute of_ints(std::vector<int64_t> v);
  static Attribute of_floats(std::vector<float> v);
  static Attribute of_tensor(Tensor v);
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" for the default ONNX domain
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  // Typed getters; the versions without a default throw sq::Error naming the node if missing or
  // of the wrong kind.
  int64_t attr_int(const std::string& key) const;
  int64_t attr_int(const std::string& key, int64_t def) const;
  float attr_float(const std::string& key, float def) const;
  std::string attr_string(const std::string& key, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& key) const;
  std::optional<std::vector<int64_t>> attr_ints_opt(const std::string& key) const;
  std::vector<float> attr_floats(const std::string& key) const;
  const Tensor& attr_tensor(const std::string& key) const;
  // "node 'name' (OpType)" for error messages.
  std::string describe() const;
  // Number of inputs actually given (trailing "" removed).
  size_t num_inputs() const;
  const std::string& input(size_t i) const;  // "" if absent
};

// A dimension is a known value, a symbolic name (batch, sequence), or unknown.
struct Dim {
  int64_t value = -1;
  std::string param;
  bool known() const { return value >= 0; }
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::kFloat32;
  bool has_type = false;
  bool has_shape = false;
  std::vector<Dim> dims;
};

struct Graph {
  std::string name = "graph";
  std::vector<Node> nodes;
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  std::vector<ValueInfo> value_info;      // intermediate types/shapes (from shape inference)
  std::map<std::string, Tensor> initializers;

  const ValueInfo* find_value_info(const std::string& name) const;
  bool is_initializer(const std::string& name) const { return initializers.count(name) != 0; }
};

struct Model {
  Graph graph;
  std::map<std::string, int64_t> opset_imports;  // domain -> version ("" = ai.onnx)
  int64_t ir_version = 8;
  std::string producer_name = "softquant";
  std::string producer_version = "0.1";
  std::map<std::string, std::string> metadata;
  // Session arena plans for this graph, made ahead of time (`softquant compile`, stored in a
  // compiled .sqm): sessions seed their arena with them. Not saved to ONNX.
  std::vector<MemoryPlan> memory_plans;

  int64_t opset() const;  // default-domain opset version
};

// Returns node indices in an order where every node runs after the producers of its inputs.
// Throws sq::Error naming the problem for a cycle, a dangling input (a name nothing produces),
// or a value produced twice.
std::vector<size_t> topological_order(const Graph& graph);

}  // namespace sq
