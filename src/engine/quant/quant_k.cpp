// Reference quantizers and dequantizers for the K-quants (256-value super-blocks) and the Q8_K
// activation type (engine-reference.md §2.1-§2.3). The scale searches follow the algorithm of ggml's
// `quantize_row_q{4,5,6}_K_ref` (no importance matrix): a weighted least-squares fit of scale and min
// over a small grid of candidate inverse scales, then 6-bit (Q4_K/Q5_K) or 8-bit (Q6_K) super-block
// quantization of the sub-block scales, then a final re-quantization with the stored scales.
#include <cmath>
#include <cstring>

#include "engine/quant/fp16.h"
#include "engine/quant/quant.h"

namespace chimera::engine {
namespace quant_detail {
namespace {

constexpr float kGroupMaxEps = 1e-15f;  // below this a group counts as all zero (as ggml)

}  // namespace

// Asymmetric fit x ~ scale*L + min with L in [0, nmax] and min <= 0, minimizing the weighted squared
// error. Tries the plain max-min grid, then nstep+1 perturbed inverse scales (rmin + rdelta*i + nmax)
// and keeps the best least-squares (scale, min) pair. Returns scale; *neg_min receives -min.
float fit_scale_min(const float* x, const float* w, int n, int nmax, uint8_t* L, float* neg_min,
                    float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *neg_min = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1.0f / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(nearest_clamped(iscale * (x[i] - min), 0, nmax));
    float diff = scale * L[i] + min - x[i];
    best_error += w[i] * (diff * diff);
  }
  uint8_t trial[32];
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_clamped(iscale * (x[i] - min), 0, nmax);
      trial[i] = static_cast<uint8_t>(l);
      float fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det <= 0) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0;
    for (int i = 0; i < n; ++i) {
      float diff = this_scale * trial[i] + this_min - x[i];
      error += w[i] * (diff * diff);
    }
    if (error < best_error) {
      std::memcpy(L, trial, static_cast<size_t>(n));
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  *neg_min = -min;
  return scale;
}

// Symmetric fit x ~ scale*(L - nmax) with L - nmax in [-nmax, nmax-1], weights x^2; the inverse scale
// is searched over -(nmax + 0.1*i)/max for i in -9..9. Returns scale (negative when max > 0).
float fit_symmetric(const float* x, int n, int nmax, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    float a = std::fabs(x[i]);
    if (a > amax) {
      amax = a;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  auto fit = [&](float iscale, float* sumlx, float* suml2) {
    *sumlx = *suml2 = 0;
    for (int i = 0; i < n; ++i) {
      float l = static_cast<float>(nearest_clamped(iscale * x[i], -nmax, nmax - 1));
      float w = x[i] * x[i];
      *sumlx += w * x[i] * l;
      *suml2 += w * l * l;
    }
  };
  auto store = [&](float iscale) {
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + nearest_clamped(iscale * x[i], -nmax, nmax - 1));
  };
  float iscale = -static_cast<float>(nmax) / max;
  float sumlx, suml2;
  fit(iscale, &sumlx, &suml2);
  store(iscale);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
    fit(iscale, &sumlx, &suml2);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      store(iscale);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

namespace {

// Packs 8 six-bit scales and 8 six-bit mins into the 12-byte K-quant layout (inverse of k4_scale_min).
void pack_k4_scales(const uint8_t* ls, const uint8_t* lm, uint8_t* scales) {
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = ls[j];
      scales[j + 4] = lm[j];
    } else {
      scales[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Shared by Q4_K and Q5_K: fits 8 sub-blocks of 32, stores d/dmin/scales, and writes the final codes
// (0..nmax) of the 256 values into L.
void quantize_k4_superblock(const float* x, int nmax, float rmin, float rdelta, int nstep, uint16_t* d_out,
                            uint16_t* dmin_out, uint8_t* scales_out, uint8_t* L) {
  float scales[8], mins[8], weights[256];
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[32 * j + l] = av_x + std::fabs(xs[l]);
  }
  for (int j = 0; j < 8; j += 4) {
    fit_scale_min_x4(x + 32 * j, weights + 32 * j, 32, 32, nmax, L + 32 * j, scales + j, mins + j, rmin, rdelta, nstep);
  }
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] = static_cast<uint8_t>(nearest_clamped(inv_scale * scales[j], 0, 63));
    lm[j] = static_cast<uint8_t>(nearest_clamped(inv_min * mins[j], 0, 63));
  }
  pack_k4_scales(ls, lm, scales_out);
  *d_out = f32_to_f16(max_scale / 63.0f);
  *dmin_out = f32_to_f16(max_min / 63.0f);
  float d_all = f16_to_f32(*d_out), dmin_all = f16_to_f32(*dmin_out);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k4_scale_min(j, scales_out, &sc, &m);
    float d = d_all * sc;
    if (d == 0.0f) continue;  // keep the codes from the fit, as ggml does
    float dm = dmin_all * m;
    for (int l = 0; l < 32; ++l) L[32 * j + l] = static_cast<uint8_t>(nearest_clamped((x[32 * j + l] + dm) / d, 0, nmax));
  }
}

}  // namespace

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t n) {
  uint8_t L[kQK_K];
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    quantize_k4_superblock(x, 15, -1.0f, 0.1f, 20, &y[b].d, &y[b].dmin, y[b].scales, L);
    // Chunk c of 64 values: low nibbles hold values 64c..64c+31, high nibbles 64c+32..64c+63.
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) y[b].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
  }
}

