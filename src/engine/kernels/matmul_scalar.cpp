// Scalar matmul kernels: the plain integer dot products of engine-reference.md §2.3 on the standard
// BlockQ8_0 / BlockQ8_K activation blocks. They define what the SIMD paths must compute.
#include <cstring>

#include "engine/kernels/matmul_kernels.h"
#include "engine/quant/fp16.h"
#include "engine/quant/quant.h"

namespace chimera::engine::matmul_detail {
namespace {

size_t q8_0_row_bytes(int64_t cols) { return static_cast<size_t>(cols / kQK) * sizeof(BlockQ8_0); }
size_t q8_k_row_bytes(int64_t cols) { return static_cast<size_t>(cols / kQK_K) * sizeof(BlockQ8_K); }
void convert_q8_0(const float* x, void* out, int64_t cols) { quantize_row_q8_0(x, static_cast<BlockQ8_0*>(out), cols); }
void convert_q8_k(const float* x, void* out, int64_t cols) { quantize_row_q8_k(x, static_cast<BlockQ8_K*>(out), cols); }

float dot_f32(const void* w, const void* a, int64_t n) {
  const auto* wf = static_cast<const float*>(w);
  const auto* af = static_cast<const float*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += wf[i] * af[i];
  return sum;
}

float dot_f16(const void* w, const void* a, int64_t n) {
  const auto* wh = static_cast<const uint16_t*>(w);
  const auto* af = static_cast<const float*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += f16_to_f32(wh[i]) * af[i];
  return sum;
}

float dot_bf16(const void* w, const void* a, int64_t n) {
  const auto* wh = static_cast<const uint16_t*>(w);
  const auto* af = static_cast<const float*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += bf16_to_f32(wh[i]) * af[i];
  return sum;
}

// The 32-value block types with 4- or 5-bit codes . Q8_0, per block:
//  - Q4_0 / Q5_0: value = d_w * (code - offset), offset 8 or 16: int32 sum((code - offset) * q8)
//    times d_w * d_a.
//  - Q4_1 / Q5_1: value = d_w * code + m_w: d_w * d_a * sum(code * q8) + m_w * d_a * sum(q8). The
//    second term needs the activation block's code sum. ggml carries it in its Q8_1 activations
//    (s = d_a * sum(q8), rounded to f16); here it is summed exactly, in int, from the Q8_0 blocks
//    the other 32-value types read, so one converted copy of the activations serves them all.
// Code j's low 4 bits are the low nibble of qs[j] (j < 16) or the high nibble of qs[j - 16]; a
// 5-bit type's bit 4 of code j is bit j of qh.
template <typename Block, int kBits, bool kHasMin>
float dot_blocks32(const void* w, const void* a, int64_t n) {
  constexpr int kOffset = kHasMin ? 0 : 1 << (kBits - 1);
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    uint32_t qh = 0;
    if constexpr (kBits == 5) std::memcpy(&qh, x[b].qh, sizeof qh);
    int sumi = 0, sum_a = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (x[b].qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (x[b].qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      sumi += (lo - kOffset) * y[b].qs[j] + (hi - kOffset) * y[b].qs[j + kQK / 2];
      if constexpr (kHasMin) sum_a += y[b].qs[j] + y[b].qs[j + kQK / 2];
    }
    const float d_a = f16_to_f32(y[b].d);
    sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * d_a);
    if constexpr (kHasMin) sum += static_cast<float>(sum_a) * (f16_to_f32(x[b].m) * d_a);
  }
  return sum;
}

float dot_q8_0(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK; ++j) sumi += x[b].qs[j] * y[b].qs[j];
    sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
  }
  return sum;
}

// MXFP4 . Q8_0: per block (sum of doubled E2M1 value * q8) as int32, times 2^(e-128) * d_a.
float dot_mxfp4(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockMXFP4*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += kMxfp4Values[x[b].qs[j] & 0xF] * y[b].qs[j];
      sumi += kMxfp4Values[x[b].qs[j] >> 4] * y[b].qs[j + kQK / 2];
    }
    sum += static_cast<float>(sumi) * (mxfp4_half_scale(x[b].e) * f16_to_f32(y[b].d));
  }
  return sum;
}

// Q4_K . Q8_K per super-block: d*d_a * sum_j sc_j * (q4 . q8 over sub-block j)
//                              - dmin*d_a * sum_j m_j * (bsums of sub-block j's two 16-groups).
float dot_q4_k(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int scaled = 0, mins = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      k4_scale_min(j, x[b].scales, &sc, &m);
      const uint8_t* q = x[b].qs + 32 * (j / 2);
      const int8_t* q8 = y[b].qs + 32 * j;
      int shift = (j % 2) * 4, dot = 0;
      for (int l = 0; l < 32; ++l) dot += ((q[l] >> shift) & 0xF) * q8[l];
      scaled += sc * dot;
      mins += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
    }
    sum += y[b].d * f16_to_f32(x[b].d) * static_cast<float>(scaled) -
           y[b].d * f16_to_f32(x[b].dmin) * static_cast<float>(mins);
  }
  return sum;
}

