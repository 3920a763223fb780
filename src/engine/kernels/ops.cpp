// Scalar references of the row ops and the run-time dispatch to the AVX2 / AVX-512 versions.
#include "engine/kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/kernels/matmul.h"
#include "engine/kernels/ops_simd.h"
#include "engine/quant/fp16.h"

namespace chimera::engine {

namespace {

enum class OpsIsa { kScalar, kAvx2, kAvx512 };

OpsIsa ops_isa() {
  switch (active_kernel_path()) {
    case KernelPath::kAvx512:
    case KernelPath::kAvx512Vnni: return OpsIsa::kAvx512;
    case KernelPath::kAvx2: return OpsIsa::kAvx2;
    case KernelPath::kScalar: break;
  }
  return OpsIsa::kScalar;
}

// The cos/sin table of the last position rotated on this thread: q and k of one layer share it.
struct RopeCache {
  int64_t pos = -1;
  int n_rot = 0;
  float freq_base = 0, freq_scale = 0;
  const float* freq_factors = nullptr;
  std::vector<float> cos_theta, sin_theta;

  bool matches(int64_t p, const RopeParams& params) const {
    return pos == p && n_rot == params.n_rot && freq_base == params.freq_base &&
           freq_scale == params.freq_scale && freq_factors == params.freq_factors;
  }
};

const RopeCache& rope_table(int64_t pos, const RopeParams& params) {
  thread_local RopeCache cache;
  if (!cache.matches(pos, params)) {
    size_t pairs = static_cast<size_t>(params.n_rot / 2);
    if (cache.cos_theta.size() < pairs) {  // grows once per model, not per token
      cache.cos_theta.resize(pairs);
      cache.sin_theta.resize(pairs);
    }
    rope_angles(pos, params, cache.cos_theta.data(), cache.sin_theta.data());
    cache.pos = pos;
    cache.n_rot = params.n_rot;
    cache.freq_base = params.freq_base;
    cache.freq_scale = params.freq_scale;
    cache.freq_factors = params.freq_factors;
  }
  return cache;
}

void rotate_pairs_ref(float* x, int n_heads, int head_dim, int n_rot, bool neox, const float* cos_theta,
                      const float* sin_theta) {
  int half = n_rot / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      // neox pairs (i, i + n_rot/2) (Gemma, HF rotate-half); normal pairs (2i, 2i+1) (permuted Llama).
      float* a = neox ? v + i : v + 2 * i;
      float* b = neox ? v + i + half : v + 2 * i + 1;
      float x0 = *a, x1 = *b;
      *a = x0 * cos_theta[i] - x1 * sin_theta[i];
      *b = x0 * sin_theta[i] + x1 * cos_theta[i];
    }
  }
}

}  // namespace

// engine-reference.md §3.3: theta starts at pos and is multiplied by base^(-2/n_rot) per pair, in f32,
// as ggml's rope cache does; the divisor and the linear scale apply to each pair's angle.
void rope_angles(int64_t pos, const RopeParams& params, float* cos_out, float* sin_out) {
  const float theta_scale = std::pow(params.freq_base, -2.0f / static_cast<float>(params.n_rot));
  float theta = static_cast<float>(pos);
  for (int i = 0; i < params.n_rot / 2; ++i) {
    float factor = params.freq_factors != nullptr ? params.freq_factors[i] : 1.0f;
    float angle = params.freq_scale * (theta / factor);
    cos_out[i] = std::cos(angle);
    sin_out[i] = std::sin(angle);
    theta *= theta_scale;
  }
}

namespace ref {

void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float inv = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i] * inv;
    y[i] = weight != nullptr ? v * weight[i] : v;
  }
}

void rope(float* x, int n_heads, int head_dim, int64_t pos, const RopeParams& params) {
  int n_rot = params.n_rot < head_dim ? params.n_rot : head_dim;
  std::vector<float> cos_theta(static_cast<size_t>(n_rot / 2)), sin_theta(static_cast<size_t>(n_rot / 2));
  RopeParams p = params;
  p.n_rot = n_rot;
  rope_angles(pos, p, cos_theta.data(), sin_theta.data());
  rotate_pairs_ref(x, n_heads, head_dim, n_rot, params.neox, cos_theta.data(), sin_theta.data());
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = std::fmax(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void gelu_tanh(float* x, int64_t n) {
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + 0.044715f * v * v)));
  }
}

