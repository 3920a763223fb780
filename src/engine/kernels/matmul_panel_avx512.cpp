// AVX-512 prefill GEMM through f32 panels. Measured on the reference Cascade Lake VM, zmm FMA
// issues twice per cycle but vpdpbusd about 0.8 times, so for many tokens it is faster to
// dequantize a panel of weights to f32 once and run a register-blocked FMA micro-kernel over all
// tokens than to dot 8-bit codes: 32 rows x 12 tokens of accumulators stay in registers, each
// weight vector loaded feeds 12 tokens, and activations are used unrounded (more accurate than the
// 8-bit path). The panel costs one dequantization per weight per call.
//
// Loop nest (per thread, over its rows), rows of at most kWholeKMax columns (every matrix of a
// 1B model but the FFN down projection): for each panel of kWholeKMC rows, dequantize the whole
// panel into [micro-panel][k][32 rows] (transposed, so one k step is two vector loads), then for
// each tile of 12 tokens and each micro-panel: c(32 x 12) = W(32 x K) x(12 x K)^T, written once.
// Longer rows: for each chunk of kKC columns, for each panel of kMC rows, the same, with the
// partial sums kept in y between chunks. (Measured, gemma3-1b F16 gate 6912 x 1152, 512 tokens, one
// thread: chunks 87-110 GOP/s, whole rows 123 GOP/s: the chunked order reads and writes every
// output 4.5 times, 12 rows far apart per micro-kernel, and pays the micro-kernel's entry and exit
// every 256 columns. With 6912 columns the whole-row order is slower, the packed tokens then
// coming from L3 for every panel.)
#include <cstdlib>
#include <cstring>
#include <memory>

#include "engine/kernels/matmul_avx512.h"
#include "engine/quant/quant.h"

