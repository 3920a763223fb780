// AVX-512 matmul kernels for the 32-value block types (Q4_0, Q5_0, Q4_1, Q5_1, Q8_0, MXFP4) and the path's
// kernel table.
// Four weight blocks are processed per 512-bit vector, one per 128-bit lane: their 16 code bytes
// are loaded into the lane, split into low/high nibbles (values 0..15 / 16..31 of the block), and
// dotted with the matching activation bytes by vpdpbusd (VNNI) or vpmaddubsw + vpmaddwd. Each
// lane's int32 sum is scaled by d_w * d_a of its block in f32. Weights are read in place; nothing
// is repacked.
#include "engine/kernels/matmul_avx512.h"

#include "engine/quant/quant.h"

namespace chimera::engine::matmul_detail::avx512 {
namespace {

// ---------------------------------------------------------------------------------------------------
// Activation conversion (ActGroup32). Codes: round(x / d) with d = amax / 127, as Q8_0 but with d kept
// in f32.

// Every element of 128-bit lane b of the result is op over all 16 elements of v[b] (a transposed
// reduction: three shuffle levels for four vectors instead of a full reduction per vector).
template <typename Op>
inline __m512 reduce_to_lanes(__m512 v0, __m512 v1, __m512 v2, __m512 v3, Op op) {
  const __m512 a01 = op(_mm512_shuffle_f32x4(v0, v1, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(v0, v1, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 a23 = op(_mm512_shuffle_f32x4(v2, v3, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(v2, v3, _MM_SHUFFLE(3, 2, 3, 2)));
  __m512 r = op(_mm512_shuffle_f32x4(a01, a23, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(a01, a23, _MM_SHUFFLE(3, 1, 3, 1)));
  r = op(r, _mm512_permute_ps(r, _MM_SHUFFLE(2, 3, 0, 1)));
  return op(r, _mm512_permute_ps(r, _MM_SHUFFLE(1, 0, 3, 2)));
}

// Packs 4 vectors of 16 int32 codes (one per block) into 64 bytes with block b's 16 codes in lane b.
inline __m512i pack_lanes(__m512i q0, __m512i q1, __m512i q2, __m512i q3) {
  // packs work within 128-bit lanes: lane l now holds codes 4l..4l+3 of blocks 0..3, one dword each.
  const __m512i bytes = _mm512_packs_epi16(_mm512_packs_epi32(q0, q1), _mm512_packs_epi32(q2, q3));
  const __m512i transpose = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_epi32(transpose, bytes);
}

// One block at a time: the row's last, partial group.
template <int kOffset, bool kHalves>
void convert_partial_group(const float* x, int64_t first_block, int64_t nb, ActGroup32& G) {
  const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  for (int b = 0; b < 4; ++b) {
    const int64_t block = first_block + b;
    if (block >= nb) {
      _mm_store_si128(reinterpret_cast<__m128i*>(G.lo + 16 * b), _mm_setzero_si128());
      _mm_store_si128(reinterpret_cast<__m128i*>(G.hi + 16 * b), _mm_setzero_si128());
      _mm_store_ps(G.d + 4 * b, _mm_setzero_ps());
      _mm_store_si128(reinterpret_cast<__m128i*>(G.bias + 4 * b), _mm_setzero_si128());
      continue;
    }
    const __m512 v0 = _mm512_loadu_ps(x + 32 * block), v1 = _mm512_loadu_ps(x + 32 * block + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, sign_mask), _mm512_and_ps(v1, sign_mask)));
    const float d = amax / 127.0f;
    const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
    const __m128i b0 = _mm512_cvtsepi32_epi8(q0), b1 = _mm512_cvtsepi32_epi8(q1);
    _mm_store_si128(reinterpret_cast<__m128i*>(G.lo + 16 * b), b0);
    _mm_store_si128(reinterpret_cast<__m128i*>(G.hi + 16 * b), b1);
    _mm_store_ps(G.d + 4 * b, _mm_set1_ps(d));
    const int sum = kOffset != 0 ? _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1)) : 0;
    const int first_half = kHalves ? _mm512_reduce_add_epi32(q0) : 0;
    _mm_store_si128(reinterpret_cast<__m128i*>(G.bias + 4 * b), _mm_setr_epi32(-kOffset * sum, -kOffset * first_half, 0, 0));
  }
}

// kHalves: also the first 16 codes' bias, in dword 1 (for Q6_K only: the other kernels add each
// lane's dwords up).
template <int kOffset, bool kHalves = false>
void convert_group32(const float* x, void* out, int64_t cols) {
  const int64_t nb = cols / 32;
  auto* groups = static_cast<ActGroup32*>(out);
  const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  const auto max_op = [](__m512 a, __m512 b) { return _mm512_max_ps(a, b); };
  const auto add_op = [](__m512 a, __m512 b) {
    return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(a), _mm512_castps_si512(b)));
  };
  int64_t g = 0;
  for (; 4 * g + 4 <= nb; ++g) {
    const float* xg = x + 128 * g;
    __m512 v[8], m[4];
    #pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) v[i] = _mm512_loadu_ps(xg + 16 * i);  // block b: v[2b], v[2b + 1]
    #pragma GCC unroll 4
    for (int b = 0; b < 4; ++b) m[b] = _mm512_max_ps(_mm512_and_ps(v[2 * b], sign_mask), _mm512_and_ps(v[2 * b + 1], sign_mask));
    const __m512 amax = reduce_to_lanes(m[0], m[1], m[2], m[3], max_op);  // lane b: block b's amax
    const __m512 d = _mm512_div_ps(amax, _mm512_set1_ps(127.0f));
    const __m512 id = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_NEQ_OQ), _mm512_set1_ps(127.0f), amax);
    __m512i q[8];
    #pragma GCC unroll 4
    for (int b = 0; b < 4; ++b) {
      const __m512 idb = _mm512_permutexvar_ps(_mm512_set1_epi32(4 * b), id);  // lane b everywhere
      q[2 * b] = _mm512_cvtps_epi32(_mm512_mul_ps(v[2 * b], idb));  // round to nearest even
      q[2 * b + 1] = _mm512_cvtps_epi32(_mm512_mul_ps(v[2 * b + 1], idb));
    }
    const __m512i lo = pack_lanes(q[0], q[2], q[4], q[6]), hi = pack_lanes(q[1], q[3], q[5], q[7]);
    ActGroup32& G = groups[g];
    _mm512_store_si512(G.lo, lo);
    _mm512_store_si512(G.hi, hi);
    _mm512_store_ps(G.d, d);
    if constexpr (kOffset != 0) {
      const __m512 sums = reduce_to_lanes(_mm512_castsi512_ps(_mm512_add_epi32(q[0], q[1])), _mm512_castsi512_ps(_mm512_add_epi32(q[2], q[3])),
                                          _mm512_castsi512_ps(_mm512_add_epi32(q[4], q[5])), _mm512_castsi512_ps(_mm512_add_epi32(q[6], q[7])), add_op);
      const __m512i bias = _mm512_mullo_epi32(_mm512_castps_si512(sums), _mm512_set1_epi32(-kOffset));
      __m512i stored = _mm512_maskz_mov_epi32(0x1111, bias);  // dword 0 of each lane
      if constexpr (kHalves) {
        const __m512 first_halves = reduce_to_lanes(_mm512_castsi512_ps(q[0]), _mm512_castsi512_ps(q[2]),
                                                    _mm512_castsi512_ps(q[4]), _mm512_castsi512_ps(q[6]), add_op);
        stored = _mm512_mask_mov_epi32(stored, 0x2222,
                                       _mm512_mullo_epi32(_mm512_castps_si512(first_halves), _mm512_set1_epi32(-kOffset)));
      }
      _mm512_store_si512(G.bias, stored);
    } else {
      _mm512_store_si512(G.bias, _mm512_setzero_si512());
    }
  }
  if (4 * g < nb) convert_partial_group<kOffset, kHalves>(x, 4 * g, nb, groups[g]);
}

