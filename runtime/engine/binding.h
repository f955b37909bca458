// Why this exists: checks the tensors a caller supplies against the graph's declared inputs
// before anything runs: missing or extra names, wrong dtype, wrong rank, fixed dimensions that
// differ, and symbolic dimensions (batch, sequence) bound inconsistently across inputs.
#pragma once

#include <map>
#include <string>

#include "runtime/graph/ir.h"

namespace sq {

using TensorMap = std::map<std::string, Tensor>;

// Throws sq::Error with a one-line message naming the input and what was expected.
void check_bindings(const Graph& graph, const TensorMap& inputs);

// "input_ids: int64 [batch,sequence]" for help and error messages.
std::string describe_value(const ValueInfo& vi);

}  // namespace sq
