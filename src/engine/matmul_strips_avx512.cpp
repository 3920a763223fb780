// VNNI kernels for batches of tokens (batched decode, prefill) over Q4_0 and Q8_0 weights, with the
// rows in the vector lanes: dword lane r of code vector j holds row r's codes 4j..4j+3 of a block
// (unsigned: Q4_0 codes as they are, Q8_0 codes + 128). One vpdpbusd with a token's 4 activation
// codes broadcast then advances 16 rows x 4 values, and a block's 16 row sums come out in one
// vector: per block and token, 8 vpdpbusd and 3 f32 ops (convert, scale, accumulate), against 8 and
// 12 in the one-row-per-lane tiles (matmul_avx512.cpp), whose f32 work per block, not the integer
// dots, bounds them once weights come from cache.
//
// Activations are the ActGroup32 rows of matmul_kernels.h (codes of block b in lane b of lo/hi, d
// and bias per block), read with broadcasts; the bias (-offset * sum of the block's codes) starts
// each block's sum and removes the weights' code offset (8 for Q4_0, 128 for Q8_0).
//
// Two sources of blocks in that layout: matrices repacked at load (weight_interleave.h; the
// default on this path), read as they are; and row-major matrices (CHIMERA_INTERLEAVE=0, or rows
// not a multiple of 16), whose strips are transposed here on every call: in registers for up to 8
// tokens, else once into a per-thread buffer (576 bytes per block) that every tile of up to 16
// tokens then reads from L1/L2.
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/matmul_avx512.h"
#include "engine/quant.h"

namespace chimera::engine::matmul_detail::avx512 {
namespace {

constexpr int kStripRows = 16;
constexpr int kMaxTileTokens = 16;
constexpr int kFusedMaxTokens = 8;
constexpr int kInterleavedTileTokens =
    8;  // 8 dot chains + 8 sums + 8 code vectors fill the registers

struct alignas(64) PackedBlock {
  __m512i codes[8];  // vector j: row r's codes 4j..4j+3 in dword r
  __m512 d;          // row r's scale in lane r
};
static_assert(sizeof(PackedBlock) == 576);

// Where a block's 16 rows are: row 4l + q at quad[l] + q * stride. Four pointers and the stride
// keep every address a base + index * scale form (an array of 16 row pointers, advanced per block,
// went through the stack: the compiler updated it as one vector, and each scalar reload then
// waited for that store; 40% of the packing time).
struct StripRows {
  const uint8_t* quad[4];
  int64_t stride;
  const uint8_t* row(int l, int q) const { return quad[l] + q * stride; }
  void advance(int bytes) {
    for (const uint8_t*& p : quad) p += bytes;
  }
};

inline __m128i load16(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// The 16 rows' 16-byte code windows at byte `offset` of their blocks, as 4 vectors of the rows'
// dwords 0..3: result m, dword r = row r's bytes 4m..4m+3.
[[gnu::always_inline]] inline void transpose_rows(const StripRows& rows, int offset,
                                                  __m512i (&out)[4]) {
  __m512i z[4];  // z[q], lane l = row 4l + q
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    __m512i v = _mm512_castsi128_si512(load16(rows.row(0, q) + offset));
    v = _mm512_inserti32x4(v, load16(rows.row(1, q) + offset), 1);
    v = _mm512_inserti32x4(v, load16(rows.row(2, q) + offset), 2);
    z[q] = _mm512_inserti32x4(v, load16(rows.row(3, q) + offset), 3);
  }
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  out[0] = _mm512_unpacklo_epi64(t0, t2);
  out[1] = _mm512_unpackhi_epi64(t0, t2);
  out[2] = _mm512_unpacklo_epi64(t1, t3);
  out[3] = _mm512_unpackhi_epi64(t1, t3);
}

// The 16 rows' block scales (each block's first 2 bytes, f16) as f32, row r in lane r: four rows'
// words combined in a general register, then moved over. (A vpgatherdd, or 16 two-byte stores read
// back as one vector, each stalled the packing of every block.)
[[gnu::always_inline]] inline __m256i load_scales_f16(const StripRows& rows) {
  auto quad = [&](int l) {
    uint64_t q = 0;
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      uint16_t h;
      std::memcpy(&h, rows.row(l, i), sizeof(h));
      q |= static_cast<uint64_t>(h) << (16 * i);
    }
    return static_cast<long long>(q);
  };
  return _mm256_setr_epi64x(quad(0), quad(1), quad(2), quad(3));
}

[[gnu::always_inline]] inline __m512 load_scales(const StripRows& rows) {
  return _mm512_cvtph_ps(load_scales_f16(rows));
}

template <GgmlType kType>
struct StripFormat;

template <>
struct StripFormat<GgmlType::kQ4_0> {
  static constexpr int kBlockBytes =
      sizeof(BlockQ4_0);  // d (f16), 16 bytes: code i low, code i + 16 high
  [[gnu::always_inline]] static void pack(const StripRows& rows, PackedBlock& p) {
    __m512i dw[4];
    transpose_rows(rows, 2, dw);
    const __m512i nibble = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) {
      p.codes[m] = _mm512_and_si512(dw[m], nibble);
      p.codes[4 + m] = _mm512_and_si512(_mm512_srli_epi16(dw[m], 4), nibble);
    }
  }
};

