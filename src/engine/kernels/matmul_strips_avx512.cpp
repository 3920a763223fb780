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
// each block's sum and removes the weights' code offset (8 for Q4_0, 128 for Q8_0). Matrices
// interleaved at load also come as Q5_0, Q4_1 / Q5_1 (offsets m per row, applied to the code sums
// like Q4_K's mins), Q4_K, Q6_K and MXFP4 (codes looked up as doubled E2M1 values + 12).
//
// Two sources of blocks in that layout: matrices repacked at load (weight_interleave.h; the
// default on this path), read as they are; and row-major matrices (CHIMERA_INTERLEAVE=0, or rows
// not a multiple of 16), whose strips are transposed here on every call: in registers for up to 8
// tokens, else once into a per-thread buffer (576 bytes per block) that every tile of up to 8
// tokens then reads from L1/L2.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "engine/kernels/matmul_avx512.h"
#include "engine/kernels/weight_interleave.h"
#include "engine/quant/quant.h"

namespace chimera::engine::matmul_detail::avx512 {
namespace {

constexpr int kStripRows = 16;
constexpr int kTileTokens = 8;  // 8 dot chains + 8 sums + 8 code vectors fill the registers

// Q5_0 / Q5_1: the payload starts with the codes' fifth bits (qh), then the nibbles.
constexpr bool has_high_bits(GgmlType type) {
  return type == GgmlType::kQ5_0 || type == GgmlType::kQ5_1;
}

struct alignas(64) PackedBlock {
  __m512i codes[8];  // vector j: row r's codes 4j..4j+3 in dword r
  __m512 d;          // row r's scale in lane r
};
static_assert(sizeof(PackedBlock) == 576);

// Q4_K's 32-value sub-blocks: value = d * sc * code - dmin * m per row, so beside the codes' scale
// (d * sc in d) a block carries the rows' offsets dmin * m, applied to the activations' code sums.
// Q4_1 / Q5_1 blocks (value = d * code + m) use it too, with -m in dm.
struct alignas(64) PackedBlockK : PackedBlock {
  __m512 dm;  // row r's dmin * m in lane r
};

// Q6_K's 32-value sub-blocks: a scale per 16 values, so d (codes 0..15) and d_high (16..31).
struct alignas(64) PackedBlockHalves : PackedBlock {
  __m512 d_high;
};

// Where a block's 16 rows are: row 4l + q at quad[l] + q * stride. Four pointers and the stride
// keep every address a base + index * scale form (an array of 16 row pointers, advanced per block,
// went through the stack: the compiler updated it as one vector, and each scalar reload then
// waited for that store; 40% of the packing time).
struct StripRows {
  const uint8_t* quad[4];
  int64_t stride;
  // The 16 consecutive rows from `first`, row_bytes apart.
  static StripRows at(const uint8_t* first, size_t row_bytes) {
    StripRows rows{};
    rows.stride = static_cast<int64_t>(row_bytes);
    for (int l = 0; l < 4; ++l) rows.quad[l] = first + static_cast<size_t>(4 * l) * row_bytes;
    return rows;
  }
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

// The 16 rows' block scales (each block's first 2 bytes, f16), row r in word r: four rows' words
// combined in a general register, then moved over. (A vpgatherdd, or 16 two-byte stores read back
// as one vector, each stalled the packing of every block.)
[[gnu::always_inline]] inline __m256i load_scales_f16(const StripRows& rows, int offset = 0) {
  auto quad = [&](int l) {
    uint64_t q = 0;
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      uint16_t h;
      std::memcpy(&h, rows.row(l, i) + offset, sizeof(h));
      q |= static_cast<uint64_t>(h) << (16 * i);
    }
    return static_cast<long long>(q);
  };
  return _mm256_setr_epi64x(quad(0), quad(1), quad(2), quad(3));
}

// Code vectors from payload dwords: packed nibbles (low: codes 4m.., high: codes 16 + 4m..), and
// Q8_0's signed codes made unsigned (+ 128).
[[gnu::always_inline]] inline void split_nibbles(const __m512i (&dw)[4], PackedBlock& p) {
  const __m512i nibble = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
  for (int m = 0; m < 4; ++m) {
    p.codes[m] = _mm512_and_si512(dw[m], nibble);
    p.codes[4 + m] = _mm512_and_si512(_mm512_srli_epi16(dw[m], 4), nibble);
  }
}
[[gnu::always_inline]] inline __m512i unsigned_codes(__m512i v) {
  return _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80)));
}

