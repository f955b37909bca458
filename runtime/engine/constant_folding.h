// Why this exists: exported graphs often compute a weight from constants at run time (fp16
// storage followed by Cast, a Transpose of an initializer, Constant nodes). Folding those nodes
// into initializers lets the quantizer see the real weights and saves the work at run time.
// Only ops that never enlarge their input are folded, so folding cannot blow up model size.
#pragma once

#include "runtime/graph/ir.h"

namespace sq {

// Folds, in place, every node of an allowed op type (Constant, Cast, Transpose, Reshape,
// Squeeze, Unsqueeze, Flatten, Identity) whose inputs are all initializers and whose outputs are
// not graph outputs. Returns the number of nodes folded.
int fold_constants(Model& model);

}  // namespace sq
