#include "runtime/core/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "runtime/core/tensor_allocator.h"

namespace sq {
namespace {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

void chunk_range(int64_t n, int chunks, int index, int64_t* begin, int64_t* end) {
  int64_t base = n / chunks, extra = n % chunks;
  *begin = index * base + std::min<int64_t>(index, extra);
  *end = *begin + base + (index < extra ? 1 : 0);
}

}  // namespace

template <typename Pred>
bool ThreadPool::spin_until(Pred pred) const {
  if (!spin_) return pred();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return pred();
  }
}

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  const unsigned cpus = std::thread::hardware_concurrency();
  spin_ = cpus == 0 || static_cast<unsigned>(num_threads_) <= cpus;
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::record_exception() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_) error_ = std::current_exception();
}

bool ThreadPool::job_done() const {
  return unfinished_.load(std::memory_order_acquire) == 0 &&
         joined_.load(std::memory_order_acquire) == 0;
}

void ThreadPool::run_chunks(const std::function<void(int64_t, int64_t)>& fn, int64_t n,
                            int chunks) {
  for (;;) {
    const int index = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (index >= chunks) return;
    int64_t b, e;
    chunk_range(n, chunks, index, &b, &e);
    try {
      fn(b, e);
    } catch (...) {
      record_exception();
    }
    unfinished_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  // Tasks allocate from the heap, never from an arena installed on the calling thread: which
  // task runs where varies from run to run, and an arena must see the same requests every run.
  ScopedTensorAllocator heap_only(nullptr);
  grain = std::max<int64_t>(1, grain);
  // Every chunk gets at least `grain` items (so small jobs stay on the calling thread).
  int chunks = static_cast<int>(std::min<int64_t>(num_threads_, std::max<int64_t>(1, n / grain)));
  bool expected = false;
  if (chunks <= 1 || !busy_.compare_exchange_strong(expected, true)) {
    fn(0, n);  // one chunk, or a nested/concurrent call: run inline
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_n_ = n;
    job_chunks_ = chunks;
    next_chunk_.store(0);
    unfinished_.store(chunks);
    error_ = nullptr;
    generation_.fetch_add(1, std::memory_order_release);
  }
  work_cv_.notify_all();
  run_chunks(fn, n, chunks);
  std::exception_ptr error;
  {
    // Workers that joined hold a pointer to fn: wait for them even when a chunk threw.
    spin_until([this] { return job_done(); });
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return job_done(); });
    job_ = nullptr;  // a worker waking late finds no job
    error = std::exchange(error_, nullptr);
  }
  busy_.store(false);
  if (error) std::rethrow_exception(error);
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
    const std::function<void(int64_t, int64_t)>* job;
    int64_t n;
    int chunks;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
      if (stop_) return;
      seen = generation_.load();
      if (job_ == nullptr) continue;  // that job finished without us
      job = job_;
      n = job_n_;
      chunks = job_chunks_;
      joined_.fetch_add(1);
    }
    run_chunks(*job, n, chunks);
    std::lock_guard<std::mutex> lock(mu_);
    if (joined_.fetch_sub(1) == 1 && unfinished_.load() == 0) done_cv_.notify_one();
  }
}

}  // namespace sq
