// AVX-512 prefill GEMM through f32 panels. Measured on the reference Cascade Lake VM, zmm FMA issues
// twice per cycle but vpdpbusd about 0.8 times, so for many tokens it is faster to dequantize a panel of
// weights to f32 once and run a register-blocked FMA micro-kernel over all tokens than to dot 8-bit
// codes: 32 rows x 12 tokens of accumulators stay in registers, each weight vector loaded feeds 12
// tokens, and activations are used unrounded (more accurate than the 8-bit path). The panel costs one
// dequantization per weight per call.
//
// Loop nest (per thread, over its rows): for each chunk of kKC columns, for each panel of kMC rows:
// dequantize the panel into [micro-panel][k][32 rows] (transposed, so one k step is two vector loads),
// then for each micro-panel and each tile of 12 tokens: c(32 x 12) += W^T(k x 32)' * x(12 x k), with the
// partial sums kept in y between chunks.
#include <cstdlib>
#include <cstring>
#include <memory>

#include "engine/matmul_avx512.h"
#include "engine/quant.h"

namespace chimera::engine::matmul_detail::avx512 {
namespace {

constexpr int kMR = 32;         // rows per micro-kernel: two zmm
constexpr int kNR = 12;         // tokens per micro-kernel: 24 accumulators
constexpr int64_t kKC = 128;    // columns per panel: micro-panel 16 KiB + token tile 6 KiB fit L1
constexpr int64_t kMC = 128;    // rows per panel (4 micro-panels, 64 KiB, in L2)
constexpr int64_t kMaxBlock = 256;

// Per-thread buffers, allocated on a thread's first prefill and reused: the packed panel and one
// dequantized row range.
struct PanelBuffers {
  float* panel = nullptr;  // kMC * kKC floats
  float* row = nullptr;    // kKC + 2 * kMaxBlock floats
  float* tokens = nullptr; // packed activations: tiles of kNR tokens, [tile][k][kNR]
  size_t tokens_capacity = 0;
  PanelBuffers() {
    panel = static_cast<float*>(std::aligned_alloc(64, kMC * kKC * sizeof(float)));
    row = static_cast<float*>(std::aligned_alloc(64, (kKC + 2 * kMaxBlock) * sizeof(float)));
  }
  ~PanelBuffers() {
    std::free(panel);
    std::free(row);
    std::free(tokens);
  }
  float* token_buffer(size_t floats) {
    if (floats > tokens_capacity) {  // grows to the largest batch, then is reused
      std::free(tokens);
      tokens_capacity = (floats + 15) / 16 * 16;
      tokens = static_cast<float*>(std::aligned_alloc(64, tokens_capacity * sizeof(float)));
    }
    return tokens;
  }
};

PanelBuffers& thread_buffers() {
  thread_local PanelBuffers buffers;
  return buffers;
}

// Dequantizes rows [r0, r0 + rows) x columns [k0, k0 + kc) into the panel, transposed per micro-panel:
// panel[(m * kc + k) * 32 + rr] = W[r0 + 32m + rr][k0 + k]; rows past `rows` are zero.
void pack_panel(const WeightMatrix& w, int64_t r0, int64_t rows, int64_t k0, int64_t kc, PanelBuffers& buf) {
  // (the out-of-line lookup: no inline helper from a shared header is instantiated with these ISA flags)
  const GgmlTypeInfo& info = *ggml_type_info(static_cast<uint32_t>(w.type));
  const int64_t block = info.block_size;
  const int64_t b0 = k0 / block * block;                              // first block touching the chunk
  const int64_t b1 = (k0 + kc + block - 1) / block * block;           // end of the last one
  const size_t block_bytes = static_cast<size_t>(info.block_bytes);
  const int64_t micro_panels = (rows + kMR - 1) / kMR;
  for (int64_t m = 0; m < micro_panels; ++m) {
    float* dst = buf.panel + m * kc * kMR;
    for (int rr = 0; rr < kMR; ++rr) {
      const int64_t r = 32 * m + rr;
      if (r >= rows) {
        for (int64_t k = 0; k < kc; ++k) dst[k * kMR + rr] = 0.0f;
        continue;
      }
      const uint8_t* src = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r0 + r) * w.row_bytes +
                           static_cast<size_t>(b0 / block) * block_bytes;
      dequantize_row(w.type, src, buf.row, b1 - b0);
      const float* values = buf.row + (k0 - b0);
      for (int64_t k = 0; k < kc; ++k) dst[k * kMR + rr] = values[k];
    }
  }
}

// Copies columns [k0, k0 + kc) of every token into tiles of kNR tokens, [tile][k][kNR], so each
// micro-kernel reads its activations as one sequential stream (short strided rows defeat the prefetchers).
void pack_tokens(const float* x, int64_t x_stride, int64_t n_tokens, int64_t k0, int64_t kc, float* out) {
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kNR) {
    float* tile = out + (t0 / kNR) * kc * kNR;
    const int64_t nt = n_tokens - t0 < kNR ? n_tokens - t0 : kNR;
    for (int64_t t = 0; t < kNR; ++t) {
      const float* src = x + (t0 + t) * x_stride + k0;
      if (t < nt) {
        for (int64_t k = 0; k < kc; ++k) tile[k * kNR + t] = src[k];
      } else {
        for (int64_t k = 0; k < kc; ++k) tile[k * kNR + t] = 0.0f;
      }
    }
  }
}