template <>
struct StripFormat<GgmlType::kQ8_0> {
  static constexpr int kBlockBytes = sizeof(BlockQ8_0);  // d (f16), 32 signed codes
  [[gnu::always_inline]] static void pack(const StripRows& rows, PackedBlock& p) {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));  // signed -> unsigned: + 128
    __m512i dw[4];
    transpose_rows(rows, 2, dw);
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) p.codes[m] = _mm512_xor_si512(dw[m], flip);
    transpose_rows(rows, 18, dw);
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) p.codes[4 + m] = _mm512_xor_si512(dw[m], flip);
  }
};

// Repacks 16 consecutive rows (row_bytes apart, starting at `first`) into nb packed blocks.
template <GgmlType kType>
void pack_full_strip(const uint8_t* first, size_t row_bytes, int64_t nb, PackedBlock* out) {
  using Format = StripFormat<kType>;
  StripRows rows{};
  rows.stride = static_cast<int64_t>(row_bytes);
  for (int l = 0; l < 4; ++l) rows.quad[l] = first + static_cast<size_t>(4 * l) * row_bytes;
  // The strip is 16 consecutive rows, one contiguous range read as 16 streams: prefetch the next
  // strip as this one is packed (see StripPrefetcher).
  const StripPrefetcher prefetcher(first, kStripRows * row_bytes);
  for (int64_t b = 0; b < nb; ++b) {
    prefetcher.slice(static_cast<size_t>(b) * kStripRows * Format::kBlockBytes,
                     kStripRows * Format::kBlockBytes);
    PackedBlock& p = out[b];
    Format::pack(rows, p);
    p.d = load_scales(rows);
    rows.advance(Format::kBlockBytes);
  }
}

// Repacks rows [r0, r0 + 16) of w into nb packed blocks. A strip with fewer rows (`rows_left`)
// packs its last row again in the missing lanes, whose sums are not stored.
template <GgmlType kType>
void pack_strip(const WeightMatrix& w, int64_t r0, int64_t rows_left, PackedBlock* out) {
  const uint8_t* first =
      static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r0) * w.row_bytes;
  const int64_t nb = w.cols / 32;
  if (rows_left == kStripRows) return pack_full_strip<kType>(first, w.row_bytes, nb, out);
  // Rows past the matrix must not be read: copy the rows there are into a full-height staging strip
  // (only a matrix's last strip, when rows % 16 != 0).
  thread_local std::vector<uint8_t> staging;
  staging.resize(kStripRows * w.row_bytes);
  for (int64_t r = 0; r < kStripRows; ++r) {
    const int64_t row = r < rows_left ? r : rows_left - 1;
    std::copy_n(first + static_cast<size_t>(row) * w.row_bytes, w.row_bytes,
                staging.data() + r * w.row_bytes);
  }
  pack_full_strip<kType>(staging.data(), w.row_bytes, nb, out);
}

