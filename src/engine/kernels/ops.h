// Element-wise and row operations of the transformer forward pass, each with a scalar reference
// (namespace ref) and a dispatched SIMD version (AVX2 / AVX-512, chosen like the matmul kernels from
// active_kernel_path(), so CHIMERA_KERNEL=scalar runs the references). engine-reference.md §3.3.
#pragma once

#include <cstdint>

namespace chimera::engine {

// y = x / sqrt(mean(x^2) + eps) * weight   (weight may be null: no scaling). Sum of squares in double.
// y may alias x.
void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps);

struct RopeParams {
  int n_rot = 0;               // rotary dims (= head_dim for gemma3 / llama); must be even
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;     // 1 / linear scaling factor
  const float* freq_factors = nullptr;  // rope_freqs divisors (n_rot/2), or null
  bool neox = false;           // pairs (i, i + n_rot/2) when true; (2i, 2i+1) when false
};
// Rotates n_heads heads of head_dim floats (contiguous) at position `pos`, in place. Pair i turns by
// theta_i = freq_scale * pos * freq_base^(-2i/n_rot) / freq_factors[i]; dims past n_rot are untouched.
// Angles are built as ggml builds them (f32, theta *= base^(-2/n_rot) per pair) for llama.cpp parity.
void rope(float* x, int n_heads, int head_dim, int64_t pos, const RopeParams& params);

void softmax(float* x, int64_t n);          // in place, max-subtracted, f32 (sum in double)
void gelu_tanh(float* x, int64_t n);        // in place, 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))
void silu(float* x, int64_t n);             // in place, x * sigmoid(x)
// gpt-oss's gated activation (engine-reference-models.md §5 step 7), in place in gate:
// g = min(gate, 7), u = clamp(up, -7, 7), gate = g * sigmoid(1.702 g) * (u + 1).
void swiglu_oai(float* gate, const float* up, int64_t n);
void mul(float* x, const float* y, int64_t n);        // x *= y
void add(float* x, const float* y, int64_t n);        // x += y
void scale(float* x, float s, int64_t n);             // x *= s
float dot_f32(const float* a, const float* b, int64_t n);
float dot_f16_f32(const uint16_t* a_f16, const float* b, int64_t n);
void axpy_f16(float* y, float a, const uint16_t* x_f16, int64_t n);  // y += a * x
void f32_to_f16_row(const float* x, uint16_t* y, int64_t n);          // round to nearest even
void f16_to_f32_row(const uint16_t* x, float* y, int64_t n);

namespace ref {
void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps);
void rope(float* x, int n_heads, int head_dim, int64_t pos, const RopeParams& params);
void softmax(float* x, int64_t n);
void gelu_tanh(float* x, int64_t n);
void silu(float* x, int64_t n);
void mul(float* x, const float* y, int64_t n);
void add(float* x, const float* y, int64_t n);
void scale(float* x, float s, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);       // accumulates in double
float dot_f16_f32(const uint16_t* a_f16, const float* b, int64_t n);  // accumulates in double
void axpy_f16(float* y, float a, const uint16_t* x_f16, int64_t n);
void f32_to_f16_row(const float* x, uint16_t* y, int64_t n);
void f16_to_f32_row(const uint16_t* x, float* y, int64_t n);
}  // namespace ref

}  // namespace chimera::engine