namespace chimera::engine::matmul_detail::avx512 {
namespace {

constexpr int kMR = 32;       // rows per micro-kernel: two zmm
constexpr int kNR = 12;       // tokens per micro-kernel: 24 accumulators
constexpr int64_t kKC = 256;  // columns per chunk: a token tile (12 KiB) stays in L1
constexpr int64_t kMC = 256;  // rows per panel: 8 micro-panels of 32 KiB, 256 KiB in L2
// Matrices up to kWholeKMax columns go through in one chunk instead (see gemm_f32_panels): panels
// of kWholeKMC rows, a 32 x 1152 micro-panel (144 KiB) streaming from L2.
constexpr int64_t kWholeKMax = 1536;
constexpr int64_t kWholeKMC = 64;
constexpr int64_t kMaxBlock = 256;
constexpr int64_t kPanelFloats =
    kMC * kKC > kWholeKMC * kWholeKMax ? kMC * kKC : kWholeKMC * kWholeKMax;
constexpr int64_t kRowStride = kKC + 2 * kMaxBlock > kWholeKMax
                                   ? kKC + 2 * kMaxBlock  // a chunk plus the blocks it starts and ends in
                                   : kWholeKMax;

// Per-thread buffers, allocated on a thread's first prefill and reused: the packed panel and one
// dequantized row range. (The packed tokens are shared: the driver's scratch, see
// pack_panel_tokens.)
struct PanelBuffers {
  float* panel = nullptr;   // kPanelFloats
  float* rows = nullptr;    // kMR dequantized lines of kRowStride floats
  PanelBuffers() {
    panel = static_cast<float*>(std::aligned_alloc(64, kPanelFloats * sizeof(float)));
    rows = static_cast<float*>(std::aligned_alloc(64, kMR * kRowStride * sizeof(float)));
  }
  ~PanelBuffers() {
    std::free(panel);
    std::free(rows);
  }
};

PanelBuffers& thread_buffers() {
  thread_local PanelBuffers buffers;
  return buffers;
}

// Dequantizes n values (whole blocks) with AVX-512 for the types whose blocks are simple enough;
// the others go through the reference dequantize_row (K-quants: their cost is small beside the
// FMAs).
void dequantize_line(GgmlType type, const uint8_t* src, float* out, int64_t n) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16:
      if (n % 16 != 0)
        break;  // (float types have 1-wide blocks: a row not a multiple of 16 goes below)
      for (int64_t i = 0; i < n; i += 16) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * i));
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(h));
      }
      return;
    case GgmlType::kBF16:
      if (n % 16 != 0) break;
      for (int64_t i = 0; i < n; i += 16) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * i));
        _mm512_storeu_ps(out + i,
                         _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
      }
      return;
    case GgmlType::kQ8_0:  // {f16 d; int8 q[32]}
      for (int64_t b = 0; b < n / 32; ++b, src += 34, out += 32) {
        uint16_t d16;
        std::memcpy(&d16, src, 2);
        const __m512 d = _mm512_set1_ps(half_to_float(d16));
        const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2));
        const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 18));
        _mm512_storeu_ps(out, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0))));
        _mm512_storeu_ps(out + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1))));
      }
      return;
    case GgmlType::kQ4_0: {  // {f16 d; uint8 q[16]}: value j = (q[j] & 15) - 8, value j + 16 =
                             // (q[j] >> 4) - 8
      const __m512i eight = _mm512_set1_epi32(8), low = _mm512_set1_epi32(15);
      for (int64_t b = 0; b < n / 32; ++b, src += 18, out += 32) {
        uint16_t d16;
        std::memcpy(&d16, src, 2);
        const __m512 d = _mm512_set1_ps(half_to_float(d16));
        const __m512i q =
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2)));
        const __m512i lo = _mm512_sub_epi32(_mm512_and_si512(q, low), eight);
        const __m512i hi = _mm512_sub_epi32(_mm512_srli_epi32(q, 4), eight);
        _mm512_storeu_ps(out, _mm512_mul_ps(d, _mm512_cvtepi32_ps(lo)));
        _mm512_storeu_ps(out + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(hi)));
      }
      return;
    }
    case GgmlType::kQ5_0: {  // {f16 d; uint32 qh; uint8 q[16]}: bit j of qh is bit 4 of value j
      const __m512i sixteen = _mm512_set1_epi32(16), low = _mm512_set1_epi32(15);
      for (int64_t b = 0; b < n / 32; ++b, src += 22, out += 32) {
        uint16_t d16;
        uint32_t qh;
        std::memcpy(&d16, src, 2);
        std::memcpy(&qh, src + 2, 4);
        const __m512 d = _mm512_set1_ps(half_to_float(d16));
        const __m512i q =
            _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 6)));
        __m512i lo = _mm512_and_si512(q, low), hi = _mm512_srli_epi32(q, 4);
        lo = _mm512_mask_add_epi32(lo, static_cast<__mmask16>(qh & 0xFFFF), lo, sixteen);
        hi = _mm512_mask_add_epi32(hi, static_cast<__mmask16>(qh >> 16), hi, sixteen);
        _mm512_storeu_ps(out, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(lo, sixteen))));
        _mm512_storeu_ps(out + 16,
                         _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(hi, sixteen))));
      }
      return;
    }
    case GgmlType::kQ4_1:    // {f16 d, m; uint8 q[16]}: value = d * code + m, codes as Q4_0's
    case GgmlType::kQ5_1: {  // {f16 d, m; uint32 qh; uint8 q[16]}: bit j of qh is bit 4 of code j
      const bool five = type == GgmlType::kQ5_1;
      const int block_bytes = five ? 24 : 20, qs_offset = five ? 8 : 4;
      const __m512i sixteen = _mm512_set1_epi32(16), low = _mm512_set1_epi32(15);
      for (int64_t b = 0; b < n / 32; ++b, src += block_bytes, out += 32) {
        uint16_t d16, m16;
        uint32_t qh = 0;
        std::memcpy(&d16, src, 2);
        std::memcpy(&m16, src + 2, 2);
        if (five) std::memcpy(&qh, src + 4, 4);
        const __m512 d = _mm512_set1_ps(half_to_float(d16)), m = _mm512_set1_ps(half_to_float(m16));
        const __m512i q = _mm512_cvtepu8_epi32(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + qs_offset)));
        __m512i lo = _mm512_and_si512(q, low), hi = _mm512_srli_epi32(q, 4);
        lo = _mm512_mask_add_epi32(lo, static_cast<__mmask16>(qh & 0xFFFF), lo, sixteen);
        hi = _mm512_mask_add_epi32(hi, static_cast<__mmask16>(qh >> 16), hi, sixteen);
        // Product and sum rounded apart, as dequantize_row: the same weights as every other path.
        _mm512_storeu_ps(out, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(lo), d), m));
        _mm512_storeu_ps(out + 16, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(hi), d), m));
      }
      return;
    }
    default:
      break;
  }
  dequantize_row(type, src, out, n);
}

