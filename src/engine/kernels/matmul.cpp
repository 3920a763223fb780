// matmul driver: picks the kernel path, converts activations once per call into the scratch buffer,
// and splits the output rows across the thread pool. The kernels themselves live in
// matmul_<path>.cpp.
#include "engine/kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "engine/kernels/chunked_shares.h"
#include "engine/kernels/matmul_kernels.h"
#include "engine/kernels/weight_interleave.h"
#include "engine/quant/quant.h"
#include "util/cpu.h"
#include "util/log.h"

namespace chimera::engine {
namespace {

using matmul_detail::GemmFn;
using matmul_detail::TypeKernel;

std::atomic<int> g_path{-1};
std::atomic<bool> g_forced{false};
thread_local KernelPath t_limit = KernelPath::kAvx512Vnni;  // the widest path: no limit

KernelPath best_supported_path() {
  if (kernel_path_supported(KernelPath::kAvx512Vnni)) return KernelPath::kAvx512Vnni;
  if (kernel_path_supported(KernelPath::kAvx512)) return KernelPath::kAvx512;
  if (kernel_path_supported(KernelPath::kAvx2)) return KernelPath::kAvx2;
  return KernelPath::kScalar;
}

KernelPath path_from_environment() {
  KernelPath best = best_supported_path();
  const char* forced = std::getenv("CHIMERA_KERNEL");
  if (forced == nullptr || *forced == '\0') return best;
  std::string name(forced);
  for (KernelPath p :
       {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvx512, KernelPath::kAvx512Vnni}) {
    if (name != kernel_path_name(p)) continue;
    if (kernel_path_supported(p)) {
      g_forced.store(true, std::memory_order_relaxed);
      return p;
    }
    log::warn("CHIMERA_KERNEL={}: this CPU lacks that instruction set; using {}", name,
              kernel_path_name(best));
    return best;
  }
  log::warn("CHIMERA_KERNEL={} is not one of scalar, avx2, avx512, avx512vnni; using {}", name,
            kernel_path_name(best));
  return best;
}

// Token count from which the prefill path (gemm_many) replaces the decode tiles: the kernel's
// measured default, or CHIMERA_PREFILL_MIN_TOKENS (benchmarks that compare the two paths at one
// batch size).
bool use_many(const TypeKernel* kernel, int64_t n_tokens) {
  static const int64_t forced = [] {
    const char* v = std::getenv("CHIMERA_PREFILL_MIN_TOKENS");
    return v != nullptr && *v != '\0' ? std::strtoll(v, nullptr, 10) : int64_t{0};
  }();
  if (kernel->gemm_many == nullptr) return false;
  return n_tokens >= (forced > 0 ? forced : kernel->many_min_tokens);
}

// How a kernel wants the activations of one call: as they are (bytes 0), converted row by row
// (convert_act) or packed for its prefill path (pack_many). `key` names the converter, so calls that
// share one also share its output.
struct ActLayout {
  uintptr_t key = 0;
  size_t bytes = 0;
  size_t stride = 0;  // act_stride for the gemm
};

constexpr size_t kScratchAlignment = 64;

size_t round_up(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

ActLayout act_layout(const TypeKernel* kernel, bool many, int64_t n_tokens, int64_t cols) {
  const size_t f32_stride = static_cast<size_t>(cols) * sizeof(float);
  if (many) {
    if (kernel->pack_many == nullptr) return {0, 0, f32_stride};
    return {reinterpret_cast<uintptr_t>(kernel->pack_many), kernel->many_act_bytes(n_tokens, cols),
            f32_stride};
  }
  if (kernel->act_row_bytes == nullptr) return {0, 0, f32_stride};
  const size_t stride = round_up(kernel->act_row_bytes(cols), kScratchAlignment);
  return {reinterpret_cast<uintptr_t>(kernel->convert_act), stride * static_cast<size_t>(n_tokens),
          stride};
}

// Fills `out` (layout.bytes) from x, split across the pool: by tokens, or by the packer's tiles.
void convert_activations(const TypeKernel* kernel, bool many, const ActLayout& layout, const float* x,
                         int64_t n_tokens, int64_t cols, uint8_t* out, ThreadPool& pool) {
  if (many) {
    const int64_t unit = kernel->many_pack_tokens;
    const int64_t units = (n_tokens + unit - 1) / unit;
    pool.parallel_for(units, [&](int64_t begin, int64_t end, int) {
      kernel->pack_many(x, n_tokens, cols, begin * unit, std::min(n_tokens, end * unit), out);
    });
    return;
  }
  auto convert = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      kernel->convert_act(x + t * cols, out + static_cast<size_t>(t) * layout.stride, cols);
  };
  // One decode row converts in about a microsecond: cheaper than waking the pool for it.
  if (n_tokens >= 4 && pool.size() > 1) {
    pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end, int) { convert(begin, end); });
  } else {
    convert(0, n_tokens);
  }
}