// ---------------------------------------------------------------------------------------------------
// Weight groups: 4 consecutive blocks of one row. `n` < 4 only for a row's last group; missing blocks are
// masked out of every load (so nothing past the row is read) and come out as zero codes and zero scales.

struct CodeGroup {
  __m512i lo, hi;  // unsigned codes (Q4_0/Q5_0/Q4_1/Q5_1) or signed codes (Q8_0), lane b = block b
  __m512 d;        // weight scale of block b in lane b
  __m512 m;        // Q4_1/Q5_1: offset m of block b in lane b (value = d * code + m); else unused
};

// Loads `bytes` bytes at p (zeros after them); a full window is a plain load, since a masked load costs
// an extra ALU uop on Skylake-SP.
[[gnu::always_inline]] inline __m512i load_window(const uint8_t* p, int bytes, bool full) {
  if (full) return _mm512_loadu_si512(p);
  const __mmask64 mask = bytes >= 64 ? ~__mmask64{0} : bytes <= 0 ? __mmask64{0} : (__mmask64{1} << bytes) - 1;
  return _mm512_maskz_loadu_epi8(mask, p);
}

// Loads 16 bytes from base + offset + stride * b into lane b, for blocks b < n.
[[gnu::always_inline]] inline __m512i load_lanes16(const uint8_t* p, int stride, int n) {
  if (n == 4) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + stride)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * stride)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 3 * stride)), 3);
  }
  __m512i v = _mm512_setzero_si512();
  for (int b = 0; b < n; ++b) {
    const __m128i lane = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + b * stride));
    if (b == 0) v = _mm512_mask_mov_epi32(v, 0x000F, _mm512_castsi128_si512(lane));
    if (b == 1) v = _mm512_inserti32x4(v, lane, 1);
    if (b == 2) v = _mm512_inserti32x4(v, lane, 2);
  }
  return v;
}