// acc[t] (lane r: row r) += d_w[r] * d_a * (codes . activation codes + bias) of block b for T
// tokens.
template <int T>
[[gnu::always_inline]] inline void accumulate_block(const PackedBlock& p, int64_t b,
                                                    const uint8_t* act, size_t act_stride,
                                                    __m512 (&acc)[T]) {
  const __m512i w0 = p.codes[0], w1 = p.codes[1], w2 = p.codes[2], w3 = p.codes[3];
  const __m512i w4 = p.codes[4], w5 = p.codes[5], w6 = p.codes[6], w7 = p.codes[7];
  const __m512 dw = p.d;
  const size_t group = static_cast<size_t>(b / 4) * sizeof(ActGroup32);
  const int sub = static_cast<int>(b % 4);
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    const auto& g = *reinterpret_cast<const ActGroup32*>(act + t * act_stride + group);
    const auto* lo = reinterpret_cast<const int32_t*>(g.lo + 16 * sub);
    const auto* hi = reinterpret_cast<const int32_t*>(g.hi + 16 * sub);
    __m512i s = _mm512_set1_epi32(g.bias[4 * sub]);
    s = _mm512_dpbusd_epi32(s, w0, _mm512_set1_epi32(lo[0]));
    s = _mm512_dpbusd_epi32(s, w1, _mm512_set1_epi32(lo[1]));
    s = _mm512_dpbusd_epi32(s, w2, _mm512_set1_epi32(lo[2]));
    s = _mm512_dpbusd_epi32(s, w3, _mm512_set1_epi32(lo[3]));
    s = _mm512_dpbusd_epi32(s, w4, _mm512_set1_epi32(hi[0]));
    s = _mm512_dpbusd_epi32(s, w5, _mm512_set1_epi32(hi[1]));
    s = _mm512_dpbusd_epi32(s, w6, _mm512_set1_epi32(hi[2]));
    s = _mm512_dpbusd_epi32(s, w7, _mm512_set1_epi32(hi[3]));
    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(g.d[4 * sub])),
                             acc[t]);
  }
}

// accumulate_block with the dots issued value-group by value-group across the T tokens: T
// independent vpdpbusd chains in flight instead of one token's chain of 8 (latency 5 each) at a
// time.
template <int T>
[[gnu::always_inline]] inline void accumulate_block_wide(const PackedBlock& p, int64_t b,
                                                         const uint8_t* act, size_t act_stride,
                                                         __m512 (&acc)[T]) {
  const size_t group = static_cast<size_t>(b / 4) * sizeof(ActGroup32);
  const int sub = static_cast<int>(b % 4);
  const ActGroup32* g[T];
  __m512i s[T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    g[t] = reinterpret_cast<const ActGroup32*>(act + t * act_stride + group);
    s[t] = _mm512_set1_epi32(g[t]->bias[4 * sub]);
  }
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const auto* codes =
          reinterpret_cast<const int32_t*>((j < 4 ? g[t]->lo : g[t]->hi) + 16 * sub) + (j % 4);
      s[t] = _mm512_dpbusd_epi32(s[t], p.codes[j], _mm512_set1_epi32(*codes));
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]),
                             _mm512_mul_ps(p.d, _mm512_set1_ps(g[t]->d[4 * sub])), acc[t]);
  }
}

// T tokens over a strip packed into `packed`.
template <int T>
void strip_tile(const PackedBlock* packed, int64_t nb, const uint8_t* act, size_t act_stride,
                float* y, int64_t y_stride, __mmask16 row_mask) {
  __m512 acc[T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) accumulate_block<T>(packed[b], b, act, act_stride, acc);
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * y_stride, row_mask, acc[t]);
}

