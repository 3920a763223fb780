// Internal to matmul*.cpp: the per-path, per-weight-type kernel table the driver (matmul.cpp) uses.
// Each path chooses its own activation layout; the driver only knows its size per token row.
#pragma once

#include <xmmintrin.h>  // _mm_prefetch (SSE: part of x86-64)

#include <cstddef>
#include <cstdint>

#include "engine/gguf/ggml_type.h"
#include "engine/kernels/matmul.h"

namespace chimera::engine::matmul_detail {

// y[t * y_stride + r] = dot(W row r, activations of token t) for r in [row_begin, row_end),
// t in [0, n_tokens). `act` points at token 0's converted row; rows are act_stride bytes apart.
using GemmFn = void (*)(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                        size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride);

struct TypeKernel {
  // Bytes one token's converted activations take; null: the kernel reads the f32 activations.
  size_t (*act_row_bytes)(int64_t cols) = nullptr;
  // Converts one token's f32 activations (cols values) into the layout `gemm` reads.
  void (*convert_act)(const float* x, void* out, int64_t cols) = nullptr;
  GemmFn gemm = nullptr;
  int row_block = 1;  // the work splitter keeps row ranges multiples of this (except the last)
  // Optional path for many tokens (prefill) that reads the f32 activations directly; used instead
  // of the above when n_tokens >= many_min_tokens.
  GemmFn gemm_many = nullptr;
  int64_t many_min_tokens = 0;
  int many_row_block = 1;
  // Optional layout of the activations gemm_many reads, prepared once per call (not once per
  // thread): bytes for n_tokens, and the packing of tokens [t_begin, t_end) (multiples of
  // many_pack_tokens, except a batch's end), which the driver splits across the threads.
  size_t (*many_act_bytes)(int64_t n_tokens, int64_t cols) = nullptr;
  void (*pack_many)(const float* x, int64_t n_tokens, int64_t cols, int64_t t_begin, int64_t t_end,
                    void* out) = nullptr;
  int64_t many_pack_tokens = 1;
};

// Activations for the 32-block weight types (Q4_0, Q5_0, Q4_1, Q5_1, Q8_0), 4 blocks (128 values)
// per group, laid out so one 64-byte load lines up with the nibbles of 4 weight blocks: lane b of
// `lo` holds block b's values 0..15 (the low nibbles of its 16 bytes), lane b of `hi`
// values 16..31. d (f32, not rounded to f16) and bias are repeated per 128-bit lane so they combine
// with per-block results lane-wise. bias is -offset * (sum of block b's codes) in dword 0 of lane
// b: it turns sum(q * a) into sum((q - offset) * a) for unsigned weight codes; for Q6_K (a scale
// per 16 values) dword 1 holds the same for the block's first 16 codes, else 0. With offset 1 the
// bias is minus the code sum, which is what Q4_1 / Q5_1 (value = d * code + m) need for their m
// terms: the sum Q8_1 activations carry in ggml. A row's last group is zero-padded.
struct alignas(64) ActGroup32 {
  int8_t lo[64];
  int8_t hi[64];
  float d[16];
  int32_t bias[16];
};
static_assert(sizeof(ActGroup32) == 256);

// Activations for the K-quants: one 256-value super-block, codes permuted into the order the weight
// type's nibbles come out of a 64-byte load (each path documents its order), 16-value group sums
// in natural order for the min / offset terms, and d in f32.
struct alignas(64) ActBlockK {
  int8_t qs[256];
  int16_t bsums[16];
  float d;
  uint8_t pad[28];
};
static_assert(sizeof(ActBlockK) == 320);

// static: every ISA-specific file gets its own copy (no shared inline code across ISA flags).
static inline size_t act_group32_row_bytes(int64_t cols) {
  return static_cast<size_t>((cols / 32 + 3) / 4) * sizeof(ActGroup32);
}
static inline size_t act_block_k_row_bytes(int64_t cols) {
  return static_cast<size_t>(cols / 256) * sizeof(ActBlockK);
}

// Decode reads every weight once, from DRAM, and a strip of R consecutive rows is one contiguous
// range read as R interleaved streams; the hardware prefetchers restart with every short row and
// leave the memory bus idle (measured: Q4_0 1152-wide rows streamed at half the rate of long rows).
// So the T == 1 tiles prefetch what they will read about 8 KiB later:
//  - strips up to 16 KiB: the strip ahead (or the first one at least 4 KiB ahead), slice by slice in
//    proportion as they consume this one: one linear stream;
//  - longer strips (the FFN down projections; interleaved strips of 16 Q8_0 rows): each row
//    8 KiB / R ahead of where it is read. The strip ahead would be read a whole strip later, its
//    lines evicted from L1 before use. Measured (gemma3-1b, decode, 2 threads, A/B in one process):
//    F16 down 21.3 -> 23.2 GB/s, tg +2.5 %; tg Q4_0 +4.5 %, Q8_0 +5.7 %, Q4_K_M +4.3 %. A 4 KiB lead
//    measured the same, 16 KiB no gain.
// Prefetches never fault, so reading past the matrix is fine.
namespace {  // each ISA-specific file gets its own copy

// An L1 prefetch the compiler keeps: GCC deletes _mm_prefetch loops whose trip count it cannot see at
// -O2 (a prefetch is no observable effect, and the loop is assumed to end).
inline void prefetch_l1(const char* p) { asm volatile("prefetcht0 %0" : : "m"(*p)); }

// Prefetches at `at` and every 64 bytes after it up to at + kBytes; for steps of kBytes < 64, only
// at the first step of each 64-byte stretch of `progress` (one prefetch per line streamed).
template <size_t kBytes>
inline void prefetch_step(const char* at, size_t progress) {
  if constexpr (kBytes < 64) {
    if ((progress & 63) < kBytes) prefetch_l1(at);
  } else {
#pragma GCC unroll 16
    for (size_t b = 0; b < kBytes; b += 64) prefetch_l1(at + b);
  }
}

template <int kRows>
class StripPrefetcher {
 public:
  // A strip of kRows rows of row_bytes each, from `strip` on (an interleaved strip read as one
  // stream: kRows = 1, row_bytes = its length).
  StripPrefetcher(const uint8_t* strip, size_t row_bytes)
      : strip_(reinterpret_cast<const char*>(strip)), row_bytes_(row_bytes) {
    const size_t strip_bytes = row_bytes * kRows;
    per_row_ = strip_bytes > kMaxStripLead;
    if (per_row_) {
      lead_ = kLeadBytes / kRows;
    } else {
      lead_ = (strip_bytes >= kMinLeadBytes ? 1 : (kMinLeadBytes + strip_bytes - 1) / strip_bytes) * strip_bytes;
    }
  }
  // The tile is about to read bytes [offset, offset + kBytes) of each row.
  template <size_t kBytes>
  void advance(size_t offset) const {
    if (per_row_) {
#pragma GCC unroll 16
      for (int r = 0; r < kRows; ++r) prefetch_step<kBytes>(strip_ + r * row_bytes_ + offset + lead_, offset);
    } else {
      prefetch_step<kBytes * kRows>(strip_ + lead_ + offset * kRows, offset * kRows);
    }
  }