// Picks four f16 scales (16-bit word indices i0..i3 of a 128-byte window given as two 64-byte halves)
// and returns them as f32, each repeated over its block's lane.
[[gnu::always_inline]] inline __m512 gather_scales(__m512i first, __m512i second, int i0, int i1, int i2, int i3) {
  const __m512i index = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                         static_cast<short>(i3), static_cast<short>(i3), static_cast<short>(i3), static_cast<short>(i3),
                                         static_cast<short>(i2), static_cast<short>(i2), static_cast<short>(i2), static_cast<short>(i2),
                                         static_cast<short>(i1), static_cast<short>(i1), static_cast<short>(i1), static_cast<short>(i1),
                                         static_cast<short>(i0), static_cast<short>(i0), static_cast<short>(i0), static_cast<short>(i0));
  return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(first, index, second)));
}

// Adds 16 to the codes whose bit 4 is set: lane b's words 0 and 1 of qh hold block b's qh (bits
// 0..15 for values 0..15, lane b of lo; bits 16..31 for hi). Each bit's byte is spread over 8 bytes
// and byte j tests bit j % 8: a byte mask without leaving the vector unit.
[[gnu::always_inline]] inline void add_high_bits(__m512i qh, __m512i& lo, __m512i& hi) {
  const __m512i spread_lo = _mm512_set_epi64(0x0101010101010101, 0, 0x0101010101010101, 0,
                                             0x0101010101010101, 0, 0x0101010101010101, 0);
  const __m512i spread_hi = _mm512_add_epi8(spread_lo, _mm512_set1_epi8(2));
  const __m512i bit = _mm512_set1_epi64(static_cast<int64_t>(0x8040201008040201ull));
  const __mmask64 high_lo = _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, spread_lo), bit);
  const __mmask64 high_hi = _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, spread_hi), bit);
  const __m512i sixteen = _mm512_set1_epi8(16);
  lo = _mm512_mask_add_epi8(lo, high_lo, lo, sixteen);
  hi = _mm512_mask_add_epi8(hi, high_hi, hi, sixteen);
}

