// Why this exists: `--engine int8` in one call. Lowers a QDQ model (engine/int8_lowering.h),
// packs each weight for the running ISA (ops/int8_packed_weight.h) and prepares the result on the
// registry of builtin plus integer ops. Each node's unpacked weight is released as soon as its
// packed copy exists, and the kernels use the packed attribute in place, so a model's int8
// weights are held once (plus the one matrix being packed).
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/engine/int8_lowering.h"
#include "runtime/engine/reference_engine.h"
#include "runtime/kernels/isa.h"

namespace sq {

// Throws sq::Error for a model the reference engine could not run either. The caller keeps
// `qdq_model`, so its weights stay in memory next to the packed ones.
std::unique_ptr<ReferenceEngine> make_int8_engine(const Model& qdq_model,
                                                  Int8LoweringReport* report = nullptr);

// The same, taking the QDQ model over: it is released right after lowering (if this was the last
// holder), so its int8 weights are freed matrix by matrix as they are packed.
std::unique_ptr<ReferenceEngine> make_int8_engine(std::shared_ptr<const Model> qdq_model,
                                                  Int8LoweringReport* report = nullptr);

// The same for a model lowered already (a compiled .sqm, graph/sqm_format.h): prepares it as it
// is. Prepacked weights in the running ISA's layout are used in place; others are (re)packed.
// The engine takes the model over; unpacked kernel weight attributes are dropped once packed.
std::unique_ptr<ReferenceEngine> make_int8_engine_from_lowered(std::shared_ptr<Model> lowered);

struct PrepackStats {
  int matrices = 0;          // weights packed or repacked
  int64_t packed_bytes = 0;  // bytes of packed data they now hold
};

// Packs every MatMulU8S8ToFloat weight of a lowered model for `isa`, node by node, replacing its
// unpacked attribute (`softquant compile --isa`, and make_int8_engine for the running ISA). A
// GatherDequantize table that is also a GEMM's transposed weight (an embedding tied to the LM
// head) then reads its rows from that packed weight, so the table is held (and stored) once.
PrepackStats prepack_int8_weights(Model& lowered, kernels::Isa isa);

}  // namespace sq
