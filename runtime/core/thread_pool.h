// Why this exists: ops split work over a fixed number of threads (2 by default, `--threads N`).
// One pool belongs to one session: the calling thread takes a share of the work itself. A call
// made while the pool is busy (from inside fn, or from a second thread sharing the pool by
// mistake) runs inline on its caller instead of corrupting the running job.
//
// Chunks are claimed, not assigned: the caller and the workers take the next unclaimed chunk
// until none is left, so a worker the OS has not scheduled yet (a busy machine, a phone running
// other apps) costs nothing: the caller runs its chunk too. The caller waits only for chunks
// already started.
// Hand-offs spin briefly before sleeping: a decode step issues ~150 small parallel jobs, and
// waking a thread through the kernel (futex, an IPI under a hypervisor) costs tens of
// microseconds each. A worker spins for up to kSpinMicros after its last job, the caller for up
// to the same time on the chunks still running; neither spins when there are more threads than
// CPUs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sq {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }
  // Runs fn(begin, end) over [0, n) in contiguous chunks of at least `grain` items, each index
  // exactly once. If fn throws, every chunk still finishes and the first exception is rethrown.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop();
  // Claims and runs chunks of the current job until none is left.
  void run_chunks(const std::function<void(int64_t, int64_t)>& fn, int64_t n, int chunks);
  void record_exception();
  bool job_done() const;
  // Spins until pred() holds or the spin budget is used up; returns pred().
  template <typename Pred>
  bool spin_until(Pred pred) const;

  static constexpr int kSpinMicros = 200;

  int num_threads_;
  std::vector<std::thread> workers_;
  std::atomic<bool> busy_{false};
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  // The current job; written under mu_ while no worker takes part in a job.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  bool spin_ = false;                    // no more threads than CPUs
  bool stop_ = false;
  std::atomic<uint64_t> generation_{0};  // bumped under mu_ per job, read by spinning workers
  std::atomic<int> next_chunk_{0};       // next unclaimed chunk of the current job
  std::atomic<int> unfinished_{0};       // chunks of the current job not finished yet
  std::atomic<int> joined_{0};           // workers taking part in the current job (under mu_)
  std::exception_ptr error_;             // first exception thrown by a chunk of the current job
};

}  // namespace sq
