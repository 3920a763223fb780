// Read-bandwidth probe: a multi-threaded streaming read of a buffer much larger than the LLC.
#include "engine/kernels/membw.h"

#include <emmintrin.h>  // SSE2: part of x86-64, so this file stays portable
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "engine/kernels/chunked_shares.h"
#include "util/clock.h"

namespace chimera::engine {
namespace {

constexpr size_t kDefaultBufferBytes = size_t{512} << 20;
constexpr size_t kAlignment = size_t{2} << 20;  // a huge page
constexpr size_t kWindowBytes = size_t{8} << 20;

// Software prefetch distance of the linear pattern: on the VMs measured here the hardware prefetchers
// alone keep too few lines in flight (a plain sequential read reached a fifth of what prefetched reads
// did), and the decode kernels prefetch the same way, so this is the bandwidth they can reach.
constexpr size_t kPrefetchBytes = 4096;
// The interleaved pattern reads a chunk as kStreams streams in lockstep, each prefetched
// kStreamLeadBytes ahead (8 KiB in all), as the decode tiles read a long strip of rows
// (matmul_kernels.h: StripPrefetcher).
constexpr size_t kStreams = 8;
constexpr size_t kStreamLeadBytes = size_t{8 << 10} / kStreams;

// Adds 128 bytes at p to eight independent accumulators (bound by loads, not by add latency).
inline void add_line_pair(__m128i (&acc)[8], const __m128i* p) {
  for (int k = 0; k < 8; ++k) acc[k] = _mm_add_epi64(acc[k], _mm_load_si128(p + k));
}

uint64_t fold(const __m128i (&acc)[8]) {
  __m128i total = acc[0];
  for (int k = 1; k < 8; ++k) total = _mm_add_epi64(total, acc[k]);
  uint64_t lanes[2];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), total);
  return lanes[0] + lanes[1];
}

// Reads a slice (a multiple of 128 bytes; of kStreams x 128 for kInterleaved) in one of the patterns
// and returns a sum of it, so the compiler cannot drop the reads.
uint64_t read_slice(ReadPattern pattern, const uint8_t* data, size_t bytes) {
  __m128i acc[8];
  for (auto& a : acc) a = _mm_setzero_si128();
  const auto* p = reinterpret_cast<const __m128i*>(data);
  const size_t vectors = bytes / sizeof(__m128i);
  switch (pattern) {
    case ReadPattern::kLinearPrefetch:
      for (size_t i = 0; i + 8 <= vectors; i += 8) {
        _mm_prefetch(reinterpret_cast<const char*>(p + i) + kPrefetchBytes, _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(p + i + 4) + kPrefetchBytes, _MM_HINT_T0);
        add_line_pair(acc, p + i);
      }
      break;
    case ReadPattern::kLinear:
      for (size_t i = 0; i + 8 <= vectors; i += 8) add_line_pair(acc, p + i);
      break;
    case ReadPattern::kInterleaved: {
      const size_t stream = vectors / kStreams / 8 * 8;  // vectors per stream, whole 128-byte lines
      for (size_t i = 0; i < stream; i += 8) {
        for (size_t s = 0; s < kStreams; ++s) {
          const __m128i* at = p + s * stream + i;
          _mm_prefetch(reinterpret_cast<const char*>(at) + kStreamLeadBytes, _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(at + 4) + kStreamLeadBytes, _MM_HINT_T0);
          add_line_pair(acc, at);
        }
      }
      for (size_t i = kStreams * stream; i + 8 <= vectors; i += 8) add_line_pair(acc, p + i);
      break;
    }
  }
  return fold(acc);
}

}  // namespace

const char* read_pattern_name(ReadPattern pattern) {
  switch (pattern) {
    case ReadPattern::kLinearPrefetch: return "linear, prefetched 4 KiB ahead";
    case ReadPattern::kInterleaved: return "8 interleaved streams, prefetched 1 KiB ahead each";
    case ReadPattern::kLinear: return "linear, hardware prefetch only";
  }
  return "?";
}

