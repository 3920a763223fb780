// ggml tensor types as GGUF files name them (engine-reference.md §1.1, §2.1). The table knows the block
// geometry of every type a file may contain, so a reader can validate any file; `is_computable` says which
// types this engine can run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chimera::engine {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;  // "Q4_K", as llama.cpp prints it
  int64_t block_size;     // elements per block
  int64_t block_bytes;    // bytes per block
  bool is_computable;     // this engine has kernels for it (weights)
};

// nullptr for ids that are not ggml types (or were retired: 4, 5, 31-33, 36-38).
const GgmlTypeInfo* ggml_type_info(uint32_t raw_type);
inline const GgmlTypeInfo& ggml_type_info(GgmlType type) { return *ggml_type_info(static_cast<uint32_t>(type)); }
std::string_view ggml_type_name(GgmlType type);
std::optional<GgmlType> ggml_type_from_name(std::string_view name);  // case-insensitive
// Bytes of a row of `n` elements; nullopt when n is not a multiple of the block size.
std::optional<size_t> ggml_row_bytes(GgmlType type, int64_t n);
// "F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K" for error messages.
std::string computable_type_list();

}  // namespace chimera::engine
