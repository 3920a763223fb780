// Reference quantizers for the 32-element block types and the float types, plus the type dispatch
// (engine-reference.md §2.1-§2.3). Choices follow ggml's `quantize_row_*_ref` so files match
// llama.cpp's byte for byte.
#include "engine/quant/quant.h"

#include <cmath>
#include <cstring>

#include "engine/quant/fp16.h"
#include "engine/runtime/thread_pool.h"

namespace chimera::engine {
namespace quant_detail {
namespace {

// The value with the largest magnitude in x[0..n) (its sign kept), as ggml picks it: first wins ties.
float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    float a = std::fabs(x[j]);
    if (amax < a) {
      amax = a;
      max = x[j];
    }
  }
  return max;
}

}  // namespace

// Packs a block's 32 codes of kBits (4 or 5) bits: code j's low 4 bits in the low nibble of qs[j]
// (j < 16) or the high nibble of qs[j - 16]; a 5-bit code's bit 4 in bit j of qh.
template <int kBits, typename Block>
void pack_codes(const int (&q)[kQK], Block& y) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    y.qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + kQK / 2] & 0xF) << 4));
    qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((q[j + kQK / 2] >> 4) & 1) << (j + kQK / 2);
  }
  if constexpr (kBits == 5) std::memcpy(y.qh, &qh, sizeof qh);
}

// Q4_0 / Q5_0: d = max / -8 (-16) so that the extreme value maps to code 0 and its opposite fits in
// the top code. ggml truncates (x * id + 8.5) to int8 then clamps at the top code: identical to
// floor for the range here.
template <int kBits, typename Block>
void quantize_offset_blocks(const float* x, Block* y, int64_t n) {
  constexpr int kOffset = 1 << (kBits - 1), kTop = (1 << kBits) - 1;
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const float d = signed_absmax(x, kQK) / -static_cast<float>(kOffset);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    int q[kQK];
    for (int j = 0; j < kQK; ++j) {
      const int code = static_cast<int8_t>(x[j] * id + (static_cast<float>(kOffset) + 0.5f));
      q[j] = code < kTop ? code : kTop;
    }
    pack_codes<kBits>(q, y[b]);
  }
}

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t n) { quantize_offset_blocks<4>(x, y, n); }
void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t n) { quantize_offset_blocks<5>(x, y, n); }

// Q4_1 / Q5_1: codes 0..2^bits - 1 on the block's [min, max] range, d = (max - min) / (2^bits - 1),
// m = min, code = trunc((x - min) / d + 0.5) capped at the top code, as ggml's
// quantize_row_q{4,5}_1_ref. (ggml leaves Q5_1's cap out; it only matters when (x - min) / d rounds
// past 31.5, which the cap keeps from wrapping to code 0.)
template <int kBits, typename Block>
void quantize_min_blocks(const float* x, Block* y, int64_t n) {
  constexpr int kTop = (1 << kBits) - 1;
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    float min = x[0], max = x[0];
    for (int j = 1; j < kQK; ++j) {
      min = x[j] < min ? x[j] : min;
      max = x[j] > max ? x[j] : max;
    }
    const float d = (max - min) / static_cast<float>(kTop);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    y[b].m = f32_to_f16(min);
    int q[kQK];
    for (int j = 0; j < kQK; ++j) {
      const int code = static_cast<int>((x[j] - min) * id + 0.5f);
      q[j] = code < kTop ? code : kTop;
    }
    pack_codes<kBits>(q, y[b]);
  }
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t n) { quantize_min_blocks<4>(x, y, n); }
void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t n) { quantize_min_blocks<5>(x, y, n); }

// Q8_0 (weights and activations): d = amax/127, q = round(x/d) half away from zero (C roundf).
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (int j = 0; j < kQK; ++j) y[b].qs[j] = static_cast<int8_t>(round_away(x[j] * id));
  }
}