 private:
  static constexpr size_t kMinLeadBytes = 4096;
  static constexpr size_t kMaxStripLead = size_t{16} << 10;
  static constexpr size_t kLeadBytes = size_t{8} << 10;
  const char* strip_;
  size_t row_bytes_;
  bool per_row_ = false;
  size_t lead_ = 0;
};

}  // namespace

// Register-tiled loop over a thread's rows and all tokens. Kernel::tile<R, T>(w_row, row_bytes,
// act, act_stride, cols, y, y_stride) computes R consecutive rows x T consecutive tokens, writing
// y[t * y_stride + r]; R and T are Kernel::kTileRows / kTileTokens, or 1 for the leftovers. Tokens
// are walked in blocks small enough that their activations stay in L2 while every row of the range
// passes over them; each strip of weight rows is loaded once per kTileTokens tokens. The tokens
// left after the full kTileTokens tiles (fewer than kTileTokens), in one tile of that width, so
// each weight strip is unpacked once for all of them (batched decode of 2 or 3 sequences would
// otherwise pay one T = 1 pass per token).
template <typename Kernel, int R, int T = Kernel::kTileTokens - 1>
inline void tile_tail(int64_t left, const uint8_t* w, size_t row_bytes, const uint8_t* act,
                      size_t act_stride, int64_t cols, float* y, int64_t y_stride) {
  if constexpr (T >= 2) {
    if (left == T)
      return Kernel::template tile<R, T>(w, row_bytes, act, act_stride, cols, y, y_stride);
    return tile_tail<Kernel, R, T - 1>(left, w, row_bytes, act, act_stride, cols, y, y_stride);
  } else {
    for (int64_t t = 0; t < left; ++t) {
      Kernel::template tile<R, 1>(w, row_bytes, act + t * act_stride, act_stride, cols,
                                  y + t * y_stride, y_stride);
    }
  }
}

template <typename Kernel>
void gemm_tiled(const WeightMatrix& w, int64_t row_begin, int64_t row_end, const void* act,
                size_t act_stride, int64_t n_tokens, float* y, int64_t y_stride) {
  constexpr int kR = Kernel::kTileRows, kT = Kernel::kTileTokens;
  constexpr int64_t kTokenBlock = 32;
  const auto* wb = static_cast<const uint8_t*>(w.data);
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenBlock) {
    const int64_t t1 = n_tokens < t0 + kTokenBlock ? n_tokens : t0 + kTokenBlock;
    int64_t r = row_begin;
    for (; r + kR <= row_end; r += kR) {
      const uint8_t* wr = wb + static_cast<size_t>(r) * w.row_bytes;
      int64_t t = t0;
      for (; t + kT <= t1; t += kT) {
        Kernel::template tile<kR, kT>(wr, w.row_bytes, ab + t * act_stride, act_stride, w.cols,
                                      y + t * y_stride + r, y_stride);
      }
      tile_tail<Kernel, kR>(t1 - t, wr, w.row_bytes, ab + t * act_stride, act_stride, w.cols,
                            y + t * y_stride + r, y_stride);
    }
    for (; r < row_end; ++r) {
      const uint8_t* wr = wb + static_cast<size_t>(r) * w.row_bytes;
      int64_t t = t0;
      for (; t + kT <= t1; t += kT) {
        Kernel::template tile<1, kT>(wr, w.row_bytes, ab + t * act_stride, act_stride, w.cols,
                                     y + t * y_stride + r, y_stride);
      }
      tile_tail<Kernel, 1>(t1 - t, wr, w.row_bytes, ab + t * act_stride, act_stride, w.cols,
                           y + t * y_stride + r, y_stride);
    }
  }
}