// The low and high nibbles of 16 code bytes per lane.
[[gnu::always_inline]] inline void split_nibbles(__m512i qs, __m512i& lo, __m512i& hi) {
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  lo = _mm512_and_si512(qs, nibble);
  hi = _mm512_and_si512(_mm512_srli_epi16(qs, 4), nibble);
}

[[gnu::always_inline]] inline CodeGroup load_q4_0(const uint8_t* w, int n) {
  constexpr int kBytes = sizeof(BlockQ4_0);  // 18: d at 0, codes at 2
  CodeGroup g;
  split_nibbles(load_lanes16(w + 2, kBytes, n), g.lo, g.hi);
  const __m512i raw = load_window(w, kBytes * n, n == 4);  // d of block b: word 9b
  g.d = gather_scales(raw, raw, 0, 9, 18, 27);
  g.m = _mm512_setzero_ps();
  return g;
}

[[gnu::always_inline]] inline CodeGroup load_q5_0(const uint8_t* w, int n) {
  constexpr int kBytes = sizeof(BlockQ5_0);  // 22: d at 0, qh (u32) at 2, codes at 6
  CodeGroup g;
  split_nibbles(load_lanes16(w + 6, kBytes, n), g.lo, g.hi);
  // Words of the group: d_b = 11b, qh_b low half = 11b + 1, high half = 11b + 2. The second window
  // starts at byte 24 (word 12), so word k >= 32 is index 32 + (k - 12) of the pair.
  const __m512i first = load_window(w, kBytes * n, n == 4);
  const __m512i second = load_window(w + 24, kBytes * n - 24, n == 4);
  g.d = gather_scales(first, second, 0, 11, 22, 32 + 33 - 12);
  g.m = _mm512_setzero_ps();
  // qh_b's two words to the start of lane b.
  const __m512i qh_index = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 32 + 35 - 12, 32 + 34 - 12, 0, 0, 0, 0, 0, 0, 24, 23,  //
                                            0, 0, 0, 0, 0, 0, 13, 12, 0, 0, 0, 0, 0, 0, 2, 1);
  add_high_bits(_mm512_permutex2var_epi16(first, qh_index, second), g.lo, g.hi);
  return g;
}

[[gnu::always_inline]] inline CodeGroup load_q4_1(const uint8_t* w, int n) {
  constexpr int kBytes = sizeof(BlockQ4_1);  // 20: d at 0, m at 2, codes at 4
  CodeGroup g;
  split_nibbles(load_lanes16(w + 4, kBytes, n), g.lo, g.hi);
  const __m512i raw = load_window(w, kBytes * n, n == 4);  // d of block b: word 10b, m: 10b + 1
  g.d = gather_scales(raw, raw, 0, 10, 20, 30);
  g.m = gather_scales(raw, raw, 1, 11, 21, 31);
  return g;
}

