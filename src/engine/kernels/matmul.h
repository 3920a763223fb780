// src/engine/kernels/: the arithmetic of a forward pass, dispatched at run time from CPUID. Three
// families, each with a scalar reference beside its SIMD versions and a differential test: matmul
// (this header; matmul_<path>.cpp per ISA, matmul_kernels.h the per-type table), row ops (ops.h:
// norms, rope, activations, softmax) and attention (attention.h). Files named *_avx2.cpp and
// *_avx512.cpp are the only ones compiled with those ISA flags (src/CMakeLists.txt). Also here: the
// VNNI weight repacking (weight_interleave.h), the work split (chunked_shares.h) and the memory
// bandwidth probe behind the decode roofline (membw.h). Kernels run on runtime/'s ThreadPool.
//
// Matrix products of a quantized weight matrix with f32 activations: matrix-vector for decode
// (n_tokens == 1) and blocked matrix-matrix for prefill. Activations are quantized once per call to
// the weight type's dot type (engine-reference.md §2.3): Q8_0-style 32-blocks for
// Q4_0/Q5_0/Q4_1/Q5_1/Q8_0, Q8_K-style 256-blocks for the K-quants; F32/F16/BF16 weights use the
// f32 activations as they are. SIMD paths (AVX2, AVX-512, AVX-512 VNNI) are chosen at run time from
// CPUID; the scalar path is the reference. Weights are read where the model put them: the file's
// mapping, or the huge-page arena the loader copies them into, some types repacked in 16-row strips
// (weight_interleave.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "engine/gguf/ggml_type.h"
#include "engine/runtime/thread_pool.h"

namespace chimera::engine {

struct WeightMatrix {
  const void* data = nullptr;  // rows x row_bytes, e.g. a GGUF tensor with ne = {cols, rows}
  GgmlType type = GgmlType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  // Q4_0 / Q5_0 / Q4_1 / Q5_1 / Q8_0 / Q4_K / Q6_K repacked in strips of 16 rows
  // (weight_interleave.h); row_bytes still gives the bytes per row, and rows x row_bytes the whole
  // matrix.
  bool interleaved = false;
};

enum class KernelPath { kScalar, kAvx2, kAvx512, kAvx512Vnni };
std::string_view kernel_path_name(KernelPath path);
// Whether this CPU can run the path (scalar: always).
bool kernel_path_supported(KernelPath path);
// The best path this CPU supports, unless CHIMERA_KERNEL=scalar|avx2|avx512|avx512vnni forces one
// (a forced path the CPU lacks falls back to the best supported one, with a warning in the log).
// Within a KernelPathLimit's scope, at most that scope's path (on its thread and in the pool jobs it runs).
KernelPath active_kernel_path();
void set_kernel_path(KernelPath path);  // tests force each path in turn; unsupported paths are ignored
// Whether CHIMERA_KERNEL named the path (then nothing narrows it: see one_token_kernel_path()).
bool kernel_path_forced();

// For as long as it lives, kernels on this thread, and in the ThreadPool jobs this thread runs, use at
// most `at_most` (narrower paths pass through). Scopes nest and only narrow: an inner scope cannot widen
// what an outer one limited.
class KernelPathLimit {
 public:
  explicit KernelPathLimit(KernelPath at_most);
  ~KernelPathLimit();
  KernelPathLimit(const KernelPathLimit&) = delete;
  KernelPathLimit& operator=(const KernelPathLimit&) = delete;
  // This thread's limit (the widest path when no scope is open): what the pool hands its workers.
  static KernelPath current();

 private:
  KernelPath previous_;
};

// Whether matmul() handles this weight type (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q4_K,
// Q5_K, Q6_K).
bool matmul_supports(GgmlType type);

// Per-thread-pool scratch for quantized activations; 64-byte aligned, grows to the largest request and
// is then reused (no per-token allocation). Not thread-safe: one per concurrent matmul caller.
class MatmulScratch {
 public:
  MatmulScratch() = default;
  ~MatmulScratch();
  MatmulScratch(const MatmulScratch&) = delete;
  MatmulScratch& operator=(const MatmulScratch&) = delete;
  void* reserve(size_t bytes);
  size_t capacity() const { return capacity_; }

 private:
  void* buffer_ = nullptr;
  size_t capacity_ = 0;
};

// y[t * w.rows + r] = dot(W row r, x[t * w.cols ...]) for t < n_tokens, r < w.rows.
// w.type must satisfy matmul_supports() and w.cols must be a multiple of its block size (the GGUF
// loader guarantees both); otherwise y is left untouched.
// `next`: the matrices of the caller's next call, if known. In decode each worker, once done with its
// rows, prefetches the start of its share of them while the caller does the work in between (norms,
// attention), so the memory does not sit idle then.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch, std::span<const WeightMatrix> next = {});

// Several products of the same activations (q/k/v, gate/up): ys[i][t * ws[i].rows + r] as matmul() would
// write them. x is converted once per distinct activation layout and all rows of all matrices are split
// across the pool in one dispatch, which saves conversions and wake-ups in decode. ws and ys have the same
// length; every matrix must have the same cols.
void matmul_multi(std::span<const WeightMatrix> ws, const float* x, int64_t n_tokens, std::span<float* const> ys,
                  ThreadPool& pool, MatmulScratch& scratch, std::span<const WeightMatrix> next = {});

// As matmul_multi, but each matrix with an input of its own (the routed experts' down projections in
// MoE decode): ys[i] = ws[i] x xs[i]. One dispatch for all; xs of the same pointer are converted once.
void matmul_each(std::span<const WeightMatrix> ws, std::span<const float* const> xs, int64_t n_tokens,
                 std::span<float* const> ys, ThreadPool& pool, MatmulScratch& scratch,
                 std::span<const WeightMatrix> next = {});

// Plain reference: dequantize each row to f32, accumulate in double (no activation quantization).
// For tests only.
void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y);

}  // namespace chimera::engine