// The 4- and 5-bit 32-value types: value = (code - offset) * d for Q4_0 / Q5_0 (offset 8 / 16),
// d * code + m for Q4_1 / Q5_1 (f16 d and m; the f32 product and sum ggml's dequantize_row_q*_1
// compute). Code j's low bits: the low nibble of qs[j] for j < 16, the high nibble of qs[j - 16];
// bit 4 of a 5-bit code j: bit j of qh.
template <typename Block, int kBits, bool kHasMin>
void dequantize_blocks32(const Block* x, float* y, int64_t n) {
  constexpr int kOffset = kHasMin ? 0 : 1 << (kBits - 1);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = f16_to_f32(x[b].d);
    float m = 0.0f;
    if constexpr (kHasMin) m = f16_to_f32(x[b].m);
    uint32_t qh = 0;
    if constexpr (kBits == 5) std::memcpy(&qh, x[b].qh, sizeof qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int hi0 = static_cast<int>((qh >> j) & 1) << 4;
      const int hi1 = static_cast<int>((qh >> (j + kQK / 2)) & 1) << 4;
      const int c0 = ((x[b].qs[j] & 0xF) | hi0) - kOffset, c1 = ((x[b].qs[j] >> 4) | hi1) - kOffset;
      if constexpr (kHasMin) {
        y[j] = static_cast<float>(c0) * d + m;
        y[j + kQK / 2] = static_cast<float>(c1) * d + m;
      } else {
        y[j] = static_cast<float>(c0) * d;
        y[j + kQK / 2] = static_cast<float>(c1) * d;
      }
    }
  }
}

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  dequantize_blocks32<BlockQ4_0, 4, false>(x, y, n);
}
void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t n) {
  dequantize_blocks32<BlockQ5_0, 5, false>(x, y, n);
}
void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t n) {
  dequantize_blocks32<BlockQ4_1, 4, true>(x, y, n);
}
void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t n) {
  dequantize_blocks32<BlockQ5_1, 5, true>(x, y, n);
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    float d = f16_to_f32(x[b].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

// MXFP4 as ggml's quantize_row_mxfp4_ref: the shared exponent e = floor(log2 amax) - 2 + 127 (so
// amax lands near the top codes, +-6), each value the nearest of the 16 codes (first wins ties).
// e is clamped to 0..254 (ggml's cast wraps for |x| below 2^-125 or above 2^127; 255 is invalid).
void quantize_mxfp4(const float* x, BlockMXFP4* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    int e = amax > 0.0f ? static_cast<int>(std::floor(std::log2(amax))) - 2 + 127 : 0;
    e = e < 0 ? 0 : e > 254 ? 254 : e;
    y[b].e = static_cast<uint8_t>(e);
    const float d = mxfp4_half_scale(y[b].e);
    auto nearest = [d](float v) {
      int best = 0;
      float best_err = std::fabs(static_cast<float>(kMxfp4Values[0]) * d - v);
      for (int c = 1; c < 16; ++c) {
        const float err = std::fabs(static_cast<float>(kMxfp4Values[c]) * d - v);
        if (err < best_err) {
          best = c;
          best_err = err;
        }
      }
      return best;
    };
    for (int j = 0; j < kQK / 2; ++j) {
      y[b].qs[j] = static_cast<uint8_t>(nearest(x[j]) | (nearest(x[j + kQK / 2]) << 4));
    }
  }
}

void dequantize_mxfp4(const BlockMXFP4* x, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = mxfp4_half_scale(x[b].e);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(kMxfp4Values[x[b].qs[j] & 0xF]) * d;
      y[j + kQK / 2] = static_cast<float>(kMxfp4Values[x[b].qs[j] >> 4]) * d;
    }
  }
}

}  // namespace quant_detail

using namespace quant_detail;

bool can_quantize(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ5_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_1:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
    case GgmlType::kMXFP4:
      return true;
    default:
      return false;
  }
}

bool can_dequantize(GgmlType type) { return can_quantize(type) || type == GgmlType::kQ8_K; }