[[gnu::always_inline]] inline CodeGroup load_q5_1(const uint8_t* w, int n) {
  constexpr int kBytes = sizeof(BlockQ5_1);  // 24: d at 0, m at 2, qh (u32) at 4, codes at 8
  CodeGroup g;
  split_nibbles(load_lanes16(w + 8, kBytes, n), g.lo, g.hi);
  // Words of the group: d_b = 12b, m_b = 12b + 1, qh_b = 12b + 2 and 12b + 3. The second window
  // starts at byte 32 (word 16) and ends with the group (byte 96), so word k >= 32 is index
  // 32 + (k - 16) of the pair.
  const __m512i first = load_window(w, kBytes * n, n == 4);
  const __m512i second = load_window(w + 32, kBytes * n - 32, n == 4);
  g.d = gather_scales(first, second, 0, 12, 24, 32 + 36 - 16);
  g.m = gather_scales(first, second, 1, 13, 25, 32 + 37 - 16);
  const __m512i qh_index =
      _mm512_set_epi16(0, 0, 0, 0, 0, 0, 32 + 39 - 16, 32 + 38 - 16, 0, 0, 0, 0, 0, 0, 27, 26,  //
                       0, 0, 0, 0, 0, 0, 15, 14, 0, 0, 0, 0, 0, 0, 3, 2);
  add_high_bits(_mm512_permutex2var_epi16(first, qh_index, second), g.lo, g.hi);
  return g;
}

[[gnu::always_inline]] inline CodeGroup load_q8_0(const uint8_t* w, int n) {
  constexpr int kBytes = sizeof(BlockQ8_0);  // 34: d at 0, codes at 2
  const __m512i first = load_window(w, kBytes * n, n == 4);
  const __m512i second = load_window(w + 64, kBytes * n - 64, n == 4);
  return {load_lanes16(w + 2, kBytes, n), load_lanes16(w + 18, kBytes, n),
          gather_scales(first, second, 0, 17, 34, 51), _mm512_setzero_ps()};
}

// MXFP4 {u8 e; u8 qs[16]}: codes and scales as mxfp4_codes / mxfp4_scales give them.
[[gnu::always_inline]] inline CodeGroup load_mxfp4(const uint8_t* w, int n) {
  constexpr int kBytes = sizeof(BlockMXFP4);  // 17
  CodeGroup g;
  split_nibbles(load_lanes16(w + 1, kBytes, n), g.lo, g.hi);
  g.lo = mxfp4_codes(g.lo);
  g.hi = mxfp4_codes(g.hi);
  // The scales stay in vector registers (scalar scales through the stack cost a store-forwarding
  // stall per group: 7x slower than Q4_0 in cache, measured). Block b's exponent is byte 17b of the
  // group, i.e. byte b of 128-bit lane b: one in-lane byte shuffle spreads it over the lane's
  // dwords; missing blocks read e = 0 (their codes are zero).
  const __m512i raw = load_window(w, kBytes * n, n == 4);
  const __m512i spread = _mm512_set_epi32(
      static_cast<int>(0xFFFFFF03), static_cast<int>(0xFFFFFF03), static_cast<int>(0xFFFFFF03), static_cast<int>(0xFFFFFF03),
      static_cast<int>(0xFFFFFF02), static_cast<int>(0xFFFFFF02), static_cast<int>(0xFFFFFF02), static_cast<int>(0xFFFFFF02),
      static_cast<int>(0xFFFFFF01), static_cast<int>(0xFFFFFF01), static_cast<int>(0xFFFFFF01), static_cast<int>(0xFFFFFF01),
      static_cast<int>(0xFFFFFF00), static_cast<int>(0xFFFFFF00), static_cast<int>(0xFFFFFF00), static_cast<int>(0xFFFFFF00));
  g.d = mxfp4_scales(_mm512_shuffle_epi8(raw, spread));
  g.m = _mm512_setzero_ps();
  return g;
}

// ---------------------------------------------------------------------------------------------------
// Kernels. kWeights selects the group loader; the dot differs for Q8_0 (signed weights).

enum class Weights32 { kQ4_0, kQ5_0, kQ8_0, kQ4_1, kQ5_1, kMXFP4 };

constexpr GgmlType ggml_type_of(Weights32 type) {
  switch (type) {
    case Weights32::kQ4_0:
      return GgmlType::kQ4_0;
    case Weights32::kQ5_0:
      return GgmlType::kQ5_0;
    case Weights32::kQ4_1:
      return GgmlType::kQ4_1;
    case Weights32::kQ5_1:
      return GgmlType::kQ5_1;
    case Weights32::kMXFP4:
      return GgmlType::kMXFP4;
    case Weights32::kQ8_0:
      break;
  }
  return GgmlType::kQ8_0;
}

