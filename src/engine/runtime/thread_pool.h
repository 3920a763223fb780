// Persistent worker threads for the engine's kernels. Workers spin briefly then sleep (futex); dispatching
// a job allocates nothing, so it can run per layer per token (a decode step dispatches ~200 jobs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace chimera::engine {

class ThreadPool {
 public:
  // n_threads includes the calling thread (n_threads - 1 workers are started). <= 0 means physical cores.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs job(thread_index, n_threads) on every thread, the caller as index 0, and returns when all
  // have finished. The workers run it under the caller's KernelPathLimit (matmul.h). Not reentrant:
  // a job must not call run() on the same pool, and only one thread may call run() at a time.
  template <typename F>
  void run(F&& job) {
    using Fn = std::remove_reference_t<F>;
    run_raw(
        [](void* ctx, int ith, int nth) { (*static_cast<Fn*>(ctx))(ith, nth); },
        const_cast<void*>(static_cast<const void*>(&job)));
  }

  // From inside a job, on thread ith: once it has reported the job done, that worker prefetches
  // [data, data + bytes) into its L2 while the caller goes on (and stops early when the next job
  // comes). The caller's own request (ith 0) is ignored: it would delay what follows the join.
  void prefetch_after_job(int ith, const void* data, size_t bytes);

  // Splits [0, n) into contiguous chunks, one per thread: body(begin, end, thread_index).
  template <typename F>
  void parallel_for(int64_t n, F&& body) {
    run([&](int ith, int nth) {
      int64_t begin = n * ith / nth, end = n * (ith + 1) / nth;
      if (begin < end) body(begin, end, ith);
    });
  }

 private:
  using RawJob = void (*)(void* ctx, int ith, int nth);
  void run_raw(RawJob job, void* ctx);
  void worker_loop(int index);
  struct State;
  State* state_;
  int n_threads_;
};

}  // namespace chimera::engine
