// Why this exists: the int8 engine runs attention as one integer op (AttentionU8, see
// ops/int8_attention.cc) instead of Q·Kᵀ, float mask and softmax ops, a probability quantizer,
// the softmax bias correction and P·V. This pass finds that pattern in a QDQ graph after
// DequantizeLinear sinking:
//
//   MatMul(DQ(q), DQ(kᵀ)) -> [Mul/Div by a constant] -> [Reshape] -> [Add mask] -> [Max(x, <= -1e30)]
//     -> [Reshape] -> Softmax(last axis) -> [Clip] -> QuantizeLinear(uint8) -> DequantizeLinear
//     -> correction -> MatMul(., DQ(v))
//
// where the correction is one the quantizer exports (none; scale form per tensor or head, folded
// into DequantizeLinear's scale; scale form per length bucket, Mul by a looked-up factor; offset
// form, Add of beta · Cast(scores > -1e30) with beta a constant, per-head constant or looked-up
// per length bucket). Anything else is left alone and runs op by op. Nodes the fused op makes
// unnecessary are removed later by dead-node elimination; values other nodes still read are
// computed as before.
#pragma once

#include "runtime/graph/ir.h"

namespace sq {

// Replaces every recognized P·V MatMul by an AttentionU8 node; returns how many.
int fuse_int8_attention(Graph& g, int64_t opset);

}  // namespace sq