// T tokens over 16 full rows, each block packed in registers and used at once (no buffer: for the
// few tokens of a batched decode step, where the packing is as costly as the dots).
template <GgmlType kType, int T>
void fused_strip(const uint8_t* first, size_t row_bytes, int64_t nb, const uint8_t* act,
                 size_t act_stride, float* y, int64_t y_stride, __mmask16 row_mask) {
  using Format = StripFormat<kType>;
  StripRows rows{};
  rows.stride = static_cast<int64_t>(row_bytes);
  for (int l = 0; l < 4; ++l) rows.quad[l] = first + static_cast<size_t>(4 * l) * row_bytes;
  const StripPrefetcher prefetcher(first, kStripRows * row_bytes);
  __m512 acc[T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    prefetcher.slice(static_cast<size_t>(b) * kStripRows * Format::kBlockBytes,
                     kStripRows * Format::kBlockBytes);
    PackedBlock p;
    Format::pack(rows, p);
    p.d = load_scales(rows);
    accumulate_block_wide<T>(p, b, act, act_stride, acc);
    rows.advance(Format::kBlockBytes);
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * y_stride, row_mask, acc[t]);
}

template <GgmlType kType, int T = kFusedMaxTokens>
void fused_strip_tokens(int64_t tokens, const uint8_t* first, size_t row_bytes, int64_t nb,
                        const uint8_t* act, size_t act_stride, float* y, int64_t y_stride,
                        __mmask16 row_mask) {
  if constexpr (T > 1) {
    if (tokens < T) {
      return fused_strip_tokens<kType, T - 1>(tokens, first, row_bytes, nb, act, act_stride, y,
                                              y_stride, row_mask);
    }
  }
  fused_strip<kType, T>(first, row_bytes, nb, act, act_stride, y, y_stride, row_mask);
}

template <int T = kMaxTileTokens>
void strip_tile_tail(int64_t tokens, const PackedBlock* packed, int64_t nb, const uint8_t* act,
                     size_t act_stride, float* y, int64_t y_stride, __mmask16 row_mask) {
  if constexpr (T > 1) {
    if (tokens < T)
      return strip_tile_tail<T - 1>(tokens, packed, nb, act, act_stride, y, y_stride, row_mask);
  }
  strip_tile<T>(packed, nb, act, act_stride, y, y_stride, row_mask);
}

template <GgmlType kType>
void gemm_strips(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                 size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride) {
  thread_local std::vector<PackedBlock> buffer;  // grows to the widest matrix once per thread
  const int64_t nb = w.cols / 32;
  if (buffer.size() < static_cast<size_t>(nb)) buffer.resize(static_cast<size_t>(nb));
  const auto* a = static_cast<const uint8_t*>(act);
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kStripRows) {
    const int64_t rows = row_end - r0 < kStripRows ? row_end - r0 : kStripRows;
    const auto row_mask = static_cast<__mmask16>(rows == kStripRows ? 0xFFFF : (1u << rows) - 1);
    if (n_tokens <= kFusedMaxTokens && rows == kStripRows) {
      fused_strip_tokens<kType>(n_tokens, base + static_cast<size_t>(r0) * w.row_bytes, w.row_bytes,
                                nb, a, act_stride, y + r0, y_stride, row_mask);
      continue;
    }
    pack_strip<kType>(w, r0, rows, buffer.data());
    for (int64_t t = 0; t < n_tokens; t += kMaxTileTokens) {
      strip_tile_tail(n_tokens - t, buffer.data(), nb, a + t * act_stride, act_stride,
                      y + t * y_stride + r0, y_stride, row_mask);
    }
  }
}

// --- Matrices interleaved at load (weight_interleave.h): the blocks are already in the strip
// layout, so a block costs its loads and the Q4_0 nibble split instead of a repack.