const TypeKernel* kernel_for(KernelPath path, GgmlType type) {
  const TypeKernel* k = nullptr;
  switch (path) {
    case KernelPath::kAvx512Vnni:
      k = matmul_detail::avx512_kernel(type, true);
      break;
    case KernelPath::kAvx512:
      k = matmul_detail::avx512_kernel(type, false);
      break;
    case KernelPath::kAvx2:
      k = matmul_detail::avx2_kernel(type);
      break;
    case KernelPath::kScalar:
      break;
  }
  return k != nullptr ? k : matmul_detail::scalar_kernel(type);
}

// Interleaved matrices on a path without a kernel for them (a path forced after the model was
// repacked for VNNI): each row is restored and dotted in f32. Correct, not fast.
void gemm_interleaved_reference(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                                size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(w.cols));
  for (int64_t r = row_begin; r < row_end; ++r) {
    dequantize_weight_row(w, r, row.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
      const auto* x = reinterpret_cast<const float*>(static_cast<const uint8_t*>(act) + static_cast<size_t>(t) * act_stride);
      float sum = 0.0f;
      for (int64_t c = 0; c < w.cols; ++c) sum += row[static_cast<size_t>(c)] * x[c];
      y[t * y_stride + r] = sum;
    }
  }
}

const TypeKernel kInterleavedReference{nullptr, nullptr, gemm_interleaved_reference, kInterleaveRows};

const TypeKernel* kernel_for(KernelPath path, const WeightMatrix& w) {
  if (!w.interleaved) return kernel_for(path, w.type);
  const TypeKernel* k = path == KernelPath::kAvx512Vnni ? matmul_detail::avx512_interleaved_kernel(w.type) : nullptr;
  return k != nullptr ? k : &kInterleavedReference;
}

// Units per chunk: decode streams kStreamChunkBytes of weights per chunk; prefill keeps one chunk per
// thread, the static split: each chunk re-reads the packed tokens, and four chunks per thread cost the
// F16 down projection 1152 x 6912 (512 tokens, 2 threads) 8 % (best 218-221 -> 197-202 GOP/s). One
// thread: one chunk, one gemm call per matrix.
int64_t chunk_units(bool many, int64_t units, int64_t row_block, size_t row_bytes, int nth) {
  if (many || nth == 1) return (units + nth - 1) / nth;
  return std::max<int64_t>(
      1, static_cast<int64_t>(kStreamChunkBytes / (static_cast<size_t>(row_block) * row_bytes)));
}

}  // namespace

std::string_view kernel_path_name(KernelPath path) {
  switch (path) {
    case KernelPath::kScalar:
      return "scalar";
    case KernelPath::kAvx2:
      return "avx2";
    case KernelPath::kAvx512:
      return "avx512";
    case KernelPath::kAvx512Vnni:
      return "avx512vnni";
  }
  return "unknown";
}

bool kernel_path_supported(KernelPath path) {
  const CpuFeatures& f = cpu_features();
  switch (path) {
    case KernelPath::kScalar:
      return true;
    case KernelPath::kAvx2:
      return f.has_avx2_path();
    case KernelPath::kAvx512:
      return f.has_avx512_path();
    case KernelPath::kAvx512Vnni:
      return f.has_avx512_path() && f.avx512vnni;
  }
  return false;
}

KernelPath active_kernel_path() {
  int p = g_path.load(std::memory_order_relaxed);
  if (p < 0) {
    p = static_cast<int>(path_from_environment());
    g_path.store(p, std::memory_order_relaxed);
  }
  return std::min(static_cast<KernelPath>(p), t_limit);
}

bool kernel_path_forced() {
  active_kernel_path();  // reads CHIMERA_KERNEL once
  return g_forced.load(std::memory_order_relaxed);
}

KernelPathLimit::KernelPathLimit(KernelPath at_most) : previous_(t_limit) { t_limit = std::min(at_most, t_limit); }
KernelPathLimit::~KernelPathLimit() { t_limit = previous_; }
KernelPath KernelPathLimit::current() { return t_limit; }

void set_kernel_path(KernelPath path) {
  if (kernel_path_supported(path)) g_path.store(static_cast<int>(path), std::memory_order_relaxed);
}

bool matmul_supports(GgmlType type) { return matmul_detail::scalar_kernel(type) != nullptr; }

