#include "engine/runtime/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <chrono>
#include <thread>
#include <vector>

#include "engine/kernels/matmul.h"
#include "util/cpu.h"

namespace chimera::engine {
namespace {

TEST(ThreadPool, NonPositiveSizeMeansPhysicalCores) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), physical_core_count());
  ThreadPool negative(-3);
  EXPECT_EQ(negative.size(), physical_core_count());
}

TEST(ThreadPool, RunGivesEveryThreadItsIndexOnce) {
  for (int n : {1, 2, 3, 5}) {
    ThreadPool pool(n);
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    std::atomic<int> wrong_count{0};
    pool.run([&](int ith, int nth) {
      if (nth != n) wrong_count.fetch_add(1);
      hits[static_cast<size_t>(ith)].fetch_add(1);
    });
    EXPECT_EQ(wrong_count.load(), 0);
    for (int i = 0; i < n; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "thread " << i;
  }
}

// A KernelPathLimit holds on the thread that opened it and in the jobs that thread runs on the pool's
// workers; nested scopes only narrow; once the scope ends the workers are back on the full path.
TEST(ThreadPool, JobsRunUnderTheCallersKernelPathLimit) {
  ThreadPool pool(3);
  const KernelPath full = active_kernel_path();
  auto paths_seen = [&] {
    std::vector<KernelPath> seen(3);
    pool.run([&](int ith, int) { seen[static_cast<size_t>(ith)] = active_kernel_path(); });
    return seen;
  };
  {
    const KernelPathLimit limit(KernelPath::kScalar);
    EXPECT_EQ(paths_seen(), std::vector<KernelPath>(3, KernelPath::kScalar));
    const KernelPathLimit wider(KernelPath::kAvx512Vnni);
    EXPECT_EQ(paths_seen(), std::vector<KernelPath>(3, KernelPath::kScalar));
  }
  EXPECT_EQ(paths_seen(), std::vector<KernelPath>(3, full));
  if (full > KernelPath::kAvx2) {
    const KernelPathLimit limit(KernelPath::kAvx2);
    EXPECT_EQ(paths_seen(), std::vector<KernelPath>(3, KernelPath::kAvx2));
  }
}

// A worker asked to prefetch after its share (a hint for the next job) still reports the job
// done, and the next job still runs on every thread, whether the prefetch is long or the next job
// comes at once; the caller's own request is ignored.
TEST(ThreadPool, PrefetchAfterAJobDelaysNothingThatFollows) {
  ThreadPool pool(3);
  std::vector<uint8_t> data(size_t{4} << 20, 1);
  std::vector<int> out(3, 0);
  for (int round = 1; round <= 2000; ++round) {
    pool.run([&](int ith, int) {
      out[static_cast<size_t>(ith)] = round;
      pool.prefetch_after_job(ith, data.data() + static_cast<size_t>(ith) * (1 << 20), size_t{1} << 20);
    });
    ASSERT_EQ(out, std::vector<int>(3, round));
  }
}

TEST(ThreadPool, RunReturnsOnlyWhenEveryShareIsDone) {
  ThreadPool pool(3);
  std::vector<int> out(3, 0);
  for (int round = 1; round <= 20000; ++round) {
    pool.run([&](int ith, int) { out[static_cast<size_t>(ith)] = round; });
    // Plain (non-atomic) writes by the workers must be visible here once run() returns.
    ASSERT_EQ(out[0] + out[1] + out[2], 3 * round) << "round " << round;
  }
}

TEST(ThreadPool, ParallelForCoversTheRangeExactlyOnce) {
  ThreadPool pool(4);
  for (int64_t n : {0, 1, 3, 4, 17, 1000}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
      for (int64_t i = begin; i < end; ++i) seen[static_cast<size_t>(i)].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)].load(), 1) << n << " " << i;
  }
}

TEST(ThreadPool, WakesWorkersThatWentToSleep) {
  ThreadPool pool(2);
  std::atomic<int> total{0};
  for (int round = 0; round < 3; ++round) {
    // Idle long enough that the workers stop spinning and block on the futex; the next run must still
    // reach them (a lost wake-up would hang here).
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pool.run([&](int, int) { total.fetch_add(1); });
  }
  EXPECT_EQ(total.load(), 6);
}

TEST(ThreadPool, CallerWaitsForASlowWorker) {
  ThreadPool pool(2);
  std::atomic<bool> slow_done{false};
  pool.run([&](int ith, int) {
    if (ith == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));  // longer than the caller's spin
      slow_done.store(true);
    }
  });
  EXPECT_TRUE(slow_done.load());
}

TEST(ThreadPool, DestroysCleanlyWhileIdleOrAfterWork) {
  { ThreadPool idle(3); }
  {
    ThreadPool busy(3);
    busy.run([](int, int) {});
  }
  SUCCEED();
}

}  // namespace
}  // namespace chimera::engine
