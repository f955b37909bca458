#include "runtime/engine/reference_engine.h"

#include <algorithm>
#include <new>
#include <unordered_map>
#include <unordered_set>

#include "runtime/core/tensor_allocator.h"
#include "runtime/planner/execution_arena.h"

namespace sq {

namespace {

// Bytes held by intermediates, counted once per buffer: zero-copy views (Reshape, Identity)
// share their input's buffer, and buffers owned by the caller (graph inputs) or the model
// (initializers) are not intermediates at all.
class LiveBytes {
 public:
  // model_buffers: the initializers' buffers, sorted (fixed per engine, so no run rebuilds a set).
  explicit LiveBytes(const std::vector<const void*>& model_buffers) : model_(model_buffers) {}
  void add_external(const Tensor& t) { inputs_.push_back(t.raw()); }
  bool is_external(const Tensor& t) const {
    return std::binary_search(model_.begin(), model_.end(), t.raw()) ||
           std::find(inputs_.begin(), inputs_.end(), t.raw()) != inputs_.end();
  }
  void hold(const Tensor& t) {
    if (is_external(t)) return;
    auto [it, inserted] = held_.emplace(t.raw(), std::make_pair(0, t.nbytes()));
    if (inserted) {
      live_ += static_cast<int64_t>(t.nbytes());
      peak_ = std::max(peak_, live_);
    }
    ++it->second.first;
  }
  void release(const Tensor& t) {
    auto it = held_.find(t.raw());
    if (it == held_.end()) return;
    if (--it->second.first == 0) {
      live_ -= static_cast<int64_t>(it->second.second);
      held_.erase(it);
    }
  }
  int64_t peak() const { return peak_; }

