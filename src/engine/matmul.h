// Matrix products of a quantized weight matrix with f32 activations: matrix-vector for decode
// (n_tokens == 1) and blocked matrix-matrix for prefill. Activations are quantized once per call to
// the weight type's dot type (engine-reference.md §2.3). SIMD paths (AVX2, AVX-512, AVX-512 VNNI) are
// chosen at run time from CPUID; the scalar path is the reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/ggml_type.h"
#include "engine/thread_pool.h"

namespace chimera::engine {

struct WeightMatrix {
  const void* data = nullptr;  // rows x row_bytes, e.g. a GGUF tensor with ne = {cols, rows}
  GgmlType type = GgmlType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
};

enum class KernelPath { kScalar, kAvx2, kAvx512, kAvx512Vnni };
std::string_view kernel_path_name(KernelPath path);
// The best path this CPU supports, unless CHIMERA_KERNEL=scalar|avx2|avx512|avx512vnni forces one.
KernelPath active_kernel_path();
void set_kernel_path(KernelPath path);  // tests force each path in turn

// Per-thread-pool scratch for quantized activations; grows once and is reused (no per-token allocation).
class MatmulScratch {
 public:
  void* reserve(size_t bytes);
 private:
  std::vector<uint8_t, std::allocator<uint8_t>> buffer_;
};

// y[t * w.rows + r] = dot(W row r, x[t * w.cols ...]) for t < n_tokens, r < w.rows.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch);

// Plain reference: dequantize each row to f32, accumulate in double. For tests only.
void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y);

}  // namespace chimera::engine