template <Weights32 kType, bool kVnni>
struct Kernel32 {
  static constexpr int kTileRows = 6, kTileTokens = 4;
  static constexpr int kBlockBytes = block32_bytes(ggml_type_of(kType));
  // Q4_1 / Q5_1: unsigned codes with no fixed offset; per block, m times the activations' code sum
  // (the bias of activations converted with offset 1 is minus that sum) is added in f32 instead.
  static constexpr bool kHasMin = has_min(ggml_type_of(kType));

  static CodeGroup load(const uint8_t* w, int n) {
    if constexpr (kType == Weights32::kQ4_0) return load_q4_0(w, n);
    if constexpr (kType == Weights32::kQ5_0) return load_q5_0(w, n);
    if constexpr (kType == Weights32::kQ4_1) return load_q4_1(w, n);
    if constexpr (kType == Weights32::kQ5_1) return load_q5_1(w, n);
    if constexpr (kType == Weights32::kMXFP4) return load_mxfp4(w, n);
    return load_q8_0(w, n);
  }

  // Integer dot of one weight group with one activation group, per lane, in int32.
  static __m512i group_dot(const CodeGroup& wg, const ActGroup32& a) {
    const __m512i alo = _mm512_load_si512(a.lo), ahi = _mm512_load_si512(a.hi);
    if constexpr (kType != Weights32::kQ8_0 || kVnni) {
      // Unsigned weight codes; the bias (-offset * sum(a)) removes their offset. Q8_0's signed codes
      // become unsigned with + 128 (the activations then carry offset 128).
      __m512i lo = wg.lo, hi = wg.hi;
      if constexpr (kType == Weights32::kQ8_0) {
        const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
        lo = _mm512_xor_si512(lo, flip);
        hi = _mm512_xor_si512(hi, flip);
      }
      __m512i acc = kHasMin ? _mm512_setzero_si512() : _mm512_load_si512(a.bias);
      acc = dot_u8s8<kVnni>(acc, lo, alo);
      return dot_u8s8<kVnni>(acc, hi, ahi);
    } else {
      // |w| x (a with w's sign): keeps every maddubs pair below 2 * 127 * 127.
      const __m512i zero = _mm512_setzero_si512();
      const __m512i slo = _mm512_mask_sub_epi8(alo, _mm512_movepi8_mask(wg.lo), zero, alo);
      const __m512i shi = _mm512_mask_sub_epi8(ahi, _mm512_movepi8_mask(wg.hi), zero, ahi);
      __m512i acc = dot_u8s8<false>(zero, _mm512_abs_epi8(wg.lo), slo);
      return dot_u8s8<false>(acc, _mm512_abs_epi8(wg.hi), shi);
    }
  }

  template <int R, int T>
  static void tile(const uint8_t* w, size_t row_bytes, const uint8_t* act, size_t act_stride, int64_t cols,
                   float* y, int64_t y_stride) {
    const int64_t nb = cols / 32, groups = (nb + 3) / 4;
    __m512 sum[R][T];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) sum[r][t] = _mm512_setzero_ps();
    }
    const StripPrefetcher<R> prefetcher(w, row_bytes);
    auto step = [&](int64_t g, int n) {
      if constexpr (T == 1) prefetcher.template advance<4 * kBlockBytes>(static_cast<size_t>(g * 4 * kBlockBytes));
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const CodeGroup wg = load(w + r * row_bytes + g * 4 * kBlockBytes, n);
        #pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const ActGroup32& a = reinterpret_cast<const ActGroup32*>(act + t * act_stride)[g];
          const __m512i dot = group_dot(wg, a);
          const __m512 da = _mm512_load_ps(a.d);
          sum[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(wg.d, da), sum[r][t]);
          if constexpr (kHasMin) {  // bias: -(code sum) in dword 0 of each lane
            const __m512 bias = _mm512_cvtepi32_ps(_mm512_load_si512(a.bias));
            sum[r][t] = _mm512_fnmadd_ps(bias, _mm512_mul_ps(wg.m, da), sum[r][t]);
          }
        }
      }
    };
    const int64_t full = nb / 4;
    for (int64_t g = 0; g < full; ++g) step(g, 4);
    if (groups > full) step(full, static_cast<int>(nb - 4 * full));
    store_sums<R, T>(sum, y, y_stride);
  }
};

