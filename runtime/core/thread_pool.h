// Why this exists: ops split work over a fixed number of threads (2 by default, `--threads N`).
// One pool belongs to one session: the calling thread takes a share of the work itself. A call
// made while the pool is busy (from inside fn, or from a second thread sharing the pool by
// mistake) runs inline on its caller instead of corrupting the running job.
// Hand-offs spin briefly before sleeping: a decode step issues ~150 small parallel jobs, and
// waking a thread through the kernel (futex, an IPI under a hypervisor) costs tens of
// microseconds each. A worker spins for up to kSpinMicros after its last job, the caller for up
// to the same time on the workers' completion; neither spins when there are more threads than
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
  void worker_loop(int index);
  void record_exception();
  // Spins until pred() holds or the spin budget is used up; returns pred().
  template <typename Pred>
  bool spin_until(Pred pred) const;

  static constexpr int kSpinMicros = 200;

  int num_threads_;
  std::vector<std::thread> workers_;
  std::atomic<bool> busy_{false};
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  bool spin_ = false;                    // no more threads than CPUs
  std::atomic<uint64_t> generation_{0};  // written under mu_, read by spinning workers
  std::atomic<int> pending_{0};          // written under mu_, read by the spinning caller
  bool stop_ = false;
  std::exception_ptr error_;  // first exception thrown by a chunk of the current job
};

}  // namespace sq