void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t n) {
  uint8_t L[kQK_K];
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    quantize_k4_superblock(x, 31, -0.5f, 0.1f, 15, &y[b].d, &y[b].dmin, y[b].scales, L);
    std::memset(y[b].qh, 0, sizeof y[b].qh);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
        y[b].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
        y[b].qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      }
    }
  }
}

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t n) {
  int8_t L[kQK_K];
  float scales[16];
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float max_scale = 0, max_abs_scale = 0;
    for (int s = 0; s < 16; s += 4) fit_symmetric_x4(x + 16 * s, 16, 16, 32, L + 16 * s, scales + s);
    for (int s = 0; s < 16; ++s) {
      float a = std::fabs(scales[s]);
      if (a > max_abs_scale) {
        max_abs_scale = a;
        max_scale = scales[s];
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    float iscale = -128.0f / max_scale;
    y[b].d = f32_to_f16(1.0f / iscale);
    for (int s = 0; s < 16; ++s) y[b].scales[s] = static_cast<int8_t>(nearest_clamped(iscale * scales[s], -128, 127));
    float d_all = f16_to_f32(y[b].d);
    for (int s = 0; s < 16; ++s) {
      float d = d_all * y[b].scales[s];
      if (d == 0.0f) continue;
      for (int l = 0; l < 16; ++l) L[16 * s + l] = static_cast<int8_t>(32 + nearest_clamped(x[16 * s + l] / d, -32, 31));
    }
    // Half h of 128 values: ql[64h + l] holds values l (low nibble) and l+64 (high); ql[64h+32+l]
    // holds l+32 and l+96; qh[32h + l] holds the top two bits of l, l+32, l+64, l+96.
    for (int h = 0; h < 2; ++h) {
      const int8_t* q = L + 128 * h;
      for (int l = 0; l < 32; ++l) {
        y[b].ql[64 * h + l] = static_cast<uint8_t>((q[l] & 0xF) | ((q[l + 64] & 0xF) << 4));
        y[b].ql[64 * h + 32 + l] = static_cast<uint8_t>((q[l + 32] & 0xF) | ((q[l + 96] & 0xF) << 4));
        y[b].qh[32 * h + l] = static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) |
                                                   ((q[l + 96] >> 4) << 6));
      }
    }
  }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
    for (int c = 0; c < 4; ++c, y += 64) {
      uint8_t sc0, m0, sc1, m1;
      k4_scale_min(2 * c, x[b].scales, &sc0, &m0);
      k4_scale_min(2 * c + 1, x[b].scales, &sc1, &m1);
      float d0 = d * sc0, min0 = dmin * m0, d1 = d * sc1, min1 = dmin * m1;
      const uint8_t* q = x[b].qs + 32 * c;
      for (int l = 0; l < 32; ++l) y[l] = d0 * static_cast<float>(q[l] & 0xF) - min0;
      for (int l = 0; l < 32; ++l) y[32 + l] = d1 * static_cast<float>(q[l] >> 4) - min1;
    }
  }
}

void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
    for (int c = 0; c < 4; ++c, y += 64) {
      uint8_t sc0, m0, sc1, m1;
      k4_scale_min(2 * c, x[b].scales, &sc0, &m0);
      k4_scale_min(2 * c + 1, x[b].scales, &sc1, &m1);
      float d0 = d * sc0, min0 = dmin * m0, d1 = d * sc1, min1 = dmin * m1;
      const uint8_t* q = x[b].qs + 32 * c;
      for (int l = 0; l < 32; ++l) {
        int hi0 = ((x[b].qh[l] >> (2 * c)) & 1) << 4;
        int hi1 = ((x[b].qh[l] >> (2 * c + 1)) & 1) << 4;
        y[l] = d0 * static_cast<float>((q[l] & 0xF) | hi0) - min0;
        y[32 + l] = d1 * static_cast<float>((q[l] >> 4) | hi1) - min1;
      }
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    float d = f16_to_f32(x[b].d);
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      const int8_t* sc = x[b].scales + 8 * h;
      for (int l = 0; l < 32; ++l) {
        int is = l / 16;
        int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, y += kQK_K) {
    for (int j = 0; j < kQK_K; ++j) y[j] = x[b].d * static_cast<float>(x[b].qs[j]);
  }
}

}  // namespace quant_detail

// Q8_K: the scale comes from the signed value of largest magnitude, iscale = -127/max, so that value
// maps to -127 exactly; d = 1/iscale is kept in f32. bsums hold sums of 16 codes for the K-quant dots.
void quantize_row_q8_k(const float* x, BlockQ8_K* y, int64_t n) {
  using quant_detail::nearest_clamped;
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float max = 0, amax = 0;
    for (int j = 0; j < kQK_K; ++j) {
      float a = std::fabs(x[j]);
      if (a > amax) {
        amax = a;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j) y[b].qs[j] = static_cast<int8_t>(nearest_clamped(iscale * x[j], -128, 127));
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y[b].qs[16 * g + l];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1.0f / iscale;
  }
}

}  // namespace chimera::engine