Result<ReadBandwidth> measure_read_bandwidth(ThreadPool& pool, const ReadBandwidthOptions& options) {
  const size_t slice_unit = 128 * static_cast<size_t>(pool.size());
  std::unique_ptr<uint8_t, decltype(&std::free)> owned(nullptr, &std::free);
  const uint8_t* buffer = nullptr;
  size_t bytes = 0;
  if (!options.source.empty()) {
    // Read from the first 16-byte boundary, whole units of 128 bytes per thread.
    const auto start = (reinterpret_cast<uintptr_t>(options.source.data()) + 15) & ~uintptr_t{15};
    const size_t skipped = start - reinterpret_cast<uintptr_t>(options.source.data());
    if (options.source.size() < skipped + slice_unit) {
      return make_error(ErrorCode::kInvalidArgument,
                        "memory bandwidth probe: {} bytes to read is too little; give at least {}",
                        options.source.size(), skipped + slice_unit);
    }
    buffer = reinterpret_cast<const uint8_t*>(start);
    bytes = (options.source.size() - skipped) / slice_unit * slice_unit;
  } else {
    bytes = options.buffer_bytes != 0 ? options.buffer_bytes : kDefaultBufferBytes;
    bytes = std::max(bytes / slice_unit * slice_unit, slice_unit);
    const size_t allocated = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    owned.reset(static_cast<uint8_t*>(std::aligned_alloc(kAlignment, allocated)));
    if (owned == nullptr) {
      return make_error(ErrorCode::kResourceExhausted,
                        "memory bandwidth probe: cannot allocate {} MiB; pass a smaller buffer", bytes >> 20);
    }
    // Huge pages where the kernel gives them, as the engine's weights have (model_weights.h): the
    // bound is what the memory delivers, not what 4 KiB page walks leave of it.
    madvise(owned.get(), allocated, MADV_HUGEPAGE);
    // Touch every page with non-zero data (the zero page would be shared and cached) from the threads
    // that will read it.
    uint8_t* out = owned.get();
    pool.parallel_for(static_cast<int64_t>(bytes / 4096), [&](int64_t begin, int64_t end, int) {
      std::memset(out + begin * 4096, 0x5A, static_cast<size_t>(end - begin) * 4096);
    });
    buffer = out;
  }
  // Each pass is timed in windows of kWindowBytes per thread, read by all threads at once: a window
  // lasts about a millisecond, so on a shared machine the best windows show what the memory system
  // delivers at its best moments, and the median how often; a pass's time is the sum of its windows'
  // (the pool's dispatch between windows left out), the time one read of the whole buffer took, as a
  // decode step reads its weights (see membw.h for why the roofline uses it). Within a window each thread
  // streams its share in 128 KiB chunks and, once done, takes chunks from the back of the others' (as
  // the decode matmuls do): a thread slowed by a neighbour no longer sets the window's time, which had
  // made the bound fall below what decode sustained in the same minutes (21.5 vs 22.8 GB/s).
  const int passes = std::max(options.passes, 1);
  const size_t nth = static_cast<size_t>(pool.size());
  const size_t per_thread = bytes / nth;
  // Thread i's share of a window lies in its own slice of the buffer (slices far apart, as before the
  // stealing: measured a little faster than neighbouring shares); a window is whole chunks per slice.
  const size_t chunk = std::min(kStreamChunkBytes, per_thread / 128 * 128);
  const size_t window = std::min(kWindowBytes, per_thread) / chunk * chunk;
  const auto chunks_per_share = static_cast<int64_t>(window / chunk);
  const size_t pass_bytes = per_thread / window * window * nth;
  std::vector<double> gb_per_s;
  std::vector<uint64_t> sinks(nth);
  ReadBandwidth result;
  // The patterns take turns, pass by pass, so a busy moment of a shared machine hits them alike; the
  // first round warms up (page tables, frequency) and is not counted.
  for (int round = 0; round <= passes; ++round) {
    for (ReadPattern pattern : kReadPatterns) {
      int64_t pass_ns = 0;
      for (size_t offset = 0; offset + window <= per_thread; offset += window) {
        ChunkedShares shares(chunks_per_share * pool.size(), 1, pool.size());
        int64_t start = monotonic_ns();
        pool.run([&](int ith, int n) {
          shares.run(ith, n, [&](int64_t first, int64_t end) {
            for (int64_t c = first; c < end; ++c) {
              const auto slice = static_cast<size_t>(c / chunks_per_share);
              const auto within = static_cast<size_t>(c % chunks_per_share);
              sinks[static_cast<size_t>(ith)] +=
                  read_slice(pattern, buffer + slice * per_thread + offset + within * chunk, chunk);
            }
          });
        });
        const int64_t elapsed = std::max<int64_t>(monotonic_ns() - start, 1);
        pass_ns += elapsed;
        if (round > 0) gb_per_s.push_back(static_cast<double>(window * nth) / static_cast<double>(elapsed));
      }
      const double pass_gb_per_s = static_cast<double>(pass_bytes) / static_cast<double>(pass_ns);
      if (round > 0 && pass_gb_per_s > result.best_pass_gb_per_s) {
        result.best_pass_gb_per_s = pass_gb_per_s;
        result.best_pattern = pattern;
      }
    }
  }
  volatile uint64_t keep = 0;
  for (uint64_t s : sinks) keep = keep + s;

  std::sort(gb_per_s.begin(), gb_per_s.end());
  result.best_gb_per_s = gb_per_s.back();
  result.median_gb_per_s = gb_per_s[gb_per_s.size() / 2];
  result.threads = pool.size();
  result.buffer_bytes = bytes;
  result.passes = passes;
  return result;
}

}  // namespace chimera::engine
