// Why this exists: QDQ graphs from other tools (ONNX Runtime's quantizer, for one) quantize
// activations around elementwise ops: DequantizeLinear -> Sigmoid / Gelu / LeakyRelu / Add /
// Mul ... -> QuantizeLinear. Between a per-tensor uint8 dequantizer and a per-tensor uint8
// quantizer, such an elementwise subgraph is a function of the input bytes only, so it becomes a
// lookup table: 256 entries for one quantized input, 65,536 for two (Add or Mul of two quantized
// tensors, with broadcasting). The table is computed at lowering time by running the subgraph
// itself on every input value through the reference kernels, so the integer op (LookupU8, in
// ops/int8_lookup.cc) reproduces the QDQ simulation exactly.
//
// A subgraph qualifies when every node is an elementwise ONNX op of the list in the .cc, its
// other inputs are one-element constants, its intermediate values are read only inside it, and
// it has at most 16 nodes and 2 quantized inputs.
#pragma once

#include "runtime/graph/ir.h"

namespace sq {

// Rewrites the graph in place; returns the number of LookupU8 nodes made. The replaced
// subgraphs become dead (the caller's dead-node removal drops them).
int lower_elementwise_to_lookup(Graph& g, int64_t opset);

}  // namespace sq