// c[t][0..1] (rows 0..15, 16..31) for NT tokens over kc columns; accumulates into y unless `first`.
// x is a packed tile: x[k * kNR + t].
template <int NT>
void micro_kernel(const float* panel, int64_t kc, const float* x, float* y, int64_t y_stride, bool first,
                  __mmask16 mask0, __mmask16 mask1) {
  __m512 c[NT][2];
#pragma GCC unroll 16
  for (int t = 0; t < NT; ++t) {
    if (first) {
      c[t][0] = _mm512_setzero_ps();
      c[t][1] = _mm512_setzero_ps();
    } else {
      c[t][0] = _mm512_maskz_loadu_ps(mask0, y + t * y_stride);
      c[t][1] = _mm512_maskz_loadu_ps(mask1, y + t * y_stride + 16);
    }
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 w0 = _mm512_load_ps(panel + k * kMR), w1 = _mm512_load_ps(panel + k * kMR + 16);
#pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) {
      const __m512 a = _mm512_set1_ps(x[k * kNR + t]);
      c[t][0] = _mm512_fmadd_ps(w0, a, c[t][0]);
      c[t][1] = _mm512_fmadd_ps(w1, a, c[t][1]);
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < NT; ++t) {
    _mm512_mask_storeu_ps(y + t * y_stride, mask0, c[t][0]);
    _mm512_mask_storeu_ps(y + t * y_stride + 16, mask1, c[t][1]);
  }
}

using MicroKernel = void (*)(const float*, int64_t, const float*, float*, int64_t, bool, __mmask16, __mmask16);
constexpr MicroKernel kMicroKernels[kNR + 1] = {nullptr,          micro_kernel<1>,  micro_kernel<2>, micro_kernel<3>,
                                                micro_kernel<4>,  micro_kernel<5>,  micro_kernel<6>, micro_kernel<7>,
                                                micro_kernel<8>,  micro_kernel<9>,  micro_kernel<10>, micro_kernel<11>,
                                                micro_kernel<12>};

__mmask16 rows_mask(int64_t rows) {
  return rows >= 16 ? static_cast<__mmask16>(0xFFFF) : rows <= 0 ? 0 : static_cast<__mmask16>((1u << rows) - 1);
}

}  // namespace

// Same contract as GemmFn, with f32 activations (act = x, act_stride = cols * 4).
void gemm_f32_panels(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act, size_t act_stride,
                     int64_t n_tokens, float* y, int64_t y_stride) {
  PanelBuffers& buf = thread_buffers();
  const auto* x = static_cast<const float*>(act);
  const int64_t x_stride = static_cast<int64_t>(act_stride / sizeof(float));
  float* tokens = buf.token_buffer(static_cast<size_t>((n_tokens + kNR - 1) / kNR * kNR * kKC));
  for (int64_t k0 = 0; k0 < w.cols; k0 += kKC) {
    const int64_t kc = w.cols - k0 < kKC ? w.cols - k0 : kKC;
    const bool first = k0 == 0;
    pack_tokens(x, x_stride, n_tokens, k0, kc, tokens);
    for (int64_t p0 = row_begin; p0 < row_end; p0 += kMC) {
      const int64_t panel_rows = row_end - p0 < kMC ? row_end - p0 : kMC;
      pack_panel(w, p0, panel_rows, k0, kc, buf);
      // Micro-panel outer, tokens inner: the 16 KiB micro-panel stays in L1 while every token tile
      // (6 KiB, from L2) passes over it.
      for (int64_t m = 0; m * kMR < panel_rows; ++m) {
        const int64_t rows_left = panel_rows - m * kMR;
        for (int64_t t0 = 0; t0 < n_tokens; t0 += kNR) {
          const int64_t nt = n_tokens - t0 < kNR ? n_tokens - t0 : kNR;
          kMicroKernels[nt](buf.panel + m * kc * kMR, kc, tokens + (t0 / kNR) * kc * kNR,
                            y + t0 * y_stride + p0 + m * kMR, y_stride, first, rows_mask(rows_left),
                            rows_mask(rows_left - 16));
        }
      }
    }
  }
}

}  // namespace chimera::engine::matmul_detail::avx512
