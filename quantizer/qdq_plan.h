// Why this exists: decides, before anything is calibrated, what the quantizer will quantize.
// Weights (initializer inputs of MatMul/Gemm/Conv) get symmetric per-channel quantizers; every
// activation input of those ops is traced back through pass-through ops (Reshape, Transpose,
// Slice, Gather, ...) to the tensor that first produced the values, which gets one asymmetric
// quantizer shared by all its uses; Softmax outputs get the softmax output quantizer. The plan
// records which consumer inputs must be rewired to the quantized tensor.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "quantizer/config.h"

namespace sq {

struct InputRef {
  size_t node = 0;   // index into graph.nodes
  size_t input = 0;  // input slot
};

struct WeightQuantPlan {
  std::string initializer;
  int axis = -1;  // per-channel axis, -1 for per tensor
  int bits = 8;
};

struct ActQuantPlan {
  std::string source;           // tensor whose range is observed and which is quantized
  int bits = 8;
  std::vector<InputRef> uses;   // consumer inputs to rewire to the quantized tensor
};

struct SoftmaxQuantPlan {
  std::string node;    // Softmax node name
  std::string output;  // its output tensor
  std::string scores;  // its input tensor (to tell masked keys)
  int bits = 8;
  std::vector<InputRef> uses;
};

struct QdqPlan {
  std::vector<WeightQuantPlan> weights;
  std::vector<ActQuantPlan> activations;
  std::vector<SoftmaxQuantPlan> softmaxes;
  std::vector<std::string> quantized_nodes;  // MatMul/Gemm/Conv nodes with quantized inputs
  std::vector<std::string> float_nodes;      // quantizable nodes kept in float
};

// Op types whose output holds (a subset or rearrangement of) input 0's values unchanged.
bool is_pass_through_op(const std::string& op_type);

QdqPlan plan_qdq(const Model& model, const QuantConfig& config);

}  // namespace sq