// The 8 six-bit scales and mins of a Q4_K/Q5_K super-block (engine-reference.md §2.2) as 8 bytes
// each, from the 12 packed bytes read as three u32 words: j < 4 from the low 6 bits of words 0
// (scales) and 1 (mins); j >= 4 from the nibbles of word 2 plus the top 2 bits of words 0 / 1.
// Plain integer code.
static inline void unpack_k4_scales(const uint8_t* packed, uint64_t* scales, uint64_t* mins) {
  uint32_t s[3];
  __builtin_memcpy(s, packed, sizeof s);
  const uint32_t sc_lo = s[0] & 0x3F3F3F3Fu, m_lo = s[1] & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (s[2] & 0x0F0F0F0Fu) | (((s[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((s[2] >> 4) & 0x0F0F0F0Fu) | (((s[1] >> 6) & 0x03030303u) << 4);
  *scales = sc_lo | (static_cast<uint64_t>(sc_hi) << 32);
  *mins = m_lo | (static_cast<uint64_t>(m_hi) << 32);
}

// Null when the path has no kernel for the type (the driver then uses the scalar one).
const TypeKernel* scalar_kernel(GgmlType type);
const TypeKernel* avx2_kernel(GgmlType type);
const TypeKernel* avx512_kernel(GgmlType type, bool vnni);
// interleave_strips() with AVX-512 (matmul_strips_avx512.cpp); only where the CPU has AVX-512.
void interleave_strips_avx512(const WeightMatrix& w, int64_t strip_begin, int64_t strip_end, uint8_t* out);
// For WeightMatrix::interleaved matrices (Q4_0 / Q5_0 / Q4_1 / Q5_1 / Q8_0 / Q4_K / Q6_K); null for
// other types.
const TypeKernel* avx512_interleaved_kernel(GgmlType type);

}  // namespace chimera::engine::matmul_detail
