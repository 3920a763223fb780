// Internal to matmul*.cpp: the per-path, per-weight-type kernel table the driver (matmul.cpp) uses.
// Each path chooses its own activation layout; the driver only knows its size per token row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/ggml_type.h"
#include "engine/matmul.h"

namespace chimera::engine::matmul_detail {

// y[t * y_stride + r] = dot(W row r, activations of token t) for r in [row_begin, row_end),
// t in [0, n_tokens). `act` points at token 0's converted row; rows are act_stride bytes apart.
using GemmFn = void (*)(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                        size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride);

struct TypeKernel {
  // Bytes one token's converted activations take; null: the kernel reads the f32 activations.
  size_t (*act_row_bytes)(int64_t cols) = nullptr;
  // Converts one token's f32 activations (cols values) into the layout `gemm` reads.
  void (*convert_act)(const float* x, void* out, int64_t cols) = nullptr;
  GemmFn gemm = nullptr;
  int row_block = 1;  // the work splitter keeps row ranges multiples of this (except the last)
};

// Null when the path has no kernel for the type (the driver then uses the scalar one).
const TypeKernel* scalar_kernel(GgmlType type);
const TypeKernel* avx2_kernel(GgmlType type);
const TypeKernel* avx512_kernel(GgmlType type, bool vnni);

}  // namespace chimera::engine::matmul_detail