// A row-major block of 16 rows, transposed into the strip layout (no Q5_0, Q4_1, Q5_1: they are
// only read interleaved).
template <GgmlType kType>
[[gnu::always_inline]] inline void pack_rows(const StripRows& rows, PackedBlock& p) {
  static_assert(kType == GgmlType::kQ4_0 || kType == GgmlType::kQ8_0);
  __m512i dw[4];
  transpose_rows(rows, 2, dw);
  if constexpr (kType == GgmlType::kQ4_0) {
    split_nibbles(dw, p);
  } else {
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) p.codes[m] = unsigned_codes(dw[m]);
    transpose_rows(rows, 18, dw);
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) p.codes[4 + m] = unsigned_codes(dw[m]);
  }
  p.d = _mm512_cvtph_ps(load_scales_f16(rows));
}

// A block interleaved at load (weight_interleave.h): scales (and Q4_1 / Q5_1's offsets m, into a
// PackedBlockK's dm, negated; MXFP4's exponent bytes), then the payload vectors.
template <GgmlType kType, typename Block>
[[gnu::always_inline]] inline void load_interleaved(const uint8_t* block, Block& p) {
  if constexpr (kType == GgmlType::kMXFP4) {
    p.d = mxfp4_scales(_mm512_cvtepu8_epi32(load16(block)));
    __m512i dw[4];
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) dw[m] = _mm512_loadu_si512(block + 16 + 64 * m);
    split_nibbles(dw, p);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) p.codes[j] = mxfp4_codes(p.codes[j]);
    return;
  }
  p.d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block)));
  if constexpr (has_min(kType)) {
    const __m512 m =
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32)));
    p.dm = _mm512_sub_ps(_mm512_setzero_ps(), m);
  }
  // 288 / 352 / 320 / 384 / 544-byte blocks: not 64-byte aligned
  const uint8_t* payload = block + (has_min(kType) ? 64 : 32);
  if constexpr (kType != GgmlType::kQ8_0) {
    constexpr int kNibbles = has_high_bits(kType) ? 64 : 0;  // Q5_*: after the qh vector
    __m512i dw[4];
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) dw[m] = _mm512_loadu_si512(payload + kNibbles + 64 * m);
    split_nibbles(dw, p);
    if constexpr (has_high_bits(kType)) {
      // Code k's 5th bit is bit k of the row's qh. Vector j needs bits 4j..4j+3, all in byte j / 2
      // of qh: copy that byte to the 4 bytes of the row's dword, test byte i for bit 4 (j % 2) + i.
      const __m512i qh = _mm512_loadu_si512(payload);
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
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) p.codes[j] = unsigned_codes(_mm512_loadu_si512(payload + 64 * j));
  }
}