MatmulScratch::~MatmulScratch() { std::free(buffer_); }

void* MatmulScratch::reserve(size_t bytes) {
  if (bytes <= capacity_) return buffer_;
  // Grow geometrically so a prefill after decode reallocates once, not per batch size.
  size_t capacity = round_up(std::max(bytes, capacity_ * 2), kScratchAlignment);
  void* fresh = std::aligned_alloc(kScratchAlignment, capacity);
  if (fresh == nullptr) throw std::bad_alloc();
  std::free(buffer_);
  buffer_ = fresh;
  capacity_ = capacity;
  return buffer_;
}

namespace {

constexpr size_t kMaxMatrices = 16;  // a MoE layer's routed experts' gate and up (8 + 8)

// The rows of one call's matrices as units (row blocks of each matrix's kernel, the matrices one
// after the other), and how they are chunked across the pool.
struct RowUnits {
  size_t count = 0;
  const TypeKernel* kernels[kMaxMatrices];
  bool many[kMaxMatrices];
  int64_t row_blocks[kMaxMatrices], first_unit[kMaxMatrices + 1];
  int64_t chunk = 1;  // units per chunk

  RowUnits(std::span<const WeightMatrix> ws, int64_t n_tokens, int nth) : count(ws.size()) {
    const KernelPath path = active_kernel_path();
    first_unit[0] = 0;
    for (size_t i = 0; i < count; ++i) {
      kernels[i] = kernel_for(path, ws[i]);
      many[i] = use_many(kernels[i], n_tokens);
      row_blocks[i] = many[i] ? kernels[i]->many_row_block : kernels[i]->row_block;
      first_unit[i + 1] = first_unit[i] + (ws[i].rows + row_blocks[i] - 1) / row_blocks[i];
    }
    chunk = chunk_units(many[0], units(), row_blocks[0], ws[0].row_bytes, nth);
  }
  int64_t units() const { return first_unit[count]; }

