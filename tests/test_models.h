// Why this exists: small graphs several suites build (an attention block with or without a
// causal mask) and random calibration samples for them, written once instead of per test file.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/engine/binding.h"
#include "runtime/graph/ir.h"

namespace sq::test {

Tensor random_tensor(Shape shape, std::mt19937& rng, float stddev);

// Attention over inputs q, k, v [1, H, S, D]: probs = Softmax(q kᵀ + mask), out = probs v, with
// outputs `out` and `probs_out` (the probabilities). Causal masks use float-min constants.
std::shared_ptr<Model> attention_model(int64_t heads, int64_t seq, int64_t dim, bool causal);

// Writes `count` sample folders of N(0, stddev) inputs for the model; returns the parent folder.
std::string write_random_samples(const Model& model, int count, uint64_t seed, float stddev = 1.5f);

// A model with sample feeds and its quantized (QDQ) version, for suites that run engines.
struct ModelCase {
  std::string name;
  std::shared_ptr<Model> fp32;        // constants folded
  std::shared_ptr<const Model> qdq;   // calibrated on 2 samples with the default QuantConfig
  std::vector<TensorMap> samples;
};
// The bundled trained byte-level OPT (models/assets/opt-bytes) and `count` evaluation windows of
// `context` tokens.
ModelCase bundled_opt_case(int64_t context, int count);
// The PyTorch-exported SD v1.5-style block (64 channels, 8x8; tests/data/torch) and its inputs.
ModelCase torch_sd_block_case();

}  // namespace sq::test