float dot_q5_k(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ5_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int scaled = 0, mins = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      k4_scale_min(j, x[b].scales, &sc, &m);
      const uint8_t* q = x[b].qs + 32 * (j / 2);
      const int8_t* q8 = y[b].qs + 32 * j;
      int shift = (j % 2) * 4, dot = 0;
      for (int l = 0; l < 32; ++l) {
        int v = ((q[l] >> shift) & 0xF) | (((x[b].qh[l] >> j) & 1) << 4);
        dot += v * q8[l];
      }
      scaled += sc * dot;
      mins += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
    }
    sum += y[b].d * f16_to_f32(x[b].d) * static_cast<float>(scaled) -
           y[b].d * f16_to_f32(x[b].dmin) * static_cast<float>(mins);
  }
  return sum;
}

float dot_q6_k(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int scaled = 0;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      const int8_t* q8 = y[b].qs + 128 * h;
      const int8_t* sc = x[b].scales + 8 * h;
      for (int l = 0; l < 32; ++l) {
        int is = l / 16;
        int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        scaled += sc[is] * q1 * q8[l] + sc[is + 2] * q2 * q8[l + 32] + sc[is + 4] * q3 * q8[l + 64] +
                  sc[is + 6] * q4 * q8[l + 96];
      }
    }
    sum += y[b].d * f16_to_f32(x[b].d) * static_cast<float>(scaled);
  }
  return sum;
}

template <float (*Dot)(const void*, const void*, int64_t)>
void gemm_rows(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act, size_t act_stride,
               int64_t n_tokens, float* y, int64_t y_stride) {
  const auto* base = static_cast<const uint8_t*>(w.data);
  const auto* act_bytes = static_cast<const uint8_t*>(act);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* row = base + static_cast<size_t>(r) * w.row_bytes;
    for (int64_t t = 0; t < n_tokens; ++t) y[t * y_stride + r] = Dot(row, act_bytes + t * act_stride, w.cols);
  }
}

const TypeKernel kF32{nullptr, nullptr, gemm_rows<dot_f32>, 1};
const TypeKernel kF16{nullptr, nullptr, gemm_rows<dot_f16>, 1};
const TypeKernel kBF16{nullptr, nullptr, gemm_rows<dot_bf16>, 1};
const TypeKernel kQ4_0{q8_0_row_bytes, convert_q8_0, gemm_rows<dot_blocks32<BlockQ4_0, 4, false>>,
                       1};
const TypeKernel kQ5_0{q8_0_row_bytes, convert_q8_0, gemm_rows<dot_blocks32<BlockQ5_0, 5, false>>,
                       1};
const TypeKernel kQ8_0{q8_0_row_bytes, convert_q8_0, gemm_rows<dot_q8_0>, 1};
const TypeKernel kQ4_1{q8_0_row_bytes, convert_q8_0, gemm_rows<dot_blocks32<BlockQ4_1, 4, true>>,
                       1};
const TypeKernel kQ5_1{q8_0_row_bytes, convert_q8_0, gemm_rows<dot_blocks32<BlockQ5_1, 5, true>>,
                       1};
const TypeKernel kMXFP4{q8_0_row_bytes, convert_q8_0, gemm_rows<dot_mxfp4>, 1};
const TypeKernel kQ4_K{q8_k_row_bytes, convert_q8_k, gemm_rows<dot_q4_k>, 1};
const TypeKernel kQ5_K{q8_k_row_bytes, convert_q8_k, gemm_rows<dot_q5_k>, 1};
const TypeKernel kQ6_K{q8_k_row_bytes, convert_q8_k, gemm_rows<dot_q6_k>, 1};

}  // namespace

const TypeKernel* scalar_kernel(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: return &kF32;
    case GgmlType::kF16: return &kF16;
    case GgmlType::kBF16: return &kBF16;
    case GgmlType::kQ4_0: return &kQ4_0;
    case GgmlType::kQ5_0: return &kQ5_0;
    case GgmlType::kQ8_0: return &kQ8_0;
    case GgmlType::kQ4_1: return &kQ4_1;
    case GgmlType::kQ5_1: return &kQ5_1;
    case GgmlType::kMXFP4: return &kMXFP4;
    case GgmlType::kQ4_K: return &kQ4_K;
    case GgmlType::kQ5_K: return &kQ5_K;
    case GgmlType::kQ6_K: return &kQ6_K;
    default: return nullptr;
  }
}

}  // namespace chimera::engine::matmul_detail