// In-register transpose of a 16 x 16 tile: four rounds of pairing row i with row i + 8 (lower
// halves interleaved into row 2i, upper halves into row 2i + 1). Each round rotates the 8-bit (row,
// column) index left by one, so four rounds swap row and column.
inline void transpose16(__m512 (&v)[16]) {
  const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  for (int round = 0; round < 4; ++round) {
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_permutex2var_ps(v[i], lo, v[i + 8]);
      t[2 * i + 1] = _mm512_permutex2var_ps(v[i], hi, v[i + 8]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) v[i] = t[i];
  }
}

// Dequantizes rows [r0, r0 + rows) x columns [k0, k0 + kc) into the panel, transposed per
// micro-panel: panel[(m * kc + k) * 32 + rr] = W[r0 + 32m + rr][k0 + k]; rows past `rows` are zero.
// Each row is dequantized into a row-major scratch line, then 16 x 16 tiles are transposed in
// registers.
void pack_panel(const WeightMatrix& w, int64_t r0, int64_t rows, int64_t k0, int64_t kc,
                PanelBuffers& buf) {
  // (the out-of-line lookup: no inline helper from a shared header is instantiated with these ISA
  // flags)
  const GgmlTypeInfo& info = *ggml_type_info(static_cast<uint32_t>(w.type));
  const int64_t block = info.block_size;
  const int64_t b0 = k0 / block * block;                     // first block touching the chunk
  const int64_t b1 = (k0 + kc + block - 1) / block * block;  // end of the last one
  const size_t block_bytes = static_cast<size_t>(info.block_bytes);
  const int64_t micro_panels = (rows + kMR - 1) / kMR;
  for (int64_t m = 0; m < micro_panels; ++m) {
    float* dst = buf.panel + m * kc * kMR;
    const int64_t live = rows - 32 * m < kMR ? rows - 32 * m : kMR;
    if (w.type == GgmlType::kF16 && live == kMR && kc % 16 == 0) {
      // F16 (the float type models ship in): widened straight from the weights into the
      // transpose, no scratch line; the next micro-panel's columns are prefetched meanwhile.
      const auto* first = static_cast<const uint8_t*>(w.data) +
                          static_cast<size_t>(r0 + 32 * m) * w.row_bytes + static_cast<size_t>(k0) * 2;
      for (int64_t j0 = 0; j0 < kc; j0 += 16) {
        for (int half = 0; half < 2; ++half) {
          __m512 v[16];
#pragma GCC unroll 16
          for (int i = 0; i < 16; ++i) {
            const uint8_t* src = first + static_cast<size_t>(16 * half + i) * w.row_bytes + 2 * j0;
            _mm_prefetch(reinterpret_cast<const char*>(src + 32 * w.row_bytes), _MM_HINT_T0);
            v[i] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)));
          }
          transpose16(v);
#pragma GCC unroll 16
          for (int c = 0; c < 16; ++c) _mm512_store_ps(dst + (j0 + c) * kMR + 16 * half, v[c]);
        }
      }
      continue;
    }
    for (int64_t rr = 0; rr < live; ++rr) {
      const uint8_t* src = static_cast<const uint8_t*>(w.data) +
                           static_cast<size_t>(r0 + 32 * m + rr) * w.row_bytes +
                           static_cast<size_t>(b0 / block) * block_bytes;
      dequantize_line(w.type, src, buf.rows + rr * kRowStride, b1 - b0);
    }
    const int64_t skip = k0 - b0;
    for (int64_t j0 = 0; j0 < kc; j0 += 16) {
      const int64_t width = kc - j0 < 16 ? kc - j0 : 16;
      const __mmask16 cols =
          width == 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << width) - 1);
      for (int half = 0; half < 2; ++half) {
        __m512 v[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) {
          const int64_t rr = 16 * half + i;
          v[i] = rr < live ? _mm512_maskz_loadu_ps(cols, buf.rows + rr * kRowStride + skip + j0)
                           : _mm512_setzero_ps();
        }
        transpose16(v);
        for (int64_t c = 0; c < width; ++c) _mm512_store_ps(dst + (j0 + c) * kMR + 16 * half, v[c]);
      }
    }
  }
}

