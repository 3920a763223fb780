// Persistent pool: a generation counter publishes each job; workers spin on it for a while (a decode
// step dispatches the next job within microseconds) and then sleep on a futex so an idle engine costs
// no CPU. The caller runs share 0 itself and then waits for a countdown of the workers, spinning first
// and sleeping on a second futex when a worker is slow (descheduled). Nothing here allocates per run.
#include "engine/runtime/thread_pool.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "engine/kernels/matmul.h"
#include "util/cpu.h"

namespace chimera::engine {
namespace {

// About 100 us of polling on current x86 (PAUSE is ~140 cycles on Skylake-SP and later): long enough
// to cover the gap between two matmuls of one token, short enough not to burn a core when idle.
constexpr int kWorkerSpinIterations = 2000;
constexpr int kCallerSpinIterations = 20000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex needs a plain 32-bit word");

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake(std::atomic<uint32_t>* word, int count) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

}  // namespace

struct ThreadPool::State {
  // Each hot word on its own cache line so spinning readers do not slow the writers of the others.
  alignas(64) std::atomic<uint32_t> generation{0};
  alignas(64) std::atomic<uint32_t> remaining{0};
  alignas(64) std::atomic<uint32_t> sleepers{0};
  alignas(64) std::atomic<uint32_t> caller_sleeping{0};
  alignas(64) RawJob job = nullptr;
  void* ctx = nullptr;
  KernelPath path_limit = KernelPath::kAvx512Vnni;  // the caller's, for the job's kernels
  std::atomic<bool> stopping{false};
  std::vector<std::thread> workers;
  struct alignas(64) Prefetch {  // written and read by its own worker only
    const char* data = nullptr;
    size_t bytes = 0;
  };
  std::vector<Prefetch> prefetch;
};

ThreadPool::ThreadPool(int n_threads) : state_(new State), n_threads_(n_threads) {
  if (n_threads_ <= 0) n_threads_ = physical_core_count();
  if (n_threads_ <= 0) n_threads_ = 1;
  state_->prefetch.resize(static_cast<size_t>(n_threads_));
  state_->workers.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) state_->workers.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  state_->stopping.store(true, std::memory_order_seq_cst);
  state_->generation.fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&state_->generation, INT_MAX);
  for (auto& t : state_->workers) t.join();
  delete state_;
}

void ThreadPool::worker_loop(int index) {
  State& s = *state_;
  uint32_t seen = 0;
  for (;;) {
    uint32_t g = s.generation.load(std::memory_order_acquire);
    for (int i = 0; g == seen && i < kWorkerSpinIterations; ++i) {
      cpu_relax();
      g = s.generation.load(std::memory_order_acquire);
    }
    if (g == seen) {
      // Announce the sleep before the final check, so run() either sees us and wakes us, or we see
      // its new generation (both sides use seq_cst; futex_wait re-checks the word in the kernel).
      s.sleepers.fetch_add(1, std::memory_order_seq_cst);
      while ((g = s.generation.load(std::memory_order_seq_cst)) == seen) futex_wait(&s.generation, seen);
      s.sleepers.fetch_sub(1, std::memory_order_seq_cst);
    }
    seen = g;
    if (s.stopping.load(std::memory_order_acquire)) return;
    State::Prefetch& prefetch = s.prefetch[static_cast<size_t>(index)];
    prefetch.bytes = 0;
    {
      const KernelPathLimit limit(s.path_limit);
      s.job(s.ctx, index, n_threads_);
    }
    if (s.remaining.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
        s.caller_sleeping.load(std::memory_order_seq_cst) != 0) {
      futex_wake(&s.remaining, 1);
    }
#if defined(__x86_64__) || defined(__i386__)
    for (size_t offset = 0; offset < prefetch.bytes; offset += 64) {
      if (offset % 4096 == 0 && s.generation.load(std::memory_order_relaxed) != seen) break;
      _mm_prefetch(prefetch.data + offset, _MM_HINT_T1);
    }
#endif
  }
}

void ThreadPool::prefetch_after_job(int ith, const void* data, size_t bytes) {
  if (ith <= 0 || ith >= n_threads_) return;
  state_->prefetch[static_cast<size_t>(ith)] = {static_cast<const char*>(data), bytes};
}

void ThreadPool::run_raw(RawJob job, void* ctx) {
  if (n_threads_ == 1) {
    job(ctx, 0, 1);
    return;
  }
  State& s = *state_;
  s.job = job;
  s.ctx = ctx;
  s.path_limit = KernelPathLimit::current();
  s.remaining.store(static_cast<uint32_t>(n_threads_ - 1), std::memory_order_relaxed);
  s.generation.fetch_add(1, std::memory_order_seq_cst);  // publishes job, ctx, path_limit and remaining
  if (s.sleepers.load(std::memory_order_seq_cst) != 0) futex_wake(&s.generation, INT_MAX);

  job(ctx, 0, n_threads_);

  uint32_t left = s.remaining.load(std::memory_order_acquire);
  for (int i = 0; left != 0 && i < kCallerSpinIterations; ++i) {
    cpu_relax();
    left = s.remaining.load(std::memory_order_acquire);
  }
  if (left != 0) {
    s.caller_sleeping.store(1, std::memory_order_seq_cst);
    while ((left = s.remaining.load(std::memory_order_seq_cst)) != 0) futex_wait(&s.remaining, left);
    s.caller_sleeping.store(0, std::memory_order_relaxed);
  }
}

}  // namespace chimera::engine
