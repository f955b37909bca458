// Why this exists: exporters spell LayerNorm below opset 17 as nine ops (ReduceMean, Sub, Pow 2,
// ReduceMean, Add eps, Sqrt, Div, Mul gamma, Add beta), and the int8 engine ran each as its own
// node: a quarter of OPT's nodes, and most of a decode step's time outside the matrix products.
// This pass replaces each such chain by one LayerNormChainF32 node (ops/layer_norm_chain.cc) that
// computes the same float operations in the same order, so its output is bit-identical to the
// chain's (and the int8 engine stays identical to the QDQ simulation).
//
// A chain qualifies when the reductions are over the last axis with keepdims, the exponent is the
// constant 2, epsilon a float32 scalar constant, gamma and beta float32 initializers of one
// dimension, and every intermediate value is read only inside the chain (x - mean by Pow and Div).
#pragma once

#include "runtime/graph/ir.h"

namespace sq {

// Rewrites the graph in place (the chain's last Add becomes the fused node; the rest becomes
// dead, for the caller's dead-node removal); returns the number of chains fused.
int fuse_layer_norm_chains(Graph& g);

}  // namespace sq