  // Calls f(matrix, row_begin, row_end) for the rows of units [u0, u1), matrix by matrix.
  template <typename F>
  void rows(std::span<const WeightMatrix> ws, int64_t u0, int64_t u1, F&& f) const {
    for (size_t i = 0; i < count; ++i) {
      const int64_t b0 = std::max(u0, first_unit[i]) - first_unit[i];
      const int64_t b1 = std::min(u1, first_unit[i + 1]) - first_unit[i];
      if (b0 < b1) f(i, b0 * row_blocks[i], std::min(ws[i].rows, b1 * row_blocks[i]));
    }
  }
};

// Weights a worker prefetches for the next call while the caller works between the two (about
// the time norms, attention and the activations' conversion take in one-token decode).
constexpr size_t kNextPrefetchBytes = size_t{192} << 10;

// Asks worker ith to prefetch the start of its share of the next call's matrices (its first
// chunk, as ChunkedShares hands them out) once it has finished this call's.
void prefetch_next_share(std::span<const WeightMatrix> next, int64_t n_tokens, ThreadPool& pool, int ith,
                         int nth) {
  if (ith == 0 || next.empty() || next.size() > kMaxMatrices) return;
  const RowUnits units(next, n_tokens, nth);
  if (units.many[0]) return;  // prefill: bound by compute, and far longer than the gaps
  const int64_t u0 = ChunkedShares::share_begin(units.units(), units.chunk, ith, nth);
  units.rows(next, u0, u0 + 1, [&](size_t i, int64_t r0, int64_t) {
    const size_t offset = static_cast<size_t>(r0) * next[i].row_bytes;
    const size_t total = static_cast<size_t>(next[i].rows) * next[i].row_bytes;
    pool.prefetch_after_job(ith, static_cast<const uint8_t*>(next[i].data) + offset,
                            std::min(kNextPrefetchBytes, total - offset));
  });
}

// matmul_multi() once its arguments are known to be usable.
// xs[i] is matrix i's input (one pointer for all when they share it).
void run_matmuls(std::span<const WeightMatrix> ws, std::span<const float* const> xs, int64_t n_tokens,
                 std::span<float* const> ys, ThreadPool& pool, MatmulScratch& scratch,
                 std::span<const WeightMatrix> next) {
  const int64_t cols = ws[0].cols;
  const RowUnits units(ws, n_tokens, pool.size());
  const void* acts[kMaxMatrices];
  ActLayout layouts[kMaxMatrices];
  // Lay out one converted copy of x per distinct converter, back to back in the scratch buffer.
  size_t offsets[kMaxMatrices], total = 0;
  bool first_of_key[kMaxMatrices];
  for (size_t i = 0; i < ws.size(); ++i) {
    layouts[i] = act_layout(units.kernels[i], units.many[i], n_tokens, cols);
    offsets[i] = SIZE_MAX;
    first_of_key[i] = false;
    if (layouts[i].bytes == 0) continue;
    for (size_t j = 0; j < i; ++j) {
      if (layouts[j].key == layouts[i].key && xs[j] == xs[i]) offsets[i] = offsets[j];
    }
    if (offsets[i] == SIZE_MAX) {
      offsets[i] = total;
      first_of_key[i] = true;
      total += round_up(layouts[i].bytes, kScratchAlignment);
    }
  }
  auto* buffer = static_cast<uint8_t*>(scratch.reserve(std::max<size_t>(total, kScratchAlignment)));
  for (size_t i = 0; i < ws.size(); ++i) {
    if (first_of_key[i]) {
      convert_activations(units.kernels[i], units.many[i], layouts[i], xs[i], n_tokens, cols,
                          buffer + offsets[i], pool);
    }
    acts[i] = offsets[i] == SIZE_MAX ? static_cast<const void*>(xs[i]) : buffer + offsets[i];
  }
  // Contiguous row ranges per thread (each thread streams its part of the weights in order, which
  // is what the hardware prefetchers reward), balanced at the end.
  ChunkedShares shares(units.units(), units.chunk, pool.size());
  pool.run([&](int ith, int nth) {
    shares.run(ith, nth, [&](int64_t u0, int64_t u1) {
      units.rows(ws, u0, u1, [&](size_t i, int64_t r0, int64_t r1) {
        const GemmFn gemm = units.many[i] ? units.kernels[i]->gemm_many : units.kernels[i]->gemm;
        gemm(ws[i], r0, r1, acts[i], layouts[i].stride, n_tokens, ys[i], ws[i].rows);
      });
    });
    prefetch_next_share(next, n_tokens, pool, ith, nth);
  });
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch, std::span<const WeightMatrix> next) {
  if (n_tokens <= 0 || w.rows <= 0 || !matmul_supports(w.type)) return;
  if (w.cols % ggml_type_info(w.type).block_size != 0) return;
  float* const ys[] = {y};
  const float* const xs[] = {x};
  run_matmuls({&w, 1}, xs, n_tokens, ys, pool, scratch, next);
}

void matmul_each(std::span<const WeightMatrix> ws, std::span<const float* const> xs, int64_t n_tokens,
                 std::span<float* const> ys, ThreadPool& pool, MatmulScratch& scratch,
                 std::span<const WeightMatrix> next) {
  if (ws.size() != ys.size() || ws.size() != xs.size() || ws.empty() || n_tokens <= 0) return;
  const int64_t cols = ws[0].cols;
  bool usable = ws.size() <= kMaxMatrices;
  for (const WeightMatrix& w : ws) {
    usable = usable && w.cols == cols && w.rows > 0 && matmul_supports(w.type) &&
             w.cols % ggml_type_info(w.type).block_size == 0;
  }
  if (!usable) {  // unusual shapes: one call each
    for (size_t i = 0; i < ws.size(); ++i) {
      matmul(ws[i], xs[i], n_tokens, ys[i], pool, scratch, i + 1 == ws.size() ? next : std::span<const WeightMatrix>{});
    }
    return;
  }
  run_matmuls(ws, xs, n_tokens, ys, pool, scratch, next);
}

void matmul_multi(std::span<const WeightMatrix> ws, const float* x, int64_t n_tokens,
                  std::span<float* const> ys, ThreadPool& pool, MatmulScratch& scratch,
                  std::span<const WeightMatrix> next) {
  const float* inline_xs[kMaxMatrices];
  std::vector<const float*> more_xs;  // past one dispatch's worth matmul_each calls one by one anyway
  std::span<const float*> xs(inline_xs, std::min(ws.size(), kMaxMatrices));
  if (ws.size() > kMaxMatrices) {
    more_xs.resize(ws.size());
    xs = more_xs;
  }
  std::fill(xs.begin(), xs.end(), x);
  matmul_each(ws, xs, n_tokens, ys, pool, scratch, next);
}

void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  if (!can_dequantize(w.type)) return;
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    dequantize_weight_row(w, r, row.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * w.cols;
      double sum = 0.0;
      for (int64_t c = 0; c < w.cols; ++c)
        sum += static_cast<double>(row[static_cast<size_t>(c)]) * xt[c];
      y[t * w.rows + r] = static_cast<float>(sum);
    }
  }
}

}  // namespace chimera::engine
