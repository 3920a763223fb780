// Internal: the SIMD implementations behind ops.h (ops_avx2.cpp, ops_avx512.cpp). Call them only when
// the CPU has the ISA; ops.cpp dispatches. Same contracts as the functions of the same names in ops.h.
#pragma once

#include <cstdint>

#include "engine/kernels/ops.h"

namespace chimera::engine {

// cos/sin of every rotary pair at one position, shared by the ref and SIMD rope so both rotate by the
// same angles (ops.cpp).
void rope_angles(int64_t pos, const RopeParams& params, float* cos_out, float* sin_out);

namespace ops_avx2 {
void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps);
void rotate_pairs(float* x, int n_heads, int head_dim, int n_rot, bool neox, const float* cos_theta,
                  const float* sin_theta);
void softmax(float* x, int64_t n);
void gelu_tanh(float* x, int64_t n);
void silu(float* x, int64_t n);
void mul(float* x, const float* y, int64_t n);
void add(float* x, const float* y, int64_t n);
void scale(float* x, float s, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);
float dot_f16_f32(const uint16_t* a_f16, const float* b, int64_t n);
void axpy_f16(float* y, float a, const uint16_t* x_f16, int64_t n);
void f32_to_f16_row(const float* x, uint16_t* y, int64_t n);
void f16_to_f32_row(const uint16_t* x, float* y, int64_t n);
}  // namespace ops_avx2
namespace ops_avx512 {
void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps);
void rotate_pairs(float* x, int n_heads, int head_dim, int n_rot, bool neox, const float* cos_theta,
                  const float* sin_theta);
void softmax(float* x, int64_t n);
void gelu_tanh(float* x, int64_t n);
void silu(float* x, int64_t n);
void mul(float* x, const float* y, int64_t n);
void add(float* x, const float* y, int64_t n);
void scale(float* x, float s, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);
float dot_f16_f32(const uint16_t* a_f16, const float* b, int64_t n);
void axpy_f16(float* y, float a, const uint16_t* x_f16, int64_t n);
void f32_to_f16_row(const float* x, uint16_t* y, int64_t n);
void f16_to_f32_row(const uint16_t* x, float* y, int64_t n);
}  // namespace ops_avx512

}  // namespace chimera::engine
