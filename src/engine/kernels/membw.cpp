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

// Software prefetch distance: on the VMs measured here the hardware prefetchers alone keep too few lines
// in flight (a plain sequential read reached a fifth of what prefetched reads did), and the decode
// kernels prefetch the same way, so this is the bandwidth they can reach.
constexpr size_t kPrefetchBytes = 4096;

// Sums a slice with eight independent accumulators so the loop is bound by loads, not by add latency.
// The sum is returned so the compiler cannot drop the reads.
uint64_t read_slice(const uint8_t* data, size_t bytes) {
  __m128i acc[8];
  for (auto& a : acc) a = _mm_setzero_si128();
  const auto* p = reinterpret_cast<const __m128i*>(data);
  const size_t vectors = bytes / sizeof(__m128i);
  for (size_t i = 0; i + 8 <= vectors; i += 8) {
    _mm_prefetch(reinterpret_cast<const char*>(p + i) + kPrefetchBytes, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + i + 4) + kPrefetchBytes, _MM_HINT_T0);
    for (int k = 0; k < 8; ++k) acc[k] = _mm_add_epi64(acc[k], _mm_load_si128(p + i + k));
  }
  __m128i total = acc[0];
  for (int k = 1; k < 8; ++k) total = _mm_add_epi64(total, acc[k]);
  uint64_t lanes[2];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), total);
  return lanes[0] + lanes[1];
}

}  // namespace

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
  for (int pass = 0; pass <= passes; ++pass) {
    int64_t pass_ns = 0;
    for (size_t offset = 0; offset + window <= per_thread; offset += window) {
      ChunkedShares shares(chunks_per_share * pool.size(), 1, pool.size());
      int64_t start = monotonic_ns();
      pool.run([&](int ith, int n) {
        shares.run(ith, n, [&](int64_t first, int64_t end) {
          for (int64_t c = first; c < end; ++c) {
            const auto slice = static_cast<size_t>(c / chunks_per_share);
            const auto within = static_cast<size_t>(c % chunks_per_share);
            sinks[static_cast<size_t>(ith)] += read_slice(buffer + slice * per_thread + offset + within * chunk, chunk);
          }
        });
      });
      const int64_t elapsed = std::max<int64_t>(monotonic_ns() - start, 1);
      pass_ns += elapsed;
      if (pass > 0) gb_per_s.push_back(static_cast<double>(window * nth) / static_cast<double>(elapsed));
    }
    if (pass > 0) {
      result.best_pass_gb_per_s =
          std::max(result.best_pass_gb_per_s, static_cast<double>(pass_bytes) / static_cast<double>(pass_ns));
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