 private:
  const std::vector<const void*>& model_;
  std::vector<const void*> inputs_;
  std::unordered_map<const void*, std::pair<int, size_t>> held_;  // buffer -> (holders, bytes)
  int64_t live_ = 0, peak_ = 0;
};

// Prefixes an error with the node unless the message already names it.
Error node_error(const Node& n, const std::string& msg) {
  if (msg.find(n.describe()) != std::string::npos) return Error(msg);
  return Error(n.describe() + ": " + msg);
}

}  // namespace

ReferenceEngine::ReferenceEngine(std::shared_ptr<const Model> model, const OpRegistry& registry)
    : model_(std::move(model)) {
  SQ_CHECK(model_ != nullptr, "ReferenceEngine: no model");
  const Graph& g = model_->graph;
  // Structure first (cycles, dangling inputs, order), for graphs built in memory rather than
  // loaded; then every node's op.
  std::vector<size_t> order = topological_order(g);
  for (size_t i = 0; i < order.size(); ++i) {
    SQ_CHECK(order[i] == i, "graph nodes are not in topological order (",
             g.nodes[order[i]].describe(), " must run earlier)");
  }
  std::unordered_map<std::string, int> slot_of;
  auto slot = [&](const std::string& name) {
    auto [it, inserted] = slot_of.emplace(name, static_cast<int>(slot_names_.size()));
    if (inserted) slot_names_.push_back(name);
    return it->second;
  };
  for (const auto& vi : g.inputs) input_slots_.push_back(slot(vi.name));
  for (const auto& [name, t] : g.initializers) {
    SQ_CHECK(!t.empty_handle(), "initializer '", name, "' holds no data");
    initializer_slots_.emplace_back(slot(name), &t);
  }

  for (const auto& [s, t] : initializer_slots_) initializer_buffers_.push_back(t->raw());
  std::sort(initializer_buffers_.begin(), initializer_buffers_.end());

  std::string unsupported;
  int64_t opset = model_->opset();
  for (const Node& n : g.nodes) {
    const OpFactory* f = registry.find(n.domain, n.op_type);
    if (!f) {
      unsupported += (unsupported.empty() ? "" : ", ") + n.describe();
      kernels_.push_back(nullptr);
    } else {
      try {
        kernels_.push_back((*f)(n, opset));
      } catch (const Error& e) {
        throw node_error(n, e.what());
      }
      SQ_CHECK(kernels_.back() != nullptr, n.describe(), ": op factory returned no kernel");
    }
    std::vector<int> ins, outs;
    for (const auto& in : n.inputs) ins.push_back(in.empty() ? -1 : slot(in));
    for (const auto& out : n.outputs) outs.push_back(out.empty() ? -1 : slot(out));
    node_inputs_.push_back(std::move(ins));
    node_outputs_.push_back(std::move(outs));
  }
  if (!unsupported.empty()) {
    throw make_error("unsupported op(s): ", unsupported, " (opset ", opset, ")");
  }
  for (const auto& vi : g.outputs) output_slots_.push_back(slot(vi.name));

  // Liveness: each intermediate is released after the last node that reads it (or, if nothing
  // reads it, right after the node that produced it).
  std::vector<int> last_use(slot_names_.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const int step = static_cast<int>(i);
    for (int s : node_inputs_[i]) {
      if (s >= 0) last_use[s] = step;
    }
    for (int s : node_outputs_[i]) {
      if (s >= 0 && last_use[s] < step) last_use[s] = step;
    }
  }
  std::vector<bool> keep(slot_names_.size(), false);
  for (int s : output_slots_) keep[s] = true;
  for (auto& [s, t] : initializer_slots_) keep[s] = true;
  release_after_.resize(g.nodes.size());
  for (size_t s = 0; s < slot_names_.size(); ++s) {
    if (!keep[s] && last_use[s] >= 0) release_after_[last_use[s]].push_back(static_cast<int>(s));
  }
}

TensorMap ReferenceEngine::run(const TensorMap& inputs, ThreadPool& pool,
                               const Observer* observer, KvCache* kv_cache) const {
  RunOptions options;
  options.observer = observer;
  options.kv_cache = kv_cache;
  return run(inputs, pool, options);
}

TensorMap ReferenceEngine::run(const TensorMap& inputs, ThreadPool& pool,
                               const RunOptions& options) const {
  const Observer* observer = options.observer;
  KvCache* kv_cache = options.kv_cache;
  ExecutionArena* arena = options.arena;
  const Graph& g = model_->graph;
  check_bindings(g, inputs);
  std::vector<const Tensor*> input_tensors;
  for (const auto& vi : g.inputs) input_tensors.push_back(&inputs.at(vi.name));
  // Declared before the slots: on an exception the intermediates are released first.
  ArenaRun arena_run(arena, input_tensors);
  std::vector<Tensor> own_slots;
  std::vector<Tensor>& slots = arena ? arena->value_slots() : own_slots;
  slots.clear();
  slots.resize(slot_names_.size());  // with an arena: reuses the last run's capacity
  struct ClearSlots {  // the intermediates go before the arena run ends, even on an exception
    std::vector<Tensor>& slots;
    ~ClearSlots() { slots.clear(); }
  } clear_slots{slots};
  LiveBytes live(initializer_buffers_);
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    slots[input_slots_[i]] = inputs.at(g.inputs[i].name);
    live.add_external(slots[input_slots_[i]]);
  }
  for (const auto& [s, t] : initializer_slots_) slots[s] = *t;

  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    std::vector<const Tensor*> ins;
    ins.reserve(node_inputs_[i].size());
    for (int s : node_inputs_[i]) {
      if (s < 0) {
        ins.push_back(nullptr);
        continue;
      }
      SQ_CHECK(!slots[s].empty_handle(), n.describe(), ": input '", slot_names_[s],
               "' has no value");
      ins.push_back(&slots[s]);
    }
    std::vector<Tensor> outs(node_outputs_[i].size());
    OpContext ctx(n, std::move(ins), &outs, pool, kv_cache);
    if (arena) arena->begin_step(static_cast<int>(i));
    try {
      ScopedTensorAllocator use_arena(arena);
      kernels_[i]->run(ctx);
    } catch (const Error& e) {
      throw node_error(n, e.what());
    } catch (const std::bad_alloc&) {
      throw node_error(n, "out of memory");
    }
    for (size_t o = 0; o < outs.size(); ++o) {
      int s = node_outputs_[i][o];
      if (s < 0) continue;
      SQ_CHECK(!outs[o].empty_handle(), n.describe(), ": produced no value for output '",
               n.outputs[o], "'");
      if (observer) (*observer)(n, o, outs[o]);
      slots[s] = std::move(outs[o]);
      live.hold(slots[s]);
    }
    for (int s : release_after_[i]) {
      live.release(slots[s]);
      slots[s] = Tensor();
    }
  }
  last_peak_bytes_ = live.peak();
  TensorMap result;
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    const Tensor& t = slots[output_slots_[i]];
    // An output that aliases a weight or a caller's input (Identity, Reshape of an initializer)
    // is copied, so writing into a result can never change the model or the inputs.
    // An output in the arena would be overwritten by the next run: copied too (the arena keeps
    // outputs out of it; this happens only if a replay diverged from its recording).
    const bool copy = live.is_external(t) || (arena && arena->owns(t.raw()));
    result[g.outputs[i].name] = copy ? t.clone() : t;
  }
  slots.clear();
  arena_run.finish();
  return result;
}

}  // namespace sq
