// Why this exists: the FP32 reference engine. Executes any graph of supported ONNX ops in
// topological order, frees each intermediate after its last use (liveness), and is the oracle
// every quantized or integer path is compared against. Prepare (op validation, kernel creation)
// happens once in the constructor; run() is const and may be called from several threads, each
// with its own ThreadPool (and, optionally, its own ExecutionArena: planner/execution_arena.h).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/engine/binding.h"
#include "runtime/ops/op.h"

namespace sq {

class ExecutionArena;  // planner/execution_arena.h

class ReferenceEngine {
 public:
  // Throws sq::Error listing every node whose op or domain is unsupported, or whose attributes
  // are invalid.
  explicit ReferenceEngine(std::shared_ptr<const Model> model)
      : ReferenceEngine(std::move(model), OpRegistry::builtin()) {}
  // With another registry (the int8 engine's: builtin ops plus its lowered integer ops). The
  // registry is only used while constructing.
  ReferenceEngine(std::shared_ptr<const Model> model, const OpRegistry& registry);

  // Called after each node with every output it produced (for calibration observers).
  using Observer = std::function<void(const Node& node, size_t output_index, const Tensor& value)>;

  // kv_cache: the decoding session's cache, for graphs prepared for cached decoding
  // (engine/decode_graph.h); ops read and extend it. nullptr runs without one.
  TensorMap run(const TensorMap& inputs, ThreadPool& pool, const Observer* observer = nullptr,
                KvCache* kv_cache = nullptr) const;

  struct RunOptions {
    const Observer* observer = nullptr;
    KvCache* kv_cache = nullptr;
    // The session's arena: ops' outputs and scratch tensors are placed in it (after one
    // recording run per set of input shapes), so steady-state runs allocate no tensor data.
    // Results never alias it. One run at a time per arena; nullptr allocates from the heap.
    ExecutionArena* arena = nullptr;
  };
  TensorMap run(const TensorMap& inputs, ThreadPool& pool, const RunOptions& options) const;

  const Model& model() const { return *model_; }
  // Largest number of bytes held by intermediates at once in the last run() to finish (for memory
  // tests). Each buffer counts once (views share their input's), graph inputs and initializers
  // not at all, kernel scratch memory is not seen. With concurrent run() calls it is the value of
  // whichever finished last.
  int64_t last_peak_intermediate_bytes() const { return last_peak_bytes_; }

 private:
  std::shared_ptr<const Model> model_;
  std::vector<std::unique_ptr<OpKernel>> kernels_;
  std::vector<std::vector<int>> node_inputs_;   // slot per input, -1 for omitted
  std::vector<std::vector<int>> node_outputs_;  // slot per output, -1 for omitted
  std::vector<std::vector<int>> release_after_;  // slots whose last use is this node
  std::vector<int> input_slots_, output_slots_;
  std::vector<std::string> slot_names_;
  std::vector<std::pair<int, const Tensor*>> initializer_slots_;
  std::vector<const void*> initializer_buffers_;  // sorted, for LiveBytes
  mutable std::atomic<int64_t> last_peak_bytes_{0};
};

}  // namespace sq
