// Placeholder until this op family is implemented.
#include "runtime/ops/op.h"

namespace sq {

void register_shape_ops(OpRegistry& r) { (void)r; }

}  // namespace sq
