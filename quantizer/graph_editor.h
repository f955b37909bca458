// Why this exists: the quantizer inserts nodes and constants into an existing graph. The editor
// hands out unique names (every inserted node is named "softquant/..."), adds initializers, and
// restores topological order when done.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/graph/ir.h"

namespace sq {

class GraphEditor {
 public:
  explicit GraphEditor(Model& model);
  Model& model() { return model_; }

  std::string unique_name(const std::string& hint);
  std::string add_constant(const std::string& hint, Tensor value);
  std::string add_scalar(const std::string& hint, float value);
  // Adds a node with one output and returns the output's name.
  std::string add_node(const std::string& op_type, std::vector<std::string> inputs,
                       const std::string& hint, std::map<std::string, Attribute> attrs = {});
  // Re-sorts nodes topologically (call after all edits).
  void finish();

 private:
  Model& model_;
  std::set<std::string> used_;
};

}  // namespace sq