size_t row_bytes32(int64_t cols) { return act_group32_row_bytes(cols); }

// With VNNI, Q4_0 and Q8_0 batches of kStripMinTokens or more (batched decode, prompts) go to the
// row-interleaved strips (matmul_strips_avx512.cpp); fewer tokens (decode of one or a few sequences,
// bound by memory) stay on the tiles, which read the weights in place with prefetch.
template <typename Kernel, GemmFn kStrips>
void gemm_tiles_or_strips(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                          size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride) {
  if (n_tokens >= kStripMinTokens) return kStrips(w, row_begin, row_end, act, act_stride, n_tokens, y, y_stride);
  gemm_tiled<Kernel>(w, row_begin, row_end, act, act_stride, n_tokens, y, y_stride);
}

// The activation bias's offset: the weight codes' own (Q4_0 8, Q5_0 16), or 128 for Q8_0 with VNNI,
// whose signed codes the kernels make unsigned; 0 for Q8_0 without (|w| x signed a); 1 for Q4_1 /
// Q5_1, whose m terms need minus the code sum.
constexpr int code_offset(Weights32 type, bool vnni) {
  switch (type) {
    case Weights32::kQ4_0:
      return 8;
    case Weights32::kQ5_0:
      return 16;
    case Weights32::kQ4_1:
    case Weights32::kQ5_1:
      return 1;
    case Weights32::kMXFP4:
      return 12;  // as loaded: doubled E2M1 values plus 12
    case Weights32::kQ8_0:
      break;
  }
  return vnni ? 128 : 0;
}

template <Weights32 kType, bool kVnni>
constexpr TypeKernel make_kernel32() {
  constexpr int kOffset = code_offset(kType, kVnni);
  using Kernel = Kernel32<kType, kVnni>;
  if constexpr (kVnni && (kType == Weights32::kQ4_0 || kType == Weights32::kQ8_0)) {
    // No f32-panel prefill: the strips run prompts at ~1.7x the panels' rate (gemm_tokens at 64-128
    // tokens, 1 thread: 127-156 against 60-80 GOP/s).
    return TypeKernel{row_bytes32, convert_group32<kOffset>,
                      gemm_tiles_or_strips<Kernel, gemm_strips<ggml_type_of(kType)>>, kStripRowBlock};
  }
  if constexpr (kType == Weights32::kMXFP4) {
    // No f32 panels: MXFP4 experts feed the next layer's router, whose top-k is discontinuous, so a
    // prompt goes through the same Q8_0-rounded activations as decode and llama.cpp (a panel's
    // unrounded f32 moved logits by O(1) at a near-tie, 160-token tiny gpt-oss, measured).
    return TypeKernel{row_bytes32, convert_group32<kOffset>, gemm_tiled<Kernel>, 4};
  }
  return with_f32_panels({row_bytes32, convert_group32<kOffset>, gemm_tiled<Kernel>, 4});
}

// Matrices interleaved at load: VNNI strips for every token count.
template <Weights32 kType>
constexpr TypeKernel make_interleaved_kernel() {
  return TypeKernel{row_bytes32, convert_group32<code_offset(kType, true)>, gemm_interleaved<ggml_type_of(kType)>,
                    kStripRowBlock};
}

