// Why this exists: cached decoding of a plain causal decoder (input_ids [, attention_mask]
// [, position_ids] -> logits, no past_key_values inputs) on the int8 engine, where the runtime
// keeps the cache itself. Each step feeds the whole sequence (token and position embeddings are
// cheap gathers), and this rewrite of the lowered graph makes everything after the embeddings
// compute only the step's new rows:
//   * a Slice keeps rows [past, L) of the embedding sum, the hidden state entering layer 0
//     (past = the new graph input kPastLengthInput), so every linear, norm and the LM head run
//     on the new rows only;
//   * every fused AttentionU8 gets a kv_cache_slot, so with a KvCache (ops/kv_cache.h) it
//     appends the new rows' K and V and attends over all cached keys, using the last rows of
//     the full-sequence mask the graph still builds.
// With past = 0 and no cache the rewritten graph computes exactly what the original did.
// Graphs whose embeddings or attention are not recognized are refused with a message saying
// what is missing.
#pragma once

#include <string>

#include "runtime/graph/ir.h"

namespace sq {

inline constexpr const char* kPastLengthInput = "softquant_past_length";

struct DecodeGraphInfo {
  std::string hidden;        // the embedding-sum value that is sliced
  int attention_layers = 0;  // AttentionU8 nodes given a cache slot
};

// `lowered`: a graph from lower_to_int8 (or a compiled .sqm). Throws sq::Error.
Model prepare_for_cached_decoding(const Model& lowered, DecodeGraphInfo* info = nullptr);

// True if the model is already prepared (has the kPastLengthInput input).
bool is_prepared_for_cached_decoding(const Model& model);

}  // namespace sq
