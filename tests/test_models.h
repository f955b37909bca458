// Why this exists: small graphs several suites build (an attention block with or without a
// causal mask) and random calibration samples for them, written once instead of per test file.
#pragma once

#include <memory>
#include <random>
#include <string>

#include "runtime/graph/ir.h"

namespace sq::test {

Tensor random_tensor(Shape shape, std::mt19937& rng, float stddev);

// Attention over inputs q, k, v [1, H, S, D]: probs = Softmax(q kᵀ + mask), out = probs v, with
// outputs `out` and `probs_out` (the probabilities). Causal masks use float-min constants.
std::shared_ptr<Model> attention_model(int64_t heads, int64_t seq, int64_t dim, bool causal);

// Writes `count` sample folders of N(0, stddev) inputs for the model; returns the parent folder.
std::string write_random_samples(const Model& model, int count, uint64_t seed, float stddev = 1.5f);

}  // namespace sq::test
