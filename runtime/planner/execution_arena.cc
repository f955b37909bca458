#include "runtime/planner/execution_arena.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <mutex>

#include "runtime/core/error.h"
#include "runtime/planner/greedy_by_size_planner.h"

namespace sq {

// What a recording run saw. Shared with the deleters of the tensors it handed out, since
// outputs are released by the caller after the run (and possibly after the arena is gone).
struct ExecutionArena::Recording {
  struct Entry {
    size_t size = 0;
    int first = 0, last = -1;  // last -1: still alive when the run ended
  };
  std::mutex mu;
  std::vector<Entry> entries;
  int step = 0;
  bool closed = false;
};

namespace {

struct RecordingDeleter {
  std::shared_ptr<void> recording;  // ExecutionArena::Recording, type-erased
  size_t index;
  void (*on_release)(void* recording, size_t index);
  void operator()(void* p) const {
    on_release(recording.get(), index);
    std::free(p);
  }
};

}  // namespace

struct ExecutionArena::ArenaDeleter {
  std::shared_ptr<Storage> storage;
  size_t index;
  void operator()(void*) const { storage->alive[index].store(false, std::memory_order_release); }
};

ExecutionArena::ExecutionArena() = default;
ExecutionArena::~ExecutionArena() = default;

ExecutionArena::Stats ExecutionArena::stats() const {
  Stats st = stats_;
  st.seeded_plans = static_cast<int>(seeds_.size());
  st.plan_seeded = have_plan_ && seed_index_ >= 0;
  return st;
}

bool ExecutionArena::same_inputs(const std::vector<MemoryPlan::Input>& key,
                                 const std::vector<const Tensor*>& inputs) {
  if (inputs.size() != key.size()) return false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i]->dtype() != key[i].dtype || inputs[i]->shape() != key[i].dims) return false;
  }
  return true;
}

std::optional<MemoryPlan> ExecutionArena::export_plan() const {
  if (!have_plan_ || stale_) return std::nullopt;
  MemoryPlan plan;
  plan.inputs = input_key_;
  plan.arena_bytes = buffer_bytes_;
  plan.buffers = plan_;
  return plan;
}

void ExecutionArena::seed(std::vector<MemoryPlan> plans) {
  SQ_CHECK(!busy_.load(), "ExecutionArena::seed: the arena is in a run");
  for (size_t i = 0; i < plans.size(); ++i) {
    const std::string e = memory_plan_error(plans[i]);
    SQ_CHECK(e.empty(), "ExecutionArena::seed: memory plan ", i, ": ", e);
  }
  seeds_ = std::move(plans);
  drop_plan();
  if (seeds_.empty()) return;
  install(seeds_[0]);
  seed_index_ = 0;
}

// Drops the current plan and its buffers (before a recording run, so that the heap-backed run
// does not hold them too, or before another plan is installed).
void ExecutionArena::drop_plan() {
  have_plan_ = false;
  stale_ = false;
  seed_index_ = -1;
  plan_.clear();
  by_last_.clear();
  storage_.reset();
  buffer_bytes_ = 0;
  outputs_.clear();
  input_key_.clear();
}

// A seeded plan that diverged (or whose run threw) is not tried again: its shapes record.
void ExecutionArena::drop_failed_seed() {
  if (!have_plan_ || !stale_ || seed_index_ < 0) return;
  seeds_.erase(seeds_.begin() + seed_index_);
  seed_index_ = -1;
}

void ExecutionArena::begin_run(const std::vector<const Tensor*>& inputs) {
  bool expected = false;
  SQ_CHECK(busy_.compare_exchange_strong(expected, true),
           "ExecutionArena: already in use by another run (each thread needs its own session)");
  ++stats_.runs;
  next_ = 0;
  last_cursor_ = 0;
  step_.store(0, std::memory_order_relaxed);
  drop_failed_seed();
  if (!(have_plan_ && !stale_ && same_inputs(input_key_, inputs))) {
    for (size_t i = 0; i < seeds_.size(); ++i) {
      if (!same_inputs(seeds_[i].inputs, inputs)) continue;
      drop_plan();
      try {
        install(seeds_[i]);  // allocates the arena: may run out of memory
      } catch (...) {
        drop_plan();
        busy_.store(false);
        throw;
      }
      seed_index_ = static_cast<int>(i);
      break;
    }
  }
  if (have_plan_ && !stale_ && same_inputs(input_key_, inputs)) {
    replaying_ = true;
    ++stats_.replayed_runs;
    return;
  }
  replaying_ = false;
  drop_plan();
  for (const Tensor* t : inputs) input_key_.push_back({t->dtype(), t->shape()});
  recording_ = std::make_shared<Recording>();
  ++stats_.recorded_runs;
}

void ExecutionArena::begin_step(int step) {
  step_.store(step, std::memory_order_relaxed);
  if (recording_) {
    std::lock_guard<std::mutex> lock(recording_->mu);
    recording_->step = step;
    return;
  }
  if (!replaying_) return;
  // Every tensor planned to die before this step must be dead: the step's new tensors may be
  // placed over it.
  while (last_cursor_ < by_last_.size()) {
    const int k = by_last_[last_cursor_];
    if (plan_[static_cast<size_t>(k)].last >= step) break;
    if (storage_->alive[static_cast<size_t>(k)].load(std::memory_order_acquire)) {
      diverge();
      return;
    }
    ++last_cursor_;
  }
}

void ExecutionArena::diverge() {
  replaying_ = false;
  stale_ = true;
  ++stats_.diverged_runs;
}