// Q4_K interleaved (weight_interleave.h): per super-block of 16 rows, d and dmin (f16), 3 vectors
// of the rows' 12 bytes of packed 6-bit scales and mins, 32 vectors of nibbles (dwords 8c..8c+7:
// sub-block 2c in the low nibbles, 2c + 1 in the high ones). The scales are unpacked once per
// super-block (the dword form of k4_scale_min), each sub-block then takes its byte.
class Q4KBlocks {
 public:
  using Block = PackedBlockK;
  static constexpr size_t kSuperBlock16 = 16 * sizeof(BlockQ4_K);  // 2304 bytes
  static constexpr size_t kBlock16 = kSuperBlock16 / 8;            // 16 rows x 32 values
  static constexpr int kSub = 8;
  explicit Q4KBlocks(const uint8_t* strip) : strip_(strip) {}
  template <int kS>
  [[gnu::always_inline]] const PackedBlockK& operator()(int64_t b, std::integral_constant<int, kS>,
                                                        PackedBlockK& p) {
    const int s = kS >= 0 ? kS : static_cast<int>(b % 8);
    const uint8_t* super = strip_ + static_cast<size_t>(b / 8) * kSuperBlock16;
    if (s == 0) {
      d_ = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(super)));
      dmin_ = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(super + 32)));
      const __m512i v0 = _mm512_loadu_si512(super + 64), v1 = _mm512_loadu_si512(super + 128),
                    v2 = _mm512_loadu_si512(super + 192);
      const __m512i six = _mm512_set1_epi8(0x3F), four = _mm512_set1_epi8(0x0F),
                    top = _mm512_set1_epi8(0x30);
      sc_[0] = _mm512_and_si512(v0, six);
      m_[0] = _mm512_and_si512(v1, six);
      sc_[1] = _mm512_or_si512(_mm512_and_si512(v2, four),
                               _mm512_and_si512(_mm512_srli_epi32(v0, 2), top));
      m_[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(v2, 4), four),
                              _mm512_and_si512(_mm512_srli_epi32(v1, 2), top));
    }
    const __m128i shift = _mm_cvtsi32_si128(8 * (s % 4));
    const __m512i byte = _mm512_set1_epi32(0xFF);
    const __m512 sc =
        _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srl_epi32(sc_[s / 4], shift), byte));
    const __m512 m = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srl_epi32(m_[s / 4], shift), byte));
    p.d = _mm512_mul_ps(d_, sc);
    p.dm = _mm512_mul_ps(dmin_, m);
    const uint8_t* nibbles = super + 256 + 512 * (s / 2);
    const __m512i low = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m512i v = _mm512_loadu_si512(nibbles + 64 * j);
      if (s % 2 != 0) v = _mm512_srli_epi16(v, 4);
      p.codes[j] = _mm512_and_si512(v, low);
    }
    return p;
  }

 private:
  const uint8_t* strip_;
  __m512 d_, dmin_;
  __m512i sc_[2], m_[2];  // byte 4r + k of sc_[h]: row r's scale of sub-block 4h + k
};

// Q6_K interleaved: per super-block of 16 rows, d (f16), then the payload dwords: 32 vectors of
// ql (low 4 bits), 16 of qh (high 2 bits), 4 of the int8 scales. Sub-block s = 4h + q (values
// 128h + 32q + l): ql bytes 64h + 32(q % 2) + l (high nibbles for q >= 2), qh bytes 32h + l (bits
// 2q, 2q + 1), scales 8h + 2q (l < 16) and 8h + 2q + 1.
class Q6KBlocks {
 public:
  using Block = PackedBlockHalves;
  static constexpr size_t kSuperBlock16 = 16 * sizeof(BlockQ6_K);  // 3360 bytes
  static constexpr size_t kBlock16 = kSuperBlock16 / 8;
  // Unrolled over the 8 sub-blocks for one token only (decode: matvec in cache best 34.8 -> 38.1
  // GB/s); the 2-8-token tiles take the sub-block at run time (kS = -1), as before, so the 8 tile
  // widths' code is not multiplied by 8 (unrolled for every width, the in-cache matvec measured
  // 21-34 GB/s on a busy machine: not shown to be better).
  static constexpr int kSub = 8;
  explicit Q6KBlocks(const uint8_t* strip) : strip_(strip) {}
  template <int kS>
  [[gnu::always_inline]] const PackedBlockHalves& operator()(int64_t b, std::integral_constant<int, kS>,
                                                             PackedBlockHalves& p) {
    const int s = kS >= 0 ? kS : static_cast<int>(b % 8), h = s / 4, q = s % 4;
    const uint8_t* super = strip_ + static_cast<size_t>(b / 8) * kSuperBlock16;
    if (s == 0) d_ = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(super)));
    const uint8_t* payload = super + 32;
    const __m512i scales = _mm512_loadu_si512(payload + 64 * (48 + 2 * h + q / 2));
    const int byte = 2 * (q % 2);  // the scale's byte in each row's dword
    const __m512i first =
        _mm512_srai_epi32(_mm512_sll_epi32(scales, _mm_cvtsi32_si128(24 - 8 * byte)), 24);
    const __m512i second =
        _mm512_srai_epi32(_mm512_sll_epi32(scales, _mm_cvtsi32_si128(16 - 8 * byte)), 24);
    const __m128i qh_shift = _mm_cvtsi32_si128(2 * q);
    p.d = _mm512_mul_ps(d_, _mm512_cvtepi32_ps(first));
    p.d_high = _mm512_mul_ps(d_, _mm512_cvtepi32_ps(second));
    const uint8_t* ql = payload + 64 * (16 * h + 8 * (q % 2));
    const uint8_t* qh = payload + 64 * (32 + 8 * h);
    const __m512i low = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x03);
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m512i nibbles = _mm512_loadu_si512(ql + 64 * j);
      if (q >= 2) nibbles = _mm512_srli_epi16(nibbles, 4);
      const __m512i high =
          _mm512_and_si512(_mm512_srl_epi16(_mm512_loadu_si512(qh + 64 * j), qh_shift), two);
      p.codes[j] = _mm512_or_si512(_mm512_and_si512(nibbles, low), _mm512_slli_epi16(high, 4));
    }
    return p;
  }

 private:
  const uint8_t* strip_;
  __m512 d_;
};

