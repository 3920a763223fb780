// The 16-row interleaved layout of Q4_0 / Q5_0 / Q4_1 / Q5_1 / Q8_0 / Q4_K / Q6_K / MXFP4 matrices (see
// weight_interleave.h): the repack and the way back to one row. Portable code: the repack runs once
// at load, the row read per token lookup.
#include "engine/kernels/weight_interleave.h"

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "engine/kernels/matmul_kernels.h"
#include "engine/quant/quant.h"

namespace chimera::engine {
namespace {

constexpr InterleaveLayout kQ4_0Layout{kQK, sizeof(BlockQ4_0), 0, 1, 2, 4};
constexpr InterleaveLayout kQ5_0Layout{kQK, sizeof(BlockQ5_0), 0, 1, 2, 5};
constexpr InterleaveLayout kQ8_0Layout{kQK, sizeof(BlockQ8_0), 0, 1, 2, 8};
constexpr InterleaveLayout kQ4_KLayout{kQK_K, sizeof(BlockQ4_K), 0, 2, 4, 35};
constexpr InterleaveLayout kQ6_KLayout{kQK_K, sizeof(BlockQ6_K), 208, 1, 0, 52};  // d last
constexpr InterleaveLayout kQ4_1Layout{kQK, sizeof(BlockQ4_1), 0, 2, 4, 4};       // d, m; nibbles
constexpr InterleaveLayout kQ5_1Layout{kQK, sizeof(BlockQ5_1), 0, 2, 4, 5};  // d, m; qh, nibbles
constexpr InterleaveLayout kMXFP4Layout{kQK, sizeof(BlockMXFP4), 0, 1, 1, 4, 1};  // e; nibbles
static_assert(kMXFP4Layout.head_region() + 64 * 4 == 16 * sizeof(BlockMXFP4));

// Row r's block in the original layout from a 16-row block.
void restore_block(const InterleaveLayout& layout, const uint8_t* src, int r, uint8_t* block) {
  const int hb = layout.head_bytes;
  for (int f = 0; f < layout.head_fields; ++f)
    std::memcpy(block + layout.head_offset + hb * f, src + 16 * hb * f + hb * r, hb);
  for (int k = 0; k < 4 * layout.payload_dwords; ++k)
    block[layout.payload_offset + k] = src[interleaved_payload_offset(layout, r, k)];
}

}  // namespace

const InterleaveLayout* interleave_layout(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0: return &kQ4_0Layout;
    case GgmlType::kQ5_0: return &kQ5_0Layout;
    case GgmlType::kQ8_0: return &kQ8_0Layout;
    case GgmlType::kQ4_K: return &kQ4_KLayout;
    case GgmlType::kQ6_K: return &kQ6_KLayout;
    case GgmlType::kQ4_1: return &kQ4_1Layout;
    case GgmlType::kQ5_1: return &kQ5_1Layout;
    case GgmlType::kMXFP4: return &kMXFP4Layout;
    default: return nullptr;
  }
}

size_t interleaved_payload_offset(const InterleaveLayout& layout, int r, int k) {
  return layout.head_region() + static_cast<size_t>(k / 4) * 64 +
         static_cast<size_t>(r) * 4 + static_cast<size_t>(k % 4);
}

bool interleave_at_load() {
  const char* env = std::getenv("CHIMERA_INTERLEAVE");
  return active_kernel_path() == KernelPath::kAvx512Vnni && (env == nullptr || std::string_view(env) != "0");
}

bool can_interleave(const WeightMatrix& w) {
  const InterleaveLayout* layout = interleave_layout(w.type);
  return !w.interleaved && layout != nullptr && w.rows > 0 && w.rows % kInterleaveRows == 0 &&
         w.cols > 0 && w.cols % layout->block_values == 0;
}

size_t interleaved_block_bytes(GgmlType type) {
  return kInterleaveRows * static_cast<size_t>(interleave_layout(type)->block_bytes);
}

void interleave_strips(const WeightMatrix& w, int64_t strip_begin, int64_t strip_end,
                       uint8_t* out) {
  const InterleaveLayout& layout = *interleave_layout(w.type);
  const int64_t nb = w.cols / layout.block_values;
  const size_t block16 = interleaved_block_bytes(w.type);
  const auto* src = static_cast<const uint8_t*>(w.data);
  for (int64_t s = strip_begin; s < strip_end; ++s) {
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* dst = out + static_cast<size_t>(s * nb + b) * block16;
      for (int r = 0; r < kInterleaveRows; ++r) {
        const uint8_t* block = src + static_cast<size_t>(s * kInterleaveRows + r) * w.row_bytes +
                               static_cast<size_t>(b * layout.block_bytes);
        const int hb = layout.head_bytes;
        for (int f = 0; f < layout.head_fields; ++f)
          std::memcpy(dst + 16 * hb * f + hb * r, block + layout.head_offset + hb * f, hb);
        for (int k = 0; k < 4 * layout.payload_dwords; k += 4)
          std::memcpy(dst + interleaved_payload_offset(layout, r, k),
                      block + layout.payload_offset + k, 4);
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
  const InterleaveLayout& layout = *interleave_layout(w.type);
  const int64_t nb = w.cols / layout.block_values;
  const size_t block16 = interleaved_block_bytes(w.type);
  const int r = static_cast<int>(row % kInterleaveRows);
  const auto* strip = static_cast<const uint8_t*>(w.data) +
                      static_cast<size_t>(row / kInterleaveRows * nb) * block16;
  uint8_t block[sizeof(BlockQ6_K)];  // one block in the original layout (the largest type's)
  for (int64_t b = 0; b < nb; ++b) {
    restore_block(layout, strip + static_cast<size_t>(b) * block16, r, block);
    dequantize_row(w.type, block, out + b * layout.block_values, layout.block_values);
  }
}

}  // namespace chimera::engine