template <GgmlType kType>
[[gnu::always_inline]] inline void load_interleaved(const uint8_t* block, PackedBlock& p) {
  p.d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block)));
  const uint8_t* codes = block + 32;  // 288 / 352 / 544-byte blocks: not 64-byte aligned
  if constexpr (kType == GgmlType::kQ4_0 || kType == GgmlType::kQ5_0) {
    constexpr int kNibbles = kType == GgmlType::kQ5_0 ? 64 : 0;  // Q5_0: after the qh vector
    const __m512i nibble = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) {
      const __m512i v = _mm512_loadu_si512(codes + kNibbles + 64 * m);
      p.codes[m] = _mm512_and_si512(v, nibble);
      p.codes[4 + m] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
    }
    if constexpr (kType == GgmlType::kQ5_0) {
      // Code k's 5th bit is bit k of the row's qh. Vector j needs bits 4j..4j+3, all in byte j / 2
      // of qh: copy that byte to the 4 bytes of the row's dword, test byte i for bit 4 (j % 2) + i.
      const __m512i qh = _mm512_loadu_si512(codes);
      const __m512i sixteen = _mm512_set1_epi8(16);
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        const auto b = static_cast<int>(0x01010101u * static_cast<uint32_t>(j / 2));
        const __m512i spread = _mm512_shuffle_epi8(
            qh, _mm512_add_epi32(_mm512_set1_epi32(b),
                                 _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0)));
        const __m512i bits =
            _mm512_set1_epi32(j % 2 == 0 ? 0x08040201 : static_cast<int>(0x80402010u));
        p.codes[j] = _mm512_mask_add_epi8(p.codes[j], _mm512_test_epi8_mask(spread, bits),
                                          p.codes[j], sixteen);
      }
    }
  } else {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j)
      p.codes[j] = _mm512_xor_si512(_mm512_loadu_si512(codes + 64 * j), flip);
  }
}

template <GgmlType kType, int T>
void interleaved_tile(const uint8_t* strip, size_t block16, int64_t nb, const uint8_t* act,
                      size_t act_stride, float* y, int64_t y_stride) {
  // A strip is one contiguous range: prefetch the next one while this one is read (one token reads
  // it straight from memory).
  const StripPrefetcher prefetcher(strip, static_cast<size_t>(nb) * block16);
  __m512 acc[T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    prefetcher.slice(static_cast<size_t>(b) * block16, block16);
    PackedBlock p;
    load_interleaved<kType>(strip + static_cast<size_t>(b) * block16, p);
    accumulate_block_wide<T>(p, b, act, act_stride, acc);
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * y_stride, acc[t]);
}

template <GgmlType kType, int T = kInterleavedTileTokens>
void interleaved_tile_tokens(int64_t tokens, const uint8_t* strip, size_t block16, int64_t nb,
                             const uint8_t* act, size_t act_stride, float* y, int64_t y_stride) {
  if constexpr (T > 1) {
    if (tokens < T) {
      return interleaved_tile_tokens<kType, T - 1>(tokens, strip, block16, nb, act, act_stride, y,
                                                   y_stride);
    }
  }
  interleaved_tile<kType, T>(strip, block16, nb, act, act_stride, y, y_stride);
}

template <GgmlType kType>
void gemm_interleaved(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                      size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride) {
  constexpr size_t kBlock16 = kStripRows * (kType == GgmlType::kQ4_0   ? sizeof(BlockQ4_0)
                                            : kType == GgmlType::kQ5_0 ? sizeof(BlockQ5_0)
                                                                       : sizeof(BlockQ8_0));
  const int64_t nb = w.cols / 32;
  const auto* a = static_cast<const uint8_t*>(act);
  const auto* base = static_cast<const uint8_t*>(w.data);
  // row_begin and row_end are multiples of 16 (the matrix's rows are; the splitter keeps 16-row
  // blocks).
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kStripRows) {
    const uint8_t* strip = base + static_cast<size_t>(r0 / kStripRows * nb) * kBlock16;
    for (int64_t t = 0; t < n_tokens; t += kInterleavedTileTokens) {
      interleaved_tile_tokens<kType>(n_tokens - t, strip, kBlock16, nb, a + t * act_stride,
                                     act_stride, y + t * y_stride + r0, y_stride);
    }
  }
}

}  // namespace