const TypeKernel kQ4_0[2] = {make_kernel32<Weights32::kQ4_0, false>(), make_kernel32<Weights32::kQ4_0, true>()};
const TypeKernel kQ5_0[2] = {make_kernel32<Weights32::kQ5_0, false>(), make_kernel32<Weights32::kQ5_0, true>()};
const TypeKernel kQ8_0[2] = {make_kernel32<Weights32::kQ8_0, false>(), make_kernel32<Weights32::kQ8_0, true>()};
const TypeKernel kMXFP4[2] = {make_kernel32<Weights32::kMXFP4, false>(), make_kernel32<Weights32::kMXFP4, true>()};
const TypeKernel kQ4_0Interleaved = make_interleaved_kernel<Weights32::kQ4_0>();
const TypeKernel kQ5_0Interleaved = make_interleaved_kernel<Weights32::kQ5_0>();
const TypeKernel kQ8_0Interleaved = make_interleaved_kernel<Weights32::kQ8_0>();
const TypeKernel kQ4_1[2] = {make_kernel32<Weights32::kQ4_1, false>(),
                             make_kernel32<Weights32::kQ4_1, true>()};
const TypeKernel kQ5_1[2] = {make_kernel32<Weights32::kQ5_1, false>(),
                             make_kernel32<Weights32::kQ5_1, true>()};
const TypeKernel kQ4_1Interleaved = make_interleaved_kernel<Weights32::kQ4_1>();
const TypeKernel kQ5_1Interleaved = make_interleaved_kernel<Weights32::kQ5_1>();
const TypeKernel kMXFP4Interleaved = make_interleaved_kernel<Weights32::kMXFP4>();
// Q4_K: code offset 1, so the bias is minus each block's code sum (for the dmin * m terms). Q6_K:
// its codes' offset 32, per 16-value half.
const TypeKernel kQ4_KInterleaved{row_bytes32, convert_group32<1>, gemm_interleaved<GgmlType::kQ4_K>,
                                  kStripRowBlock};
const TypeKernel kQ6_KInterleaved{row_bytes32, convert_group32<32, true>, gemm_interleaved<GgmlType::kQ6_K>,
                                  kStripRowBlock};

}  // namespace
}  // namespace chimera::engine::matmul_detail::avx512

namespace chimera::engine::matmul_detail {

const TypeKernel* avx512_interleaved_kernel(GgmlType type) {
  if (type == GgmlType::kQ4_0) return &avx512::kQ4_0Interleaved;
  if (type == GgmlType::kQ5_0) return &avx512::kQ5_0Interleaved;
  if (type == GgmlType::kQ8_0) return &avx512::kQ8_0Interleaved;
  if (type == GgmlType::kQ4_K) return &avx512::kQ4_KInterleaved;
  if (type == GgmlType::kQ6_K) return &avx512::kQ6_KInterleaved;
  if (type == GgmlType::kQ4_1) return &avx512::kQ4_1Interleaved;
  if (type == GgmlType::kQ5_1) return &avx512::kQ5_1Interleaved;
  if (type == GgmlType::kMXFP4) return &avx512::kMXFP4Interleaved;
  return nullptr;
}

const TypeKernel* avx512_kernel(GgmlType type, bool vnni) {
  const int v = vnni ? 1 : 0;
  switch (type) {
    case GgmlType::kQ4_0: return &avx512::kQ4_0[v];
    case GgmlType::kQ5_0: return &avx512::kQ5_0[v];
    case GgmlType::kQ8_0: return &avx512::kQ8_0[v];
    case GgmlType::kQ4_1: return &avx512::kQ4_1[v];
    case GgmlType::kQ5_1: return &avx512::kQ5_1[v];
    case GgmlType::kMXFP4: return &avx512::kMXFP4[v];
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K: return avx512::k_quant_kernel(type, vnni);
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16: return avx512::float_kernel(type);
    default: return nullptr;
  }
}

}  // namespace chimera::engine::matmul_detail
