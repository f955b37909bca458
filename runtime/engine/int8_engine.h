// Why this exists: `--engine int8` in one call. Lowers a QDQ model (engine/int8_lowering.h) and
// prepares it on the registry of builtin plus integer ops; weights are packed during preparation,
// after which the lowered graph drops its copy of them, so a model's int8 weights are held once.
#pragma once

#include <memory>

#include "runtime/engine/int8_lowering.h"
#include "runtime/engine/reference_engine.h"

namespace sq {

// Throws sq::Error for a model the reference engine could not run either.
std::unique_ptr<ReferenceEngine> make_int8_engine(const Model& qdq_model,
                                                  Int8LoweringReport* report = nullptr);

// The same for a model lowered already (a compiled .sqm, graph/sqm_format.h): prepares it as it
// is. The engine takes the model over; its kernel weight attributes are dropped once packed.
std::unique_ptr<ReferenceEngine> make_int8_engine_from_lowered(std::shared_ptr<Model> lowered);

}  // namespace sq
