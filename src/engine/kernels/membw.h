// Sustained memory read bandwidth of this machine: the numerator of the decode roofline
// (engine-reference.md §6.1: tokens/s <= bandwidth / bytes read per token). `chimera bench engine`
// prints it and the roofline it implies for the loaded model.
//
// The roofline takes the best full pass over the buffer (STREAM's convention, and the sustained
// bandwidth of the roofline model): a decode step reads its bytes once, start to end, so the time one
// plain read of all of them takes is the least its tokens can take. The best window (a millisecond's
// read) is a peak no read of a whole model keeps up: gemma3-1b F16, 2 threads, one process, the
// probe's own full passes over the weights reached 95.7 % of its best window (24.44 vs 25.54 GB/s).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/runtime/thread_pool.h"
#include "util/status.h"

namespace chimera::engine {

// How a pass reads. A decode step reads at its best when its prefetches and the hardware's keep the
// most lines in flight, and which pattern does that differs between CPUs (a Sapphire Rapids VM's
// decode moved 30.6 GB/s while the one-stream probe read 23.3), so the probe reads every way the
// decode kernels do and takes the best: the memory delivered at least that.
enum class ReadPattern {
  kLinearPrefetch,  // one stream per thread, every line prefetched 4 KiB ahead (short strips)
  kInterleaved,     // 8 streams per thread in lockstep, each prefetched 1 KiB ahead (long strips)
  kLinear,          // one stream per thread, the hardware prefetchers alone
};
inline constexpr ReadPattern kReadPatterns[] = {ReadPattern::kLinearPrefetch, ReadPattern::kInterleaved,
                                                ReadPattern::kLinear};
const char* read_pattern_name(ReadPattern pattern);

struct ReadBandwidth {
  double best_pass_gb_per_s = 0;  // best full pass over the buffer (its windows' times summed), 1e9 B/s
  double best_gb_per_s = 0;       // best timed window (8 MiB per thread): the peak
  double median_gb_per_s = 0;     // median window: far below best means the machine is shared/busy
  int threads = 0;
  size_t buffer_bytes = 0;
  int passes = 0;  // per pattern (all of kReadPatterns take turns)
  ReadPattern best_pattern = ReadPattern::kLinearPrefetch;  // the one that read the best pass
};

struct ReadBandwidthOptions {
  // Buffer read by each pass; 0 = 512 MiB, far larger than any last-level cache here, so the figure is
  // DRAM, not cache, bandwidth.
  size_t buffer_bytes = 0;
  int passes = 5;  // per pattern, after one warm-up round
  // Memory to read instead of a buffer of our own (not written; buffer_bytes ignored): a loaded model's
  // weights, so the probe costs no memory and reads the very pages decode reads, whenever it runs.
  std::span<const uint8_t> source;
};

// Streams the buffer with every thread of `pool` (16-byte loads in each of kReadPatterns, taking
// turns; each window split across the threads as the decode matmuls split their rows: own share
// first, then the others' leftovers), `passes` times per pattern after one warm-up round, timing
// windows of 8 MiB per thread, and reports the best pass (the sum of its windows' times) and the
// best and median window. Fails only when the buffer cannot be allocated or `source` is too small.
Result<ReadBandwidth> measure_read_bandwidth(ThreadPool& pool, const ReadBandwidthOptions& options = {});

}  // namespace chimera::engine