void silu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void mul(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= y[i];
}

void add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void scale(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

float dot_f32(const float* a, const float* b, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(sum);
}

float dot_f16_f32(const uint16_t* a_f16, const float* b, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(f16_to_f32(a_f16[i])) * b[i];
  return static_cast<float>(sum);
}

void axpy_f16(float* y, float a, const uint16_t* x_f16, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * f16_to_f32(x_f16[i]);
}

void f32_to_f16_row(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_f16(x[i]);
}

void f16_to_f32_row(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f16_to_f32(x[i]);
}

}  // namespace ref

// Dispatch. Each op reads the active path (one relaxed load) so tests can switch paths at run time.
#define CHIMERA_DISPATCH(call)                      \
  switch (ops_isa()) {                              \
    case OpsIsa::kAvx512: return ops_avx512::call;  \
    case OpsIsa::kAvx2: return ops_avx2::call;      \
    case OpsIsa::kScalar: break;                    \
  }                                                 \
  return ref::call

void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps) {
  CHIMERA_DISPATCH(rms_norm(x, weight, y, n, eps));
}

void rope(float* x, int n_heads, int head_dim, int64_t pos, const RopeParams& params) {
  RopeParams p = params;
  if (p.n_rot > head_dim) p.n_rot = head_dim;
  if (p.n_rot < 2) return;
  const RopeCache& table = rope_table(pos, p);
  const float* c = table.cos_theta.data();
  const float* s = table.sin_theta.data();
  switch (ops_isa()) {
    case OpsIsa::kAvx512: return ops_avx512::rotate_pairs(x, n_heads, head_dim, p.n_rot, p.neox, c, s);
    case OpsIsa::kAvx2: return ops_avx2::rotate_pairs(x, n_heads, head_dim, p.n_rot, p.neox, c, s);
    case OpsIsa::kScalar: break;
  }
  rotate_pairs_ref(x, n_heads, head_dim, p.n_rot, p.neox, c, s);
}

void softmax(float* x, int64_t n) { CHIMERA_DISPATCH(softmax(x, n)); }
void gelu_tanh(float* x, int64_t n) { CHIMERA_DISPATCH(gelu_tanh(x, n)); }
void silu(float* x, int64_t n) { CHIMERA_DISPATCH(silu(x, n)); }
void mul(float* x, const float* y, int64_t n) { CHIMERA_DISPATCH(mul(x, y, n)); }
void add(float* x, const float* y, int64_t n) { CHIMERA_DISPATCH(add(x, y, n)); }
void scale(float* x, float s, int64_t n) { CHIMERA_DISPATCH(scale(x, s, n)); }
float dot_f32(const float* a, const float* b, int64_t n) { CHIMERA_DISPATCH(dot_f32(a, b, n)); }
float dot_f16_f32(const uint16_t* a_f16, const float* b, int64_t n) {
  CHIMERA_DISPATCH(dot_f16_f32(a_f16, b, n));
}
void axpy_f16(float* y, float a, const uint16_t* x_f16, int64_t n) { CHIMERA_DISPATCH(axpy_f16(y, a, x_f16, n)); }
void f32_to_f16_row(const float* x, uint16_t* y, int64_t n) { CHIMERA_DISPATCH(f32_to_f16_row(x, y, n)); }
void f16_to_f32_row(const uint16_t* x, float* y, int64_t n) { CHIMERA_DISPATCH(f16_to_f32_row(x, y, n)); }

#undef CHIMERA_DISPATCH

// Through the dispatched silu: silu(a g) / a = g * sigmoid(a g). The clamps are plain loops.
void swiglu_oai(float* gate, const float* up, int64_t n) {
  constexpr float kAlpha = 1.702f, kLimit = 7.0f;
  for (int64_t i = 0; i < n; ++i) gate[i] = std::min(gate[i], kLimit) * kAlpha;
  silu(gate, n);
  for (int64_t i = 0; i < n; ++i) {
    gate[i] = gate[i] / kAlpha * (std::clamp(up[i], -kLimit, kLimit) + 1.0f);
  }
}

}  // namespace chimera::engine