void quantize_row(GgmlType type, const float* x, void* out, int64_t n) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16: {
      auto* y = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) y[i] = f32_to_f16(x[i]);
      return;
    }
    case GgmlType::kBF16: {
      auto* y = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
      return;
    }
    case GgmlType::kQ8_0: return quantize_q8_0(x, static_cast<BlockQ8_0*>(out), n);
    case GgmlType::kQ4_0: return quantize_q4_0(x, static_cast<BlockQ4_0*>(out), n);
    case GgmlType::kQ5_0: return quantize_q5_0(x, static_cast<BlockQ5_0*>(out), n);
    case GgmlType::kQ4_1:
      return quantize_q4_1(x, static_cast<BlockQ4_1*>(out), n);
    case GgmlType::kQ5_1:
      return quantize_q5_1(x, static_cast<BlockQ5_1*>(out), n);
    case GgmlType::kQ4_K: return quantize_q4_k(x, static_cast<BlockQ4_K*>(out), n);
    case GgmlType::kQ5_K: return quantize_q5_k(x, static_cast<BlockQ5_K*>(out), n);
    case GgmlType::kQ6_K: return quantize_q6_k(x, static_cast<BlockQ6_K*>(out), n);
    case GgmlType::kMXFP4: return quantize_mxfp4(x, static_cast<BlockMXFP4*>(out), n);
    case GgmlType::kQ8_K: return quantize_row_q8_k(x, static_cast<BlockQ8_K*>(out), n);
    default:
      return;  // callers check can_quantize(); quantize_matrix reports the error
  }
}

void dequantize_row(GgmlType type, const void* in, float* out, int64_t n) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(out, in, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16: {
      const auto* x = static_cast<const uint16_t*>(in);
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(x[i]);
      return;
    }
    case GgmlType::kBF16: {
      const auto* x = static_cast<const uint16_t*>(in);
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(x[i]);
      return;
    }
    case GgmlType::kQ8_0: return dequantize_q8_0(static_cast<const BlockQ8_0*>(in), out, n);
    case GgmlType::kQ4_0: return dequantize_q4_0(static_cast<const BlockQ4_0*>(in), out, n);
    case GgmlType::kQ5_0: return dequantize_q5_0(static_cast<const BlockQ5_0*>(in), out, n);
    case GgmlType::kQ4_1:
      return dequantize_q4_1(static_cast<const BlockQ4_1*>(in), out, n);
    case GgmlType::kQ5_1:
      return dequantize_q5_1(static_cast<const BlockQ5_1*>(in), out, n);
    case GgmlType::kQ4_K: return dequantize_q4_k(static_cast<const BlockQ4_K*>(in), out, n);
    case GgmlType::kQ5_K: return dequantize_q5_k(static_cast<const BlockQ5_K*>(in), out, n);
    case GgmlType::kQ6_K: return dequantize_q6_k(static_cast<const BlockQ6_K*>(in), out, n);
    case GgmlType::kMXFP4: return dequantize_mxfp4(static_cast<const BlockMXFP4*>(in), out, n);
    case GgmlType::kQ8_K: return dequantize_q8_k(static_cast<const BlockQ8_K*>(in), out, n);
    default:
      return;
  }
}

void quantize_row_q8_0(const float* x, BlockQ8_0* out, int64_t n) { quantize_q8_0(x, out, n); }

Status quantize_matrix(GgmlType type, const float* x, int64_t rows, int64_t cols, void* out,
                       ThreadPool* pool) {
  if (!can_quantize(type)) {
    return make_error(ErrorCode::kUnsupported,
                      "cannot quantize to type {}: this build quantizes {}", ggml_type_name(type),
                      computable_type_list());
  }
  std::optional<size_t> row_bytes = ggml_row_bytes(type, cols);
  if (!row_bytes || rows < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot quantize a {} x {} matrix to {}: the row length must be a multiple of "
                      "{}; pick a type whose block fits (e.g. Q5_0 or Q8_0 for rows of 32k values)",
                      rows, cols, ggml_type_name(type), ggml_type_info(type).block_size);
  }
  auto quantize_range = [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      quantize_row(type, x + r * cols, static_cast<uint8_t*>(out) + static_cast<size_t>(r) * *row_bytes,
                   cols);
    }
  };
  if (pool == nullptr || pool->size() <= 1 || rows < 2) {
    quantize_range(0, rows);
  } else {
    pool->parallel_for(rows, [&](int64_t begin, int64_t end, int) { quantize_range(begin, end); });
  }
  return Status::ok();
}

}  // namespace chimera::engine