// Copies columns [k0, k0 + kc) of nt (<= kNR) tokens into one tile, [k][kNR], so each
// micro-kernel reads its activations as one sequential stream (short strided rows defeat the
// prefetchers); lanes past nt are zero. 16 columns of the tile's tokens are one 16 x 16 register
// transpose (rows past nt zero), and its 16 rows of kNR values are consecutive floats of the tile.
void pack_tile(const float* x, int64_t x_stride, int64_t nt, int64_t k0, int64_t kc, float* tile) {
  static_assert(kNR <= 16);
  constexpr __mmask16 kTileLanes = static_cast<__mmask16>((1u << kNR) - 1);
  for (int64_t j0 = 0; j0 < kc; j0 += 16) {
    const int64_t width = kc - j0 < 16 ? kc - j0 : 16;
    const __mmask16 cols =
        width == 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << width) - 1);
    __m512 v[16];
#pragma GCC unroll 16
    for (int t = 0; t < 16; ++t)
      v[t] = t < nt ? _mm512_maskz_loadu_ps(cols, x + t * x_stride + k0 + j0) : _mm512_setzero_ps();
    transpose16(v);
    for (int64_t c = 0; c < width; ++c)
      _mm512_mask_storeu_ps(tile + (j0 + c) * kNR, kTileLanes, v[c]);
  }
}

// Columns per chunk, for the packed tokens and the panels alike: the whole row up to kWholeKMax.
inline int64_t chunk_columns(int64_t cols) { return cols <= kWholeKMax ? cols : kKC; }

// Where (in floats) the tile of tokens [12 i, 12 i + 12) starts for the chunk at column k0 (kc
// wide): chunks one after the other, each holding all tiles.
inline int64_t tile_offset(int64_t tiles, int64_t k0, int64_t kc, int64_t i) {
  return (k0 * tiles + i * kc) * kNR;
}

// c[t][0..1] (rows 0..15, 16..31) for NT tokens over kc columns; accumulates into y unless `first`.
// x is a packed tile: x[k * kNR + t].
template <int NT>
void micro_kernel(const float* panel, int64_t kc, const float* x, float* y, int64_t y_stride,
                  bool first, __mmask16 mask0, __mmask16 mask1) {
  // The partial sums in y are read only after the k loop: prefetched now, their lines (12 tokens'
  // rows, far apart) arrive while the FMAs run instead of stalling the start.
  if (!first) {
#pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) {
      _mm_prefetch(reinterpret_cast<const char*>(y + t * y_stride), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(y + t * y_stride + 31), _MM_HINT_T0);
    }
  }
  __m512 c[NT][2];
#pragma GCC unroll 16
  for (int t = 0; t < NT; ++t) {
    c[t][0] = _mm512_setzero_ps();
    c[t][1] = _mm512_setzero_ps();
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
    if (!first) {
      c[t][0] = _mm512_add_ps(c[t][0], _mm512_maskz_loadu_ps(mask0, y + t * y_stride));
      c[t][1] = _mm512_add_ps(c[t][1], _mm512_maskz_loadu_ps(mask1, y + t * y_stride + 16));
    }
    _mm512_mask_storeu_ps(y + t * y_stride, mask0, c[t][0]);
    _mm512_mask_storeu_ps(y + t * y_stride + 16, mask1, c[t][1]);
  }
}

