// Why this exists: greedy text generation from a causal decoder on any engine, with the cache
// the model allows:
//   kGraph     the model has Optimum's past_key_values.N.key/value inputs and present.N.* outputs:
//              each step feeds the new token and the cache; the cache is kept in uint8 on the
//              grid of the QuantizeLinear that reads each present output in the graph (float
//              if none does), in buffers sized once;
//   kRuntime   a plain decoder prepared by prepare_for_cached_decoding (int8 engine): the fused
//              attention ops keep an int8 KvCache (ops/kv_cache.h) themselves;
//   kRecompute a plain decoder on the fp32 or sim engine: every step runs the whole sequence.
// All three feed input_ids, attention_mask (all ones) and position_ids when the graph has them,
// take the last row of the logits, and pick the arg max (the lowest id on ties).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/engine/reference_engine.h"

namespace sq {

enum class DecodeCache { kGraph, kRuntime, kRecompute };
const char* decode_cache_name(DecodeCache c);

// The cache a model supports on its engine: kGraph if it has past_key_values inputs, kRuntime if
// it was prepared for cached decoding, else kRecompute.
DecodeCache decode_cache_for(const Model& model);

struct GenerationResult {
  std::vector<int64_t> tokens;  // prompt followed by the generated ids
  int64_t generated = 0;
  double prefill_ms = 0;        // the step that reads the prompt (and makes the first token)
  double decode_ms = 0;         // every later step
  size_t cache_bytes = 0;       // int8 (or float) cache buffers held at the end
  std::string cache_storage;    // "uint8", "float32", "uint8+float32" or "none"
};

struct GenerationOptions {
  int64_t max_new = 16;
  int64_t eos_id = -1;  // stop after generating it (-1: never)
  // Called after each generated token (step 0 is the prefill).
  std::function<void(int64_t step, int64_t token)> on_token;
  // Passed to every step's run (for counting the work of a step).
  const ReferenceEngine::Observer* observer = nullptr;
};

// Throws sq::Error for a graph without input_ids, an unknown input, logits of the wrong shape,
// or an empty prompt.
GenerationResult generate_greedy(const ReferenceEngine& engine, const std::vector<int64_t>& prompt,
                                 const GenerationOptions& options, ThreadPool& pool);

}  // namespace sq
