// Why this exists: one session's memory for running a model, so the steady state of run()
// allocates no tensor data. A session owns one arena (one loaded engine serves many sessions,
// each with its own, on several threads); the engine installs it around every op.
//
// The first run with a given set of input shapes records every tensor the engine's thread
// creates (size, the step that created it, the step that released it; storage from the heap),
// then plans them into one buffer with GreedyBySizePlanner. Later runs with the same shapes
// replay that plan: the k-th tensor created gets the k-th planned offset. Tensors that outlive
// the run (graph outputs, handed to the caller) are never placed in the arena: each gets a
// buffer of its own, kept by the arena and reused on the next run once the caller has dropped
// the previous result (else a new one is allocated). Replay checks itself: a request larger than
// the recorded one or at another step, or a tensor still alive past its planned last step, sends
// the rest of the run to the heap and makes the next run record again. New input shapes
// re-record and re-plan too. An observer (ReferenceEngine::RunOptions) must copy, not keep, the
// tensors it is shown: their memory is reused within the run and by the next one.
//
// A plan can also be given ahead of time (seed(), e.g. the plans a compiled .sqm model stores,
// planner/memory_plan.h): the first one's buffer is allocated at once, and a run whose input
// shapes match a seeded plan replays it without a recording run. Replay checks a seeded plan as
// it checks a recorded one; one that diverges is dropped, and those shapes record as usual.
// Some kernel scratch is sized per pool thread (AttentionU8); a smaller request is served from
// its larger planned slot, so a plan made with N threads serves sessions of up to N threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/core/tensor_allocator.h"
#include "runtime/planner/memory_plan.h"

namespace sq {

class ExecutionArena final : public TensorAllocator {
 public:
  ExecutionArena();
  ~ExecutionArena() override;
  ExecutionArena(const ExecutionArena&) = delete;
  ExecutionArena& operator=(const ExecutionArena&) = delete;

  struct Stats {
    int64_t runs = 0, recorded_runs = 0, replayed_runs = 0;
    int64_t diverged_runs = 0;       // replays that fell back to the heap part-way
    size_t arena_bytes = 0;          // the planned arena of the current plan
    size_t planned_bytes_sum = 0;    // sum of the planned buffers' sizes (a linear arena)
    int planned_buffers = 0;         // tensors placed in the arena per run
    int output_buffers = 0;          // tensors that outlive a run (outputs)
    int64_t output_allocations = 0;  // output buffers allocated during replays (not reused)
    int seeded_plans = 0;            // plans from seed() still in use (not dropped)
    bool plan_seeded = false;        // the current plan came from seed(), not a recording
  };
  Stats stats() const;

  // The current plan (recorded, or seeded and not diverged), or nullopt if there is none.
  std::optional<MemoryPlan> export_plan() const;
  // Plans to replay without recording, for runs with their input shapes (the first plan with
  // given shapes wins). Installs the first one now, allocating its buffer. Throws sq::Error if a
  // plan is invalid (memory_plan_error). Not during a run.
  void seed(std::vector<MemoryPlan> plans);

  // --- The engine's side (engine/reference_engine.cc). One run at a time: begin_run throws
  // sq::Error if another run is using the arena.
  void begin_run(const std::vector<const Tensor*>& inputs);
  void begin_step(int step);
  std::shared_ptr<void> allocate(size_t bytes) override;
  // True if p points into the arena buffer (a result that must be copied out).
  bool owns(const void* p) const;
  // After the run's intermediates are released; `ok` false when the run threw.
  void end_run(bool ok);
  // The engine's table of values (one per graph value name), kept between runs so that a run
  // does not allocate it; empty between runs.
  std::vector<Tensor>& value_slots() { return value_slots_; }

 private:
  struct Recording;
  struct ArenaDeleter;
  // output: index into outputs_ for tensors that outlive the run, else -1.
  using Planned = MemoryPlan::Buffer;

  static bool same_inputs(const std::vector<MemoryPlan::Input>& key,
                          const std::vector<const Tensor*>& inputs);
  void plan_from(const Recording& rec);
  void install(const MemoryPlan& plan);
  void drop_plan();
  void drop_failed_seed();
  void diverge();

  std::atomic<bool> busy_{false};
  std::vector<MemoryPlan::Input> input_key_;
  bool have_plan_ = false, stale_ = false;
  bool replaying_ = false;
  std::atomic<int> step_{0};

  std::shared_ptr<Recording> recording_;  // during a recording run

  std::vector<MemoryPlan> seeds_;
  int seed_index_ = -1;  // the seed the current plan came from, or -1
  std::vector<Planned> plan_;
  std::vector<int> by_last_;  // plan_ indices ordered by planned last step
  size_t next_ = 0, last_cursor_ = 0;
  // The arena buffer and a live flag per planned tensor; every arena tensor holds a reference,
  // so its memory stays valid however long it is (wrongly) kept.
  struct Storage {
    std::shared_ptr<void> buffer;
    std::unique_ptr<std::atomic<bool>[]> alive;
  };
  std::shared_ptr<Storage> storage_;
  size_t buffer_bytes_ = 0;
  std::vector<std::shared_ptr<void>> outputs_;
  std::vector<Tensor> value_slots_;
  Stats stats_;
};

// RAII for the engine: begin_run on construction, end_run(false) unless finish() was called.
class ArenaRun {
 public:
  ArenaRun(ExecutionArena* arena, const std::vector<const Tensor*>& inputs) : arena_(arena) {
    if (arena_) arena_->begin_run(inputs);
  }
  ~ArenaRun() {
    if (arena_ && !finished_) arena_->end_run(false);
  }
  void finish() {
    if (arena_ && !finished_) arena_->end_run(true);
    finished_ = true;
  }
  ArenaRun(const ArenaRun&) = delete;
  ArenaRun& operator=(const ArenaRun&) = delete;

 private:
  ExecutionArena* arena_;
  bool finished_ = false;
};

}  // namespace sq
