// Why this exists: writes quantizers into the graph using standard ONNX ops only. 8-bit (and
// narrower) quantizers become QuantizeLinear -> DequantizeLinear (narrower grids clip first);
// wider ones (16-bit activations, 10-16-bit softmax) become the equivalent float subgraph
// Div -> Round -> Add -> Clip -> Sub -> Mul, which every ONNX runtime executes bit-exactly the
// same way. Weights are stored as int8 initializers behind a (per-axis) DequantizeLinear.
#pragma once

#include <string>
#include <vector>

#include "quantizer/graph_editor.h"
#include "quantizer/quant_params.h"

namespace sq {

// Inserts the fake-quantizer for tensor x; returns the name of the dequantized tensor.
// dq_scales, when given, replaces the DequantizeLinear scale (scale-form correction): one value,
// or one per `dq_axis` index.
std::string emit_activation_qdq(GraphEditor& ed, const std::string& x, const AffineParams& p,
                                const std::string& hint, const std::vector<float>& dq_scales = {},
                                int dq_axis = -1, int rank = 0);

// Replaces float initializer `name` by int8 values + scales + DequantizeLinear producing `name`.
// Returns the per-channel (or single) scales.
std::vector<float> emit_weight_qdq(GraphEditor& ed, const std::string& name, int bits, int axis);

}  // namespace sq
