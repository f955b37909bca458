// Why this exists: the contract between the engine and every op. A factory validates a node's
// attributes once, at prepare time, and returns an immutable kernel; run() reads inputs from an
// OpContext and sets outputs. Kernels hold no mutable state, so one prepared model can be run
// from several threads at once.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/core/thread_pool.h"
#include "runtime/graph/ir.h"

namespace sq {

class KvCache;  // ops/kv_cache.h

class OpContext {
 public:
  OpContext(const Node& node, std::vector<const Tensor*> inputs, std::vector<Tensor>* outputs,
            ThreadPool& pool, KvCache* kv_cache = nullptr)
      : node_(node), inputs_(std::move(inputs)), outputs_(outputs), pool_(pool),
        kv_cache_(kv_cache) {}

  const Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  // nullptr when an optional input is omitted ("" in the node) or beyond the given inputs.
  const Tensor* input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  // Throws sq::Error naming the node when the input is absent.
  const Tensor& in(size_t i) const;
  size_t num_outputs() const { return outputs_->size(); }
  void set_output(size_t i, Tensor t) { (*outputs_)[i] = std::move(t); }
  ThreadPool& pool() { return pool_; }
  // The decoding session's key/value cache, or nullptr when the run keeps no cache (the only
  // per-run state an op may mutate).
  KvCache* kv_cache() const { return kv_cache_; }

 private:
  const Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor>* outputs_;
  ThreadPool& pool_;
  KvCache* kv_cache_;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual void run(OpContext& ctx) const = 0;
};

// Kernel from a lambda, for ops whose prepare step is just reading attributes into a capture.
class LambdaKernel : public OpKernel {
 public:
  explicit LambdaKernel(std::function<void(OpContext&)> fn) : fn_(std::move(fn)) {}
  void run(OpContext& ctx) const override { fn_(ctx); }

 private:
  std::function<void(OpContext&)> fn_;
};

inline std::unique_ptr<OpKernel> make_kernel(std::function<void(OpContext&)> fn) {
  return std::make_unique<LambdaKernel>(std::move(fn));
}

// Validates the node (attributes, input count) and returns its kernel; throws sq::Error.
using OpFactory = std::function<std::unique_ptr<OpKernel>(const Node& node, int64_t opset)>;

class OpRegistry {
 public:
  // The registry with every built-in op (default ONNX domain).
  static const OpRegistry& builtin();
  // domain "" is the default ONNX domain ("ai.onnx" finds it too).
  void add(const std::string& op_type, OpFactory factory, const std::string& domain = "");
  const OpFactory* find(const std::string& domain, const std::string& op_type) const;
  std::vector<std::string> op_types() const;

 private:
  struct Entry {
    std::string domain, op_type;
    OpFactory factory;
  };
  std::vector<Entry> ops_;
};

// One function per op family, each defined in its own file under runtime/ops/.
void register_elementwise_ops(OpRegistry& r);    // elementwise.cc: unary/binary math, compare, logic, Where, Clip, Cast, Expand
void register_activation_ops(OpRegistry& r);     // activations.cc: Relu, Erf, Gelu, Sigmoid, Tanh, ...
void register_reduction_ops(OpRegistry& r);      // reduce.cc: ReduceMean/Sum/Max/Min/Prod, ArgMax, CumSum
void register_softmax_ops(OpRegistry& r);        // softmax.cc: Softmax, LogSoftmax
void register_normalization_ops(OpRegistry& r);  // normalization.cc: LayerNormalization, InstanceNormalization
void register_shape_ops(OpRegistry& r);          // shape_ops.cc: Reshape, Transpose, (Un)Squeeze, Flatten, Shape, Size, Identity
void register_slicing_ops(OpRegistry& r);        // slicing.cc: Concat, Slice, Split, Gather, Tile, ScatterND, Trilu
void register_generator_ops(OpRegistry& r);      // generators.cc: Constant, ConstantOfShape, Range
void register_matmul_ops(OpRegistry& r);         // matmul.cc: MatMul, Gemm
void register_conv_ops(OpRegistry& r);           // conv.cc: Conv
void register_quant_ops(OpRegistry& r);          // quant.cc: QuantizeLinear, DequantizeLinear
// The int8 engine's lowered ops (domain kInt8Domain), not part of builtin(): int8_ops.cc.
inline constexpr const char* kInt8Domain = "com.softquant";
void register_int8_ops(OpRegistry& r);            // int8_ops.cc (calls the next one)
void register_int8_attention_op(OpRegistry& r);  // int8_attention.cc: AttentionU8
void register_int8_lookup_op(OpRegistry& r);     // int8_lookup.cc: LookupU8
void register_layer_norm_chain_op(OpRegistry& r);  // layer_norm_chain.cc: LayerNormChainF32

}  // namespace sq
