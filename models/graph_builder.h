// Why this exists: the model builders emit hundreds of IR nodes. GraphBuilder keeps that code
// reading like the PyTorch module it mirrors: one call per op, deterministic unique node and value
// names derived from a scope path (torch-export style, "/layers.0/self_attn/MatMul"), weights
// moved in without copies, and small helper constants deduplicated and named with a prefix so a
// parameter count can tell them apart from real weights.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/graph/ir.h"

namespace sq {

// Initializers whose name starts with this are helper constants (axes, shapes, epsilons), not
// model parameters.
inline constexpr const char* kHelperConstantPrefix = "const/";
bool is_helper_constant(const std::string& initializer_name);
// Sum of the element counts of every initializer that is not a helper constant.
int64_t count_parameters(const Model& model);

// Dimension helpers for graph inputs and outputs.
Dim fixed_dim(int64_t value);
Dim symbolic_dim(const std::string& name);

class GraphBuilder {
 public:
  GraphBuilder(int64_t opset, std::string graph_name);

  int64_t opset() const { return model_.opset(); }

  // RAII scope: nodes emitted while it lives are named "/<outer>/<name>/<OpType>".
  class Scope {
   public:
    Scope(GraphBuilder& b, const std::string& name);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    GraphBuilder& b_;
    size_t saved_size_;
  };

  void add_input(const std::string& name, DType dtype, std::vector<Dim> dims);
  // Declares a graph output; the value must be produced by a node (give it this exact name via
  // add_node's `output_names`).
  void add_output(const std::string& name, DType dtype, std::vector<Dim> dims);

  // A model parameter, moved in (no copy). Returns the name. Throws on a duplicate name.
  const std::string& add_initializer(const std::string& name, Tensor t);
  // A helper constant; identical constants share one initializer.
  std::string constant(const Tensor& t, const std::string& hint = "");
  std::string const_f32(float v);                         // 0-D float
  std::string const_i64(int64_t v);                       // 0-D int64
  std::string const_i64s(const std::vector<int64_t>& v);  // 1-D int64

  // Emits one node; returns its output names. Names are "<scope>/<OpType>[_k]_output_<i>"
  // unless `output_names` gives them explicitly (for graph outputs).
  std::vector<std::string> add_node(const std::string& op_type,
                                    const std::vector<std::string>& inputs,
                                    const std::map<std::string, Attribute>& attrs = {},
                                    size_t num_outputs = 1,
                                    const std::vector<std::string>& output_names = {});
  // Single-output shorthand.
  std::string op(const std::string& op_type, const std::vector<std::string>& inputs,
                 const std::map<std::string, Attribute>& attrs = {});

  // Sum of element counts of the parameters added with add_initializer.
  int64_t parameter_count() const { return parameter_count_; }
  // Moves the finished model out; checks that every declared output is produced.
  Model finish();

 private:
  std::string unique_node_name(const std::string& op_type);

  Model model_;
  std::vector<std::string> scope_;
  std::map<std::string, int> name_uses_;
  std::map<std::string, std::string> constant_by_key_;  // dtype+shape+bytes -> name
  int64_t parameter_count_ = 0;
  int constant_counter_ = 0;
};

}  // namespace sq
