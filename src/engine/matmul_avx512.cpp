// AVX-512 matmul kernels (placeholder until the SIMD kernels land: the scalar kernels are used).
#include "engine/matmul_kernels.h"

namespace chimera::engine::matmul_detail {

const TypeKernel* avx512_kernel(GgmlType, bool) { return nullptr; }

}  // namespace chimera::engine::matmul_detail