void gemm_strips_q4_0(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                      size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride) {
  gemm_strips<GgmlType::kQ4_0>(w, row_begin, row_end, act, act_stride, n_tokens, y, y_stride);
}

void gemm_strips_q8_0(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                      size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride) {
  gemm_strips<GgmlType::kQ8_0>(w, row_begin, row_end, act, act_stride, n_tokens, y, y_stride);
}

void gemm_interleaved_q4_0(const WeightMatrix& w, int64_t row_begin, int64_t row_end,
                           const void* act, size_t act_stride, int64_t n_tokens, float* y,
                           int64_t y_stride) {
  gemm_interleaved<GgmlType::kQ4_0>(w, row_begin, row_end, act, act_stride, n_tokens, y, y_stride);
}

void gemm_interleaved_q5_0(const WeightMatrix& w, int64_t row_begin, int64_t row_end,
                           const void* act, size_t act_stride, int64_t n_tokens, float* y,
                           int64_t y_stride) {
  gemm_interleaved<GgmlType::kQ5_0>(w, row_begin, row_end, act, act_stride, n_tokens, y, y_stride);
}

void gemm_interleaved_q8_0(const WeightMatrix& w, int64_t row_begin, int64_t row_end,
                           const void* act, size_t act_stride, int64_t n_tokens, float* y,
                           int64_t y_stride) {
  gemm_interleaved<GgmlType::kQ8_0>(w, row_begin, row_end, act, act_stride, n_tokens, y, y_stride);
}

// The load-time repack (weight_interleave.h) with the strips' transposes: each row's payload dwords
// (the bytes after d) as they are in the file, the scales as f16.
void interleave_strips_avx512(const WeightMatrix& w, int64_t strip_begin, int64_t strip_end,
                              uint8_t* out) {
  const GgmlType type = w.type;
  const int block_bytes = type == GgmlType::kQ4_0   ? sizeof(BlockQ4_0)
                          : type == GgmlType::kQ5_0 ? sizeof(BlockQ5_0)
                                                    : sizeof(BlockQ8_0);
  const size_t block16 = kStripRows * static_cast<size_t>(block_bytes);
  const int64_t nb = w.cols / 32;
  for (int64_t s = strip_begin; s < strip_end; ++s) {
    const uint8_t* first =
        static_cast<const uint8_t*>(w.data) + static_cast<size_t>(s) * kStripRows * w.row_bytes;
    StripRows rows{};
    rows.stride = static_cast<int64_t>(w.row_bytes);
    for (int l = 0; l < 4; ++l) rows.quad[l] = first + static_cast<size_t>(4 * l) * w.row_bytes;
    uint8_t* dst = out + static_cast<size_t>(s * nb) * block16;
    for (int64_t b = 0; b < nb; ++b, dst += block16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), load_scales_f16(rows));
      __m512i dw[4];
      transpose_rows(rows, 2, dw);  // payload dwords 0..3 (every window stays inside its block)
      const int first_four = type == GgmlType::kQ5_0 ? 1 : 4;  // Q5_0: only qh from this window
      for (int m = 0; m < first_four; ++m) _mm512_storeu_si512(dst + 32 + 64 * m, dw[m]);
      if (type != GgmlType::kQ4_0) {
        const int offset =
            type == GgmlType::kQ5_0 ? 6 : 18;  // Q5_0: the nibbles; Q8_0: codes 16..31
        const int into = type == GgmlType::kQ5_0 ? 1 : 4;
        transpose_rows(rows, offset, dw);
        for (int m = 0; m < 4; ++m) _mm512_storeu_si512(dst + 32 + 64 * (into + m), dw[m]);
      }
      rows.advance(block_bytes);
    }
  }
}

}  // namespace chimera::engine::matmul_detail::avx512

namespace chimera::engine::matmul_detail {

void interleave_strips_avx512(const WeightMatrix& w, int64_t strip_begin, int64_t strip_end,
                              uint8_t* out) {
  avx512::interleave_strips_avx512(w, strip_begin, strip_end, out);
}

}  // namespace chimera::engine::matmul_detail
