// The 16-row interleaved layout of Q4_0 / Q5_0 / Q8_0 matrices (see weight_interleave.h): the
// repack and the way back to one row. Portable code: the repack runs once at load, the row read per
// token lookup.
#include "engine/weight_interleave.h"

#include <cstring>

#include "engine/matmul_kernels.h"
#include "engine/quant.h"

namespace chimera::engine {
namespace {

// Bytes per row and block after d: Q4_0 16 (nibbles), Q5_0 20 (qh, nibbles), Q8_0 32 (codes).
int payload_bytes(GgmlType type) {
  return type == GgmlType::kQ4_0 ? kQK / 2 : type == GgmlType::kQ5_0 ? 4 + kQK / 2 : kQK;
}
constexpr size_t kScaleBytes = 2;

}  // namespace

bool can_interleave(const WeightMatrix& w) {
  return !w.interleaved &&
         (w.type == GgmlType::kQ4_0 || w.type == GgmlType::kQ5_0 || w.type == GgmlType::kQ8_0) &&
         w.rows > 0 && w.rows % kInterleaveRows == 0 && w.cols > 0 && w.cols % kQK == 0;
}

size_t interleaved_block_bytes(GgmlType type) {
  return kInterleaveRows * kScaleBytes + kInterleaveRows * static_cast<size_t>(payload_bytes(type));
}

void interleave_strips(const WeightMatrix& w, int64_t strip_begin, int64_t strip_end,
                       uint8_t* out) {
  const int64_t nb = w.cols / kQK;
  const int codes = payload_bytes(w.type);
  const size_t block_bytes = kScaleBytes + static_cast<size_t>(codes);  // original, per row
  const size_t block16 = interleaved_block_bytes(w.type);
  const auto* src = static_cast<const uint8_t*>(w.data);
  for (int64_t s = strip_begin; s < strip_end; ++s) {
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* dst = out + static_cast<size_t>(s * nb + b) * block16;
      for (int r = 0; r < kInterleaveRows; ++r) {
        const uint8_t* block = src + static_cast<size_t>(s * kInterleaveRows + r) * w.row_bytes +
                               static_cast<size_t>(b) * block_bytes;
        std::memcpy(dst + r * kScaleBytes, block, kScaleBytes);
        for (int k = 0; k < codes; k += 4)
          std::memcpy(dst + interleaved_payload_offset(r, k), block + kScaleBytes + k, 4);
      }
    }
  }
}

void interleave_strips_fast(const WeightMatrix& w, int64_t strip_begin, int64_t strip_end,
                            uint8_t* out) {
  if (kernel_path_supported(KernelPath::kAvx512)) {
    matmul_detail::interleave_strips_avx512(w, strip_begin, strip_end, out);
  } else {
    interleave_strips(w, strip_begin, strip_end, out);
  }
}

void dequantize_weight_row(const WeightMatrix& w, int64_t row, float* out) {
  if (!w.interleaved) {
    dequantize_row(w.type,
                   static_cast<const uint8_t*>(w.data) + static_cast<size_t>(row) * w.row_bytes,
                   out, w.cols);
    return;
  }
  const int64_t nb = w.cols / kQK;
  const int codes = payload_bytes(w.type);
  const size_t block16 = interleaved_block_bytes(w.type);
  const int r = static_cast<int>(row % kInterleaveRows);
  const auto* strip = static_cast<const uint8_t*>(w.data) +
                      static_cast<size_t>(row / kInterleaveRows * nb) * block16;
  uint8_t block[kScaleBytes + kQK];  // one block in the original layout (34 bytes at most)
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* src = strip + static_cast<size_t>(b) * block16;
    std::memcpy(block, src + r * kScaleBytes, kScaleBytes);
    for (int k = 0; k < codes; ++k) block[kScaleBytes + k] = src[interleaved_payload_offset(r, k)];
    dequantize_row(w.type, block, out + b * kQK, kQK);
  }
}

}  // namespace chimera::engine