std::shared_ptr<void> ExecutionArena::allocate(size_t bytes) {
  if (recording_) {
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw make_error("out of memory allocating ", bytes, " bytes");
    size_t index;
    {
      std::lock_guard<std::mutex> lock(recording_->mu);
      index = recording_->entries.size();
      recording_->entries.push_back(Recording::Entry{bytes, recording_->step, -1});
    }
    auto on_release = [](void* r, size_t i) {
      auto* rec = static_cast<Recording*>(r);
      std::lock_guard<std::mutex> lock(rec->mu);
      if (!rec->closed) rec->entries[i].last = rec->step;
    };
    return std::shared_ptr<void>(p, RecordingDeleter{recording_, index, on_release});
  }
  if (!replaying_) return heap_allocate(bytes);
  const size_t k = next_++;
  // A smaller request fits the planned slot, which is reserved for the tensor's whole planned
  // lifetime: kernel scratch sized by the session's thread count (AttentionU8: one block per
  // thread) replays a plan made with more threads.
  if (k >= plan_.size() || bytes > plan_[k].size ||
      plan_[k].first != step_.load(std::memory_order_relaxed)) {
    diverge();
    return heap_allocate(bytes);
  }
  const Planned& p = plan_[k];
  if (p.output >= 0) {
    std::shared_ptr<void>& out = outputs_[static_cast<size_t>(p.output)];
    if (!out || out.use_count() != 1) {  // the caller still holds the previous run's result
      out = heap_allocate(bytes);
      ++stats_.output_allocations;
    }
    return out;
  }
  storage_->alive[k].store(true, std::memory_order_relaxed);
  return std::shared_ptr<void>(static_cast<char*>(storage_->buffer.get()) + p.offset,
                               ArenaDeleter{storage_, k});
}

bool ExecutionArena::owns(const void* p) const {
  if (!storage_) return false;
  const char* base = static_cast<const char*>(storage_->buffer.get());
  const char* c = static_cast<const char*>(p);
  return c >= base && c < base + buffer_bytes_;
}

void ExecutionArena::plan_from(const Recording& rec) {
  GreedyBySizePlanner planner(kMemoryPlanAlignment);
  MemoryPlan plan;
  plan.inputs = input_key_;
  plan.buffers.assign(rec.entries.size(), Planned{});
  std::vector<int> planner_index(rec.entries.size(), -1);
  int outputs = 0;
  for (size_t k = 0; k < rec.entries.size(); ++k) {
    const Recording::Entry& e = rec.entries[k];
    Planned& p = plan.buffers[k];
    p.size = e.size;
    p.first = e.first;
    if (e.last < 0) {
      p.output = outputs++;
      p.last = e.first;
      continue;
    }
    p.last = std::max(e.last, e.first);
    planner_index[k] = planner.add_buffer(e.size, p.first, p.last);
  }
  for (size_t k = 0; k < plan.buffers.size(); ++k) {
    if (planner_index[k] >= 0) plan.buffers[k].offset = planner.offset(planner_index[k]);
  }
  plan.arena_bytes = planner.arena_size();
#ifdef __GLIBC__
  // The recording run's intermediates are freed; hand the memory glibc keeps cached back to the
  // system before the arena is touched, so that the arena does not add to the peak RSS.
  malloc_trim(0);
#endif
  install(plan);
}

// Makes `plan` the current one: its arena buffer, live flags and output buffers.
void ExecutionArena::install(const MemoryPlan& plan) {
  input_key_ = plan.inputs;
  plan_ = plan.buffers;
  by_last_.clear();
  size_t sum = 0;
  for (size_t k = 0; k < plan_.size(); ++k) {
    if (plan_[k].output >= 0) continue;
    by_last_.push_back(static_cast<int>(k));
    sum += align_up(plan_[k].size, kMemoryPlanAlignment);
  }
  std::stable_sort(by_last_.begin(), by_last_.end(), [&](int a, int b) {
    return plan_[static_cast<size_t>(a)].last < plan_[static_cast<size_t>(b)].last;
  });
  buffer_bytes_ = plan.arena_bytes;
  storage_ = std::make_shared<Storage>();
  storage_->buffer = heap_allocate(buffer_bytes_);
  storage_->alive = std::make_unique<std::atomic<bool>[]>(plan_.size());
  // The arena is touched once here, so replays do not page-fault on it. Output buffers are
  // allocated now too (the first replay allocates nothing either) but first touched by it: after
  // a recording run the caller still holds that run's outputs, and touching both now would raise
  // the peak RSS.
  std::memset(storage_->buffer.get(), 0, buffer_bytes_);
  outputs_.assign(static_cast<size_t>(plan.output_buffers()), nullptr);
  for (const Planned& p : plan_) {
    if (p.output >= 0) outputs_[static_cast<size_t>(p.output)] = heap_allocate(p.size);
  }
  stats_.arena_bytes = buffer_bytes_;
  stats_.planned_bytes_sum = sum;
  stats_.planned_buffers = static_cast<int>(by_last_.size());
  stats_.output_buffers = static_cast<int>(outputs_.size());
  have_plan_ = true;
  stale_ = false;
}

void ExecutionArena::end_run(bool ok) {
  if (recording_) {
    std::shared_ptr<Recording> rec = std::move(recording_);
    std::vector<Recording::Entry> entries;
    {
      std::lock_guard<std::mutex> lock(rec->mu);
      rec->closed = true;
      entries = rec->entries;
    }
    if (ok) {
      Recording snapshot;
      snapshot.entries = std::move(entries);
      plan_from(snapshot);
    }
  } else if (have_plan_) {
    // A replay must have made every planned request and released every arena tensor.
    if (next_ != plan_.size()) stale_ = true;
    for (size_t k = 0; k < plan_.size(); ++k) {
      if (storage_->alive[k].load(std::memory_order_acquire)) stale_ = true;
    }
  }
  if (!ok) stale_ = true;
  replaying_ = false;
  busy_.store(false);
}

}  // namespace sq