// The 32-value types' interleaved blocks (load_interleaved), as a block source like the two above.
template <GgmlType kType>
class Blocks32 {
 public:
  using Block = std::conditional_t<has_min(kType), PackedBlockK, PackedBlock>;
  static constexpr size_t kBlock16 = kStripRows * static_cast<size_t>(block32_bytes(kType));
  static constexpr int kSub = 1;
  explicit Blocks32(const uint8_t* strip) : strip_(strip) {}
  template <int kS>
  [[gnu::always_inline]] const Block& operator()(int64_t b, std::integral_constant<int, kS>,
                                                 Block& p) const {
    load_interleaved<kType>(strip_ + static_cast<size_t>(b) * kBlock16, p);
    return p;
  }

 private:
  const uint8_t* strip_;
};

// The block source for an interleaved matrix of type kType.
template <GgmlType kType>
using InterleavedBlocks =
    std::conditional_t<kType == GgmlType::kQ4_K, Q4KBlocks,
                       std::conditional_t<kType == GgmlType::kQ6_K, Q6KBlocks, Blocks32<kType>>>;

// acc[t] (lane r: row r) += d_w[r] * d_a * (codes . activation codes + bias) of block b, for T
// tokens; for a PackedBlockK, + dm[r] * d_a * bias instead (the activations' bias is then minus the
// block's code sum: code offset 1). The dots are issued value-group by value-group across the
// tokens: T independent vpdpbusd chains in flight instead of one token's chain of 8 (latency 5
// each) at a time.
template <int T, typename Block>
[[gnu::always_inline]] inline void accumulate_block(const Block& p, int64_t b, const uint8_t* act,
                                                    size_t act_stride, __m512 (&acc)[T]) {
  constexpr bool kMins = std::is_same_v<Block, PackedBlockK>;
  constexpr bool kHalves = std::is_same_v<Block, PackedBlockHalves>;
  const size_t group = static_cast<size_t>(b / 4) * sizeof(ActGroup32);
  const int sub = static_cast<int>(b % 4);
  const ActGroup32* g[T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t)
    g[t] = reinterpret_cast<const ActGroup32*>(act + t * act_stride + group);
  // Code vectors [j0, j1) dotted into s[t], which starts at `bias` (per token).
  auto dots = [&](int j0, int j1, __m512i(&s)[T]) {
#pragma GCC unroll 8
    for (int j = j0; j < j1; ++j) {
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const auto* codes =
            reinterpret_cast<const int32_t*>((j < 4 ? g[t]->lo : g[t]->hi) + 16 * sub) + (j % 4);
        s[t] = _mm512_dpbusd_epi32(s[t], p.codes[j], _mm512_set1_epi32(*codes));
      }
    }
  };
  __m512i s[T];
  if constexpr (kHalves) {
    // Each 16-value half with its own scale and code-sum bias (dword 1: the first half's).
#pragma GCC unroll 2
    for (int half = 0; half < 2; ++half) {
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const int32_t first = g[t]->bias[4 * sub + 1];
        s[t] = _mm512_set1_epi32(half == 0 ? first : g[t]->bias[4 * sub] - first);
      }
      dots(4 * half, 4 * half + 4, s);
      const __m512 d = half == 0 ? p.d : p.d_high;
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]),
                                 _mm512_mul_ps(d, _mm512_set1_ps(g[t]->d[4 * sub])), acc[t]);
      }
    }
    return;
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t)
    s[t] = kMins ? _mm512_setzero_si512() : _mm512_set1_epi32(g[t]->bias[4 * sub]);
  dots(0, 8, s);
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    const float da = g[t]->d[4 * sub];
    acc[t] =
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), _mm512_mul_ps(p.d, _mm512_set1_ps(da)), acc[t]);
    if constexpr (kMins) {
      acc[t] = _mm512_fmadd_ps(p.dm, _mm512_set1_ps(da * static_cast<float>(g[t]->bias[4 * sub])),
                               acc[t]);
    }
  }
}

