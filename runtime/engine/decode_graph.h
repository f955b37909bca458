// Why this exists: cached decoding of a plain causal decoder (input_ids [, attention_mask]
// [, position_ids] -> logits, no past_key_values inputs) on the int8 engine, where the runtime
// keeps the cache itself. Every fused AttentionU8 gets a kv_cache_slot: with a KvCache
// (ops/kv_cache.h) it appends the step's new K and V rows and attends over all cached keys,
// using the last rows of the full-sequence mask the graph builds. A step can then be fed in one
// of two ways, and generation (engine/generation.h) checks on a probe which one reproduces the
// uncached graph:
//   * new tokens: input_ids holds only the new tokens and attention_mask the whole sequence —
//     right for graphs that derive the past length from the two (Hugging Face style, and our
//     own builder);
//   * whole sequence: input_ids holds every token and a Slice, added here after the embedding
//     sum (the hidden state entering layer 0), keeps rows [past, L) where past is the new graph
//     input kPastLengthInput — for exports that bake in "no past" (torch.onnx of a model
//     called without a cache). Added only when the embedding lookup is found.
// With past = 0 and no cache the rewritten graph computes exactly what the original did.
#pragma once

#include <string>

#include "runtime/graph/ir.h"

namespace sq {

inline constexpr const char* kPastLengthInput = "softquant_past_length";

struct DecodeGraphInfo {
  std::string hidden;        // the embedding-sum value that is sliced ("" if none was found)
  int attention_layers = 0;  // AttentionU8 nodes given a cache slot
};

// `lowered`: a graph from lower_to_int8 (or a compiled .sqm). Throws sq::Error.
Model prepare_for_cached_decoding(const Model& lowered, DecodeGraphInfo* info = nullptr);

// True if the model is already prepared (its AttentionU8 nodes have cache slots).
bool is_prepared_for_cached_decoding(const Model& model);
// True if the prepared model can be fed the whole sequence (it has the kPastLengthInput input).
bool has_past_length_input(const Model& model);

}  // namespace sq
