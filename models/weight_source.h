// Why this exists: a builder asks for each parameter by its Hugging Face name and PyTorch shape,
// and gets it from one of three places without caring which: deterministic synthetic values
// (HF init), a folder of .npy files named as HF names them, or the initializers of an ONNX file.
// Missing or misshaped tensors are one-line sq::Errors naming the tensor and the expected shape.
// Tensors are handed over, not copied; only Linear weights are transposed, once, to MatMul layout.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "runtime/core/tensor.h"

namespace sq {

// How a synthetic tensor is initialized (ignored for real weights).
enum class Init { kNormal, kZeros, kOnes };

struct WeightSpec {
  std::string name;  // HF / diffusers parameter name
  Shape shape;       // PyTorch layout (Linear: [out, in])
  Init init = Init::kNormal;
  float stddev = 0.02f;
};

// Name under which a transposed Linear weight ([in, out], MatMul layout) is stored.
std::string transposed_name(const std::string& name);

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The float32 tensor with exactly spec.shape, in PyTorch layout.
  virtual Tensor fetch(const WeightSpec& spec) = 0;
  // A 2-D Linear weight given as [out, in] in spec.shape, returned as [in, out].
  virtual Tensor fetch_transposed(const WeightSpec& spec);
  // "synthetic (seed 0)" or the path, for messages.
  virtual std::string describe() const = 0;
};

// Deterministic HF-style init: normal(0, stddev) / zeros / ones per spec.init.
std::unique_ptr<WeightSource> make_synthetic_weights(uint64_t seed);
// A folder of <name>.npy files, or an .onnx file whose initializers carry the names (an
// initializer "<name>.T" holding the [in, out] transpose is accepted for Linear weights, so a model
// built by softquant can serve as the weight source of another build).
std::unique_ptr<WeightSource> open_weights(const std::string& path);

}  // namespace sq