// T tokens over a strip's nb blocks, which next_block(b, sub, scratch) supplies (filling scratch,
// or returning a block packed earlier); writes the rows in row_mask of y[t * y_stride + row]. The
// blocks go kSub at a time (a K-quant super-block's 8 sub-blocks), `sub` = b % kSub as a
// std::integral_constant: each sub-block's shifts and scale bytes are then fixed at compile time
// (with b % 8 at run time, Q6_K's loop tested it once per code vector, measured). With kSub 1,
// `sub` is -1: the block source works out b % 8 itself.
template <int T, typename Block = PackedBlock, int kSub = 1, typename NextBlock>
[[gnu::always_inline]] inline void run_tile(int64_t nb, NextBlock&& next_block, const uint8_t* act,
                                            size_t act_stride, float* y, int64_t y_stride,
                                            __mmask16 row_mask) {
  __m512 acc[T];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  Block scratch;
  for (int64_t b0 = 0; b0 < nb; b0 += kSub) {
    [&]<int... kS>(std::integer_sequence<int, kS...>) {
      (accumulate_block<T>(next_block(b0 + kS, std::integral_constant<int, kSub == 1 ? -1 : kS>{}, scratch), b0 + kS,
                           act, act_stride, acc),
       ...);
    }(std::make_integer_sequence<int, kSub>{});
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * y_stride, row_mask, acc[t]);
}

// f(std::integral_constant<int, T>{}) with T = min(tokens, kTileTokens): the tile width as a
// compile-time constant.
template <int T = kTileTokens, typename F>
[[gnu::always_inline]] inline void with_tile_width(int64_t tokens, F&& f) {
  if constexpr (T > 1) {
    if (tokens < T) return with_tile_width<T - 1>(tokens, std::forward<F>(f));
  }
  f(std::integral_constant<int, T>{});
}

// Repacks rows [r0, r0 + 16) of w into nb packed blocks. A strip with fewer rows (`rows_left`)
// packs its last row again in the missing lanes, whose sums are not stored.
template <GgmlType kType>
void pack_strip(const WeightMatrix& w, int64_t r0, int64_t rows_left, PackedBlock* out) {
  const uint8_t* first =
      static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r0) * w.row_bytes;
  const int64_t nb = w.cols / 32;
  if (rows_left < kStripRows) {
    // Rows past the matrix must not be read: copy the rows there are into a full-height staging
    // strip (only a matrix's last strip, when rows % 16 != 0).
    thread_local std::vector<uint8_t> staging;
    staging.resize(kStripRows * w.row_bytes);
    for (int64_t r = 0; r < kStripRows; ++r) {
      const int64_t row = r < rows_left ? r : rows_left - 1;
      std::copy_n(first + static_cast<size_t>(row) * w.row_bytes, w.row_bytes,
                  staging.data() + r * w.row_bytes);
    }
    first = staging.data();
  }
  StripRows rows = StripRows::at(first, w.row_bytes);
  // The strip is 16 consecutive rows, one contiguous range read as 16 streams: prefetch ahead as
  // this one is packed (see StripPrefetcher).
  const StripPrefetcher<kStripRows> prefetcher(first, w.row_bytes);
  constexpr int kBlockBytes = block32_bytes(kType);
  for (int64_t b = 0; b < nb; ++b) {
    prefetcher.template advance<kBlockBytes>(static_cast<size_t>(b) * kBlockBytes);
    pack_rows<kType>(rows, out[b]);
    rows.advance(kBlockBytes);
  }
}

}  // namespace

