// Why this exists: builds the Hugging Face OPTForCausalLM decoder (eager attention) as an IR graph
// that computes exactly what HF computes: learned positions from the cumulative attention mask,
// HF's additive 4-D mask (float-min, via Where) followed by Max(scores, float-min) before Softmax,
// pre- or post-LN blocks, and the LM head tied to embed_tokens (Gemm transB=1, no transposed
// copy). Optionally with Optimum-style KV-cache inputs and outputs.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "models/opt_config.h"
#include "models/weight_source.h"
#include "runtime/engine/binding.h"
#include "runtime/graph/ir.h"

namespace sq {

struct OptBuildOptions {
  int64_t opset = 14;  // < 17: LayerNorm decomposed as torch exports it; >= 17: LayerNormalization
  bool kv_cache = false;  // past_key_values.N.{key,value} inputs, present.N.{key,value} outputs
};

// Builds with the given weights; checks that the weight initializers add up to
// opt_parameter_count(config). Throws sq::Error for a bad config or missing/misshaped weights.
Model build_opt(const OptConfig& config, const OptBuildOptions& options, WeightSource& weights);

// Graph I/O names (Optimum's).
std::string opt_past_name(int64_t layer, bool key);     // past_key_values.N.key / .value
std::string opt_present_name(int64_t layer, bool key);  // present.N.key / .value

// Deterministic test inputs: input_ids uniform in [0, vocab), attention_mask all ones, int64
// [batch, seq].
TensorMap opt_inputs(int64_t batch, int64_t seq, int64_t vocab, uint64_t seed);

}  // namespace sq
