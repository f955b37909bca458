// Why this exists: builds one Stable Diffusion v1.5 spatial-transformer block exactly as
// diffusers' Transformer2DModel (use_linear_projection=False) + BasicTransformerBlock compute it,
// exported the way torch.onnx.export writes it (GroupNorm as Reshape/InstanceNormalization/
// Reshape/Mul/Add, exact GELU as Erf). Its self-attention Softmax rows have L = size^2 keys
// (4096 at 64x64), the long rows where softmax quantization bias matters most.
#pragma once

#include <cstdint>
#include <string>

#include "models/weight_source.h"
#include "runtime/engine/binding.h"
#include "runtime/graph/ir.h"

namespace sq {

inline constexpr int64_t kSdHeads = 8;
inline constexpr int64_t kSdGroups = 32;
inline constexpr int64_t kSdContextLength = 77;
inline constexpr int64_t kSdContextDim = 768;
// Synthetic to_q/to_k weights are scaled so the attention logits have about this std, as in a
// trained SD UNet (plain N(0, 0.02) would give near-uniform softmax rows).
inline constexpr double kSdTargetLogitStd = 2.5;

struct SdAttnOptions {
  int64_t channels = 320;  // C: divisible by 32 (groups) and 8 (heads)
  int64_t size = 64;       // latent is [1, C, size, size]
  bool gelu_op = false;    // emit one Gelu node instead of the Erf decomposition
  int64_t opset = 14;      // < 17: LayerNorm decomposed; >= 17: LayerNormalization
  uint64_t seed = 0;       // synthetic weights
};

// std of the synthetic to_q / to_k weights for a projection with `fan_in` inputs: logits are
// scale * sum_{hd} q k with var(q) = var(k) = fan_in * std^2 = target, so std(logit) = target.
double sd_qk_weight_std(int64_t fan_in, double target_logit_std = kSdTargetLogitStd);

// Inputs `latent` [1,C,S,S] and `context` [1,77,768]; output `out` [1,C,S,S]. Synthetic
// weights from options.seed, or diffusers-named weights (transformer_blocks.0.attn1.to_q.weight,
// torch layout) from `weights`.
Model build_sd_attn(const SdAttnOptions& options);
Model build_sd_attn(const SdAttnOptions& options, WeightSource& weights);
int64_t sd_attn_parameter_count(int64_t channels);

// Deterministic N(0,1) `latent` and `context`.
TensorMap sd_attn_inputs(int64_t channels, int64_t size, uint64_t seed);

}  // namespace sq