template <GgmlType kType>
void gemm_strips(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                 size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride) {
  constexpr int kBlockBytes = block32_bytes(kType);
  thread_local std::vector<PackedBlock> buffer;  // grows to the widest matrix once per thread
  const int64_t nb = w.cols / 32;
  if (buffer.size() < static_cast<size_t>(nb)) buffer.resize(static_cast<size_t>(nb));
  const auto* a = static_cast<const uint8_t*>(act);
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kStripRows) {
    const int64_t rows = row_end - r0 < kStripRows ? row_end - r0 : kStripRows;
    const auto row_mask = static_cast<__mmask16>(rows == kStripRows ? 0xFFFF : (1u << rows) - 1);
    if (n_tokens <= kTileTokens && rows == kStripRows) {
      // One tile: each block packed in registers and used at once (for the few tokens of a
      // batched decode step the packing is as costly as the dots; no buffer round trip).
      const uint8_t* first = base + static_cast<size_t>(r0) * w.row_bytes;
      with_tile_width(n_tokens, [&](auto width) {
        StripRows strip = StripRows::at(first, w.row_bytes);
        const StripPrefetcher<kStripRows> prefetcher(first, w.row_bytes);
        auto next = [&](int64_t b, auto, PackedBlock& scratch) -> const PackedBlock& {
          prefetcher.template advance<kBlockBytes>(static_cast<size_t>(b) * kBlockBytes);
          pack_rows<kType>(strip, scratch);
          strip.advance(kBlockBytes);
          return scratch;
        };
        run_tile<decltype(width)::value>(nb, next, a, act_stride, y + r0, y_stride, row_mask);
      });
      continue;
    }
    pack_strip<kType>(w, r0, rows, buffer.data());
    for (int64_t t = 0; t < n_tokens; t += kTileTokens) {
      with_tile_width(n_tokens - t, [&](auto width) {
        auto next = [&](int64_t b, auto, PackedBlock&) -> const PackedBlock& {
          return buffer[static_cast<size_t>(b)];
        };
        run_tile<decltype(width)::value>(nb, next, a + t * act_stride, act_stride,
                                         y + t * y_stride + r0, y_stride, row_mask);
      });
    }
  }
}

template <GgmlType kType>
void gemm_interleaved(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                      size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride) {
  using Blocks = InterleavedBlocks<kType>;
  using Block = typename Blocks::Block;
  constexpr size_t kBlock16 = Blocks::kBlock16;  // bytes of 16 rows x 32 values
  const int64_t nb = w.cols / 32;
  const auto* a = static_cast<const uint8_t*>(act);
  const auto* base = static_cast<const uint8_t*>(w.data);
  // row_begin and row_end are multiples of 16 (the matrix's rows are; the splitter keeps 16-row
  // blocks).
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kStripRows) {
    const uint8_t* strip = base + static_cast<size_t>(r0 / kStripRows * nb) * kBlock16;
    for (int64_t t = 0; t < n_tokens; t += kTileTokens) {
      with_tile_width(n_tokens - t, [&](auto width) {
        // A strip is one contiguous range, one stream: prefetch ahead of it while it is read (one
        // token reads it straight from memory).
        const StripPrefetcher<1> prefetcher(strip, static_cast<size_t>(nb) * kBlock16);
        Blocks blocks(strip);
        auto next = [&](int64_t b, auto sub, Block& scratch) -> const Block& {
          prefetcher.template advance<kBlock16>(static_cast<size_t>(b) * kBlock16);
          return blocks(b, sub, scratch);
        };
        // Sub-blocks unrolled for one token only (decode); the 2-8-token tiles keep them at run
        // time, so the 8 tile widths' code is not multiplied by 8 (see Q6KBlocks).
        constexpr int kT = decltype(width)::value;
        run_tile<kT, Block, (kT == 1 ? Blocks::kSub : 1)>(nb, next, a + t * act_stride, act_stride,
                                                          y + t * y_stride + r0, y_stride, 0xFFFF);
      });
    }
  }
}

