// Why this exists: the OPT and SD builders share the same torch.nn building blocks (LayerNorm,
// Linear, GELU, multi-head split/merge). Each helper emits exactly the node pattern that
// torch.onnx.export produces for that module, so the graphs look like exported ones to the
// quantizer, and the two builders cannot drift apart.
#pragma once

#include <string>

#include "models/graph_builder.h"

namespace sq {

// LayerNorm over the last axis. Opset >= 17: one LayerNormalization node. Below: torch's
// decomposition ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul weight, Add bias.
std::string layer_norm(GraphBuilder& b, const std::string& x, const std::string& weight,
                       const std::string& bias, float eps);

// torch.nn.Linear: MatMul with the [in, out] weight, then Add bias (skipped when bias is "").
std::string linear(GraphBuilder& b, const std::string& x, const std::string& weight_in_out,
                   const std::string& bias);

// Exact GELU. As torch exports it: x * (1 + Erf(x / sqrt2)) * 0.5, or one Gelu node.
std::string gelu(GraphBuilder& b, const std::string& x, bool use_gelu_op);

// [B, S, H*hd] -> [B, S, H, hd] (Reshape with 0-copied dims) -> Transpose(perm).
// perm {0,2,1,3} gives [B, H, S, hd]; {0,2,3,1} gives [B, H, hd, S] (transposed keys).
std::string split_heads(GraphBuilder& b, const std::string& x, int64_t heads, int64_t head_dim,
                        const std::vector<int64_t>& perm);
// [B, H, S, hd] -> Transpose -> [B, S, H, hd] -> Reshape -> [B, S, H*hd].
std::string merge_heads(GraphBuilder& b, const std::string& x, int64_t hidden);

}  // namespace sq
