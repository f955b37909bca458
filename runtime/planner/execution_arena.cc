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

ExecutionArena::Stats ExecutionArena::stats() const { return stats_; }

bool ExecutionArena::same_inputs(const std::vector<const Tensor*>& inputs) const {
  if (inputs.size() != input_key_.size()) return false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i]->dtype() != input_key_[i].first || inputs[i]->shape() != input_key_[i].second) {
      return false;
    }
  }
  return true;
}

void ExecutionArena::begin_run(const std::vector<const Tensor*>& inputs) {
  bool expected = false;
  SQ_CHECK(busy_.compare_exchange_strong(expected, true),
           "ExecutionArena: already in use by another run (each thread needs its own session)");
  ++stats_.runs;
  next_ = 0;
  last_cursor_ = 0;
  step_.store(0, std::memory_order_relaxed);
  if (have_plan_ && !stale_ && same_inputs(inputs)) {
    replaying_ = true;
    ++stats_.replayed_runs;
    return;
  }
  // Record: drop the old plan and its buffers first, so the heap-backed recording run does not
  // hold them too.
  replaying_ = false;
  have_plan_ = false;
  plan_.clear();
  by_last_.clear();
  storage_.reset();
  buffer_bytes_ = 0;
  outputs_.clear();
  input_key_.clear();
  for (const Tensor* t : inputs) input_key_.emplace_back(t->dtype(), t->shape());
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
  if (k >= plan_.size() || plan_[k].size != bytes ||
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
  GreedyBySizePlanner planner(64);
  plan_.assign(rec.entries.size(), Planned{});
  std::vector<int> planner_index(rec.entries.size(), -1);
  int outputs = 0;
  size_t sum = 0;
  for (size_t k = 0; k < rec.entries.size(); ++k) {
    const Recording::Entry& e = rec.entries[k];
    Planned& p = plan_[k];
    p.size = e.size;
    p.first = e.first;
    if (e.last < 0) {
      p.output = outputs++;
      p.last = e.first;
      continue;
    }
    p.last = std::max(e.last, e.first);
    planner_index[k] = planner.add_buffer(e.size, p.first, p.last);
    sum += align_up(e.size, 64);
  }
  for (size_t k = 0; k < plan_.size(); ++k) {
    if (planner_index[k] >= 0) {
      plan_[k].offset = planner.offset(planner_index[k]);
      by_last_.push_back(static_cast<int>(k));
    }
  }
  std::stable_sort(by_last_.begin(), by_last_.end(), [&](int a, int b) {
    return plan_[static_cast<size_t>(a)].last < plan_[static_cast<size_t>(b)].last;
  });
  buffer_bytes_ = planner.arena_size();
#ifdef __GLIBC__
  // The recording run's intermediates are freed; hand the memory glibc keeps cached back to the
  // system before the arena is touched, so that the arena does not add to the peak RSS.
  malloc_trim(0);
#endif
  storage_ = std::make_shared<Storage>();
  storage_->buffer = heap_allocate(buffer_bytes_);
  storage_->alive = std::make_unique<std::atomic<bool>[]>(plan_.size());
  // The arena is touched once here, so replays do not page-fault on it. Output buffers are
  // allocated now too (the first replay allocates nothing either) but first touched by it: the
  // caller still holds this run's outputs, and touching both now would raise the peak RSS.
  std::memset(storage_->buffer.get(), 0, buffer_bytes_);
  outputs_.clear();
  for (const Planned& p : plan_) {
    if (p.output >= 0) outputs_.push_back(heap_allocate(p.size));
  }
  stats_.arena_bytes = buffer_bytes_;
  stats_.planned_bytes_sum = sum;
  stats_.planned_buffers = planner.buffer_count();
  stats_.output_buffers = outputs;
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
