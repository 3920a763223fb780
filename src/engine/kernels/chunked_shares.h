// Work split for streaming reads across a thread pool: units (row blocks of a matmul, 128-byte lines
// of the bandwidth probe) cut into chunks. Each thread owns a contiguous share of the chunks and takes
// them from the front; a thread done with its share takes chunks from the back of the others'. A
// thread slowed by a neighbour on a shared machine no longer holds the others at the join (gemma3-1b
// F16 decode, 2 threads: the two finished on average 35 us apart per call, 4 % of decode time), and
// each thread still streams its share in order. (No matmul kernel's result for a row depends on the
// rows computed with it, so the split changes no output.)
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace chimera::engine {

// What one chunk of a streaming read holds: ~128 KiB, a few microseconds of reading, far more than a
// claim costs (the decode matmuls' chunks and the bandwidth probe's).
inline constexpr size_t kStreamChunkBytes = size_t{128} << 10;

class ChunkedShares {
 public:
  static constexpr int kMaxThreads = 64;  // more: the static split

  ChunkedShares(int64_t units, int64_t chunk_units, int nth)
      : units_(units), chunk_units_(std::max<int64_t>(chunk_units, 1)), nth_(std::min(nth, kMaxThreads)) {
    const int64_t chunks = (units_ + chunk_units_ - 1) / chunk_units_;
    for (int i = 0; i < nth_; ++i) {
      const auto front = static_cast<uint64_t>(first_chunk(chunks, i, nth_)),
                 back = static_cast<uint64_t>(first_chunk(chunks, i + 1, nth_));
      shares_[i].range.store(back << 32 | front, std::memory_order_relaxed);
    }
  }

  // The first unit of thread ith's own share (what it works on first).
  static int64_t share_begin(int64_t units, int64_t chunk_units, int ith, int nth) {
    const int64_t chunks = (units + chunk_units - 1) / chunk_units;
    return first_chunk(chunks, ith, nth) * chunk_units;
  }

  // Calls work(unit_begin, unit_end) for every chunk thread ith gets.
  template <typename F>
  void run(int ith, int nth, F&& work) {
    if (nth > kMaxThreads) {
      const int64_t begin = units_ * ith / nth, end = units_ * (ith + 1) / nth;
      if (begin < end) work(begin, end);
      return;
    }
    int64_t chunk = 0;
    while (take(shares_[ith], false, chunk)) work_chunk(chunk, work);
    for (int k = 1; k < nth_; ++k) {
      Share& victim = shares_[(ith + k) % nth_];
      while (take(victim, true, chunk)) work_chunk(chunk, work);
    }
  }

 private:
  static int64_t first_chunk(int64_t chunks, int ith, int nth) { return chunks * ith / nth; }

  struct alignas(64) Share {
    std::atomic<uint64_t> range{0};  // chunks [front, back): front in the low half
  };

  static bool take(Share& share, bool from_back, int64_t& chunk) {
    uint64_t range = share.range.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t front = range & 0xFFFFFFFFu, back = range >> 32;
      if (front >= back) return false;
      const uint64_t next = from_back ? (back - 1) << 32 | front : back << 32 | (front + 1);
      if (share.range.compare_exchange_weak(range, next, std::memory_order_relaxed)) {
        chunk = static_cast<int64_t>(from_back ? back - 1 : front);
        return true;
      }
    }
  }

  template <typename F>
  void work_chunk(int64_t chunk, F& work) const {
    work(chunk * chunk_units_, std::min(units_, (chunk + 1) * chunk_units_));
  }

  int64_t units_, chunk_units_;
  int nth_;
  Share shares_[kMaxThreads];
};

}  // namespace chimera::engine