template void gemm_strips<GgmlType::kQ4_0>(const WeightMatrix&, int64_t, int64_t, const void*,
                                           size_t, int64_t, float*, int64_t);
template void gemm_strips<GgmlType::kQ8_0>(const WeightMatrix&, int64_t, int64_t, const void*,
                                           size_t, int64_t, float*, int64_t);
template void gemm_interleaved<GgmlType::kQ4_0>(const WeightMatrix&, int64_t, int64_t, const void*,
                                                size_t, int64_t, float*, int64_t);
template void gemm_interleaved<GgmlType::kQ5_0>(const WeightMatrix&, int64_t, int64_t, const void*,
                                                size_t, int64_t, float*, int64_t);
template void gemm_interleaved<GgmlType::kQ8_0>(const WeightMatrix&, int64_t, int64_t, const void*,
                                                size_t, int64_t, float*, int64_t);
template void gemm_interleaved<GgmlType::kQ4_1>(const WeightMatrix&, int64_t, int64_t, const void*,
                                                size_t, int64_t, float*, int64_t);
template void gemm_interleaved<GgmlType::kQ5_1>(const WeightMatrix&, int64_t, int64_t, const void*,
                                                size_t, int64_t, float*, int64_t);
template void gemm_interleaved<GgmlType::kQ4_K>(const WeightMatrix&, int64_t, int64_t, const void*,
                                                size_t, int64_t, float*, int64_t);
template void gemm_interleaved<GgmlType::kQ6_K>(const WeightMatrix&, int64_t, int64_t, const void*,
                                                size_t, int64_t, float*, int64_t);
template void gemm_interleaved<GgmlType::kMXFP4>(const WeightMatrix&, int64_t, int64_t, const void*,
                                                 size_t, int64_t, float*, int64_t);

}  // namespace chimera::engine::matmul_detail::avx512

namespace chimera::engine::matmul_detail {

// The load-time repack (weight_interleave.h) with the strips' transposes: the head's f16 fields,
// then the payload dwords 4 at a time (a last window of fewer starts early, so that it ends with
// the block: no read past the matrix).
void interleave_strips_avx512(const WeightMatrix& w, int64_t strip_begin, int64_t strip_end,
                              uint8_t* out) {
  using namespace avx512;
  const InterleaveLayout& layout = *interleave_layout(w.type);
  const size_t block16 = kStripRows * static_cast<size_t>(layout.block_bytes);
  const int64_t nb = w.cols / layout.block_values;
  const int payload = layout.payload_dwords;
  for (int64_t s = strip_begin; s < strip_end; ++s) {
    StripRows rows = StripRows::at(
        static_cast<const uint8_t*>(w.data) + static_cast<size_t>(s) * kStripRows * w.row_bytes,
        w.row_bytes);
    uint8_t* dst = out + static_cast<size_t>(s * nb) * block16;
    for (int64_t b = 0; b < nb; ++b, dst += block16) {
      for (int f = 0; f < layout.head_fields; ++f) {
        if (layout.head_bytes == 1) {  // MXFP4's exponent byte
          for (int r = 0; r < kStripRows; ++r)
            dst[16 * f + r] = rows.row(r / 4, r % 4)[layout.head_offset + f];
        } else {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * f),
                              load_scales_f16(rows, layout.head_offset + 2 * f));
        }
      }
      uint8_t* vectors = dst + layout.head_region();
      for (int m0 = 0; m0 < payload; m0 += 4) {
        const int window = std::min(m0, payload - 4);  // dwords window..window + 3
        __m512i dw[4];
        transpose_rows(rows, layout.payload_offset + 4 * window, dw);
        for (int m = m0; m < m0 + 4 && m < payload; ++m)
          _mm512_storeu_si512(vectors + 64 * m, dw[m - window]);
      }
      rows.advance(layout.block_bytes);
    }
  }
}

}  // namespace chimera::engine::matmul_detail