using MicroKernel = void (*)(const float*, int64_t, const float*, float*, int64_t, bool, __mmask16,
                             __mmask16);
constexpr MicroKernel kMicroKernels[kNR + 1] = {
    nullptr,          micro_kernel<1>,  micro_kernel<2>, micro_kernel<3>, micro_kernel<4>,
    micro_kernel<5>,  micro_kernel<6>,  micro_kernel<7>, micro_kernel<8>, micro_kernel<9>,
    micro_kernel<10>, micro_kernel<11>, micro_kernel<12>};

__mmask16 rows_mask(int64_t rows) {
  return rows >= 16  ? static_cast<__mmask16>(0xFFFF)
         : rows <= 0 ? 0
                     : static_cast<__mmask16>((1u << rows) - 1);
}

}  // namespace

size_t panel_act_bytes(int64_t n_tokens, int64_t cols) {
  return static_cast<size_t>((n_tokens + kNR - 1) / kNR * kNR * cols) * sizeof(float);
}

void pack_panel_tokens(const float* x, int64_t n_tokens, int64_t cols, int64_t t_begin,
                       int64_t t_end, void* out) {
  const int64_t tiles = (n_tokens + kNR - 1) / kNR;
  const int64_t chunk = chunk_columns(cols);
  for (int64_t t0 = t_begin; t0 < t_end; t0 += kNR) {
    const int64_t nt = n_tokens - t0 < kNR ? n_tokens - t0 : kNR;
    for (int64_t k0 = 0; k0 < cols; k0 += chunk) {
      const int64_t kc = cols - k0 < chunk ? cols - k0 : chunk;
      pack_tile(x + t0 * cols, cols, nt, k0, kc,
                static_cast<float*>(out) + tile_offset(tiles, k0, kc, t0 / kNR));
    }
  }
}

// Same contract as GemmFn, with the tokens packed by pack_panel_tokens (act; act_stride unused).
void gemm_f32_panels(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                     size_t /*act_stride*/, int64_t n_tokens, float* y, int64_t y_stride) {
  PanelBuffers& buf = thread_buffers();
  const auto* packed = static_cast<const float*>(act);
  const int64_t tiles = (n_tokens + kNR - 1) / kNR;
  // Whole rows: one chunk, so the panels are the outer loop.
  const int64_t chunk = chunk_columns(w.cols);
  const int64_t panel_height = w.cols <= kWholeKMax ? kWholeKMC : kMC;
  for (int64_t k0 = 0; k0 < w.cols; k0 += chunk) {
    const int64_t kc = w.cols - k0 < chunk ? w.cols - k0 : chunk;
    const bool first = k0 == 0;
    for (int64_t p0 = row_begin; p0 < row_end; p0 += panel_height) {
      const int64_t panel_rows = row_end - p0 < panel_height ? row_end - p0 : panel_height;
      pack_panel(w, p0, panel_rows, k0, kc, buf);
      // Tokens outer, micro-panels inner: the token tile (12 KiB in a 256-column chunk) stays in L1
      // while the panel's micro-panels stream from L2.
      for (int64_t t0 = 0; t0 < n_tokens; t0 += kNR) {
        const int64_t nt = n_tokens - t0 < kNR ? n_tokens - t0 : kNR;
        const float* tile = packed + tile_offset(tiles, k0, kc, t0 / kNR);
        for (int64_t m = 0; m * kMR < panel_rows; ++m) {
          const int64_t rows_left = panel_rows - m * kMR;
          kMicroKernels[nt](buf.panel + m * kc * kMR, kc, tile, y + t0 * y_stride + p0 + m * kMR,
                            y_stride, first, rows_mask(rows_left), rows_mask(rows_left - 16));
        }
      }
    }
  }
}

}  // namespace chimera::engine::matmul_detail::avx512
