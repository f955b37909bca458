// Why this exists: the int8 engine runs a QDQ model (the quantizer's export, or any standard QDQ
// ONNX model) on integer kernels. This pass rewrites the graph so that the products whose
// inputs are quantized run as integer ops of domain com.softquant (see ops/int8_ops.cc):
//   1. per-tensor DequantizeLinear nodes sink below pass-through ops (Reshape, Transpose,
//      Squeeze, Unsqueeze, Flatten, Identity), so those ops move uint8 data and every product
//      sees its DequantizeLinear inputs directly;
//   2. attention (Q·Kᵀ, mask, softmax, probability quantizer with the bias correction, P·V)
//      becomes one AttentionU8 op (engine/int8_attention_fusion.h);
//   3. MatMul / Gemm / 1x1 Conv with a uint8 per-tensor activation and an int8 per-tensor or
//      per-output-channel weight become MatMulU8S8ToFloat (weights packed once);
//   4. MatMul of two uint8 per-tensor activations (Q·Kᵀ, P·V) becomes BatchMatMulU8U8ToFloat;
//   5. Gather from an int8 table behind DequantizeLinear (an embedding tied to the LM head)
//      becomes GatherDequantize, so the table is never dequantized whole;
//   6. elementwise subgraphs between uint8 DequantizeLinear and QuantizeLinear (Sigmoid, Gelu,
//      Add of two quantized tensors, ...) become lookup tables (engine/int8_lookup_lowering.h).
// Everything else runs as written (FP32 reference ops); the report lists the nodes that still
// compute in float on dequantized inputs, so a user sees what was not lowered.
#pragma once

#include <string>
#include <vector>

#include "runtime/graph/ir.h"

namespace sq {

// Counts are of the lowered graph's nodes (after dead-node elimination).
struct Int8LoweringReport {
  int lowered_matmuls = 0;        // weight x activation products on integer kernels
  int fused_attention = 0;        // Q·Kᵀ -> softmax -> quantized P -> P·V as one integer op
  int lowered_act_matmuls = 0;    // other activation x activation products on integer kernels
  int lookups = 0;                // uint8 -> uint8 elementwise subgraphs as lookup tables
  int sunk_dequantize = 0;        // DequantizeLinear nodes moved below pass-through ops
  int fused_layer_norms = 0;      // nine-op LayerNorm chains as one float op (bit-identical)
  std::vector<std::string> float_nodes;  // nodes reading dequantized values, still in float
  // One line: what was lowered, and the float nodes (op type counts and the first few names).
  std::string summary() const;
};

Model lower_to_int8(const Model& qdq_model, Int8LoweringReport* report = nullptr);

}  // namespace sq
