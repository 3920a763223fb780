// src/engine/gguf/: the GGUF file format, the engine's only input and the contract with other
// engines. gguf.h reads (mmap, validated, zero-copy tensor views) and writes files; ggml_type.h is
// the table of tensor types and their block geometry that both the reader and quant/ use. Nothing
// here interprets what the tensors mean (model/ does) or computes with them (kernels/ does).
//
// GGUF v2/v3 reader (mmap, zero-copy tensor views, validated) and writer. engine-reference.md §1.
// The file is the contract: files we write load in llama.cpp, and files llama.cpp/Ollama write load
// here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "util/mapped_file.h"
#include "util/status.h"

namespace chimera::engine {

enum class GgufValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
std::string_view gguf_value_type_name(GgufValueType type);  // "u32", "string", "array", ...

// Limits the reader enforces, matching ggml's gguf.cpp where it has one.
inline constexpr uint64_t kGgufDefaultAlignment = 32;
inline constexpr uint64_t kGgufMaxAlignment = uint64_t{1} << 20;  // ggml: power of two, <= 1 MiB
inline constexpr size_t kGgufMaxTensorNameBytes = 63;             // ggml GGML_MAX_NAME (64) - 1
inline constexpr size_t kGgufMaxKeyBytes = 65535;                 // GGUF spec
inline constexpr int kGgufMaxDims = 4;
inline constexpr int kGgufMaxArrayDepth = 3;  // an array of arrays of arrays; deeper is rejected

// An array value: element type, count, and the raw little-endian bytes inside the mapped file.
// String elements are decoded on access (each is u64 length + bytes).
struct GgufArrayView {
  GgufValueType element_type = GgufValueType::kU8;
  uint64_t count = 0;
  std::span<const uint8_t> bytes;  // the encoded elements
};

struct GgufMetadata {
  std::string key;
  GgufValueType type = GgufValueType::kU8;
  // Integers of any width are widened (signed to int64, unsigned to uint64); f32/f64 to double.
  std::variant<uint64_t, int64_t, double, bool, std::string_view, GgufArrayView> value;
};

// The elements of an array whose element_type is kArray (validated at parse time).
std::vector<GgufArrayView> gguf_nested_arrays(const GgufArrayView& array);
// A short human-readable rendering: numbers, quoted strings (cut at max_chars), arrays as
// "[a, b, ... (N items)]" with at most max_elements shown.
std::string format_gguf_value(const GgufMetadata& kv, size_t max_elements = 8,
                              size_t max_chars = 60);

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the contiguous axis (columns)
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;  // relative to the data section
  uint64_t n_bytes = 0;
  int64_t n_elements = 0;
  // Points into the mapped file. Aligned to the file's alignment (32 by default) relative to the
  // start of the file; a file may legally use alignment 1, so kernels must not assume more.
  const uint8_t* data = nullptr;

  std::span<const uint8_t> bytes() const { return {data, static_cast<size_t>(n_bytes)}; }

  int64_t rows() const;  // product of ne[1..]
  int64_t cols() const { return ne.empty() ? 1 : ne[0]; }
};

class GgufFile {
 public:
  // mmaps and validates the whole structure (not the tensor bytes' values). Errors name the file,
  // the field and the value. Reads only the header pages: cost is independent of the tensor bytes.
  static Result<GgufFile> open(const std::string& path);
  // Parses bytes owned by the caller (tests, fuzzing). `name` labels errors.
  static Result<GgufFile> parse(std::span<const uint8_t> bytes, std::string name);

  const std::string& path() const { return name_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return bytes_.size(); }

  const std::vector<GgufMetadata>& metadata() const { return metadata_; }
  const GgufMetadata* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed access. Integers of any width convert when the value fits; floats accept f32/f64.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string_view> get_string(std::string_view key) const;
  // Required values: the error names file, key and what was found instead.
  Result<int64_t> require_int(std::string_view key) const;
  Result<double> require_float(std::string_view key) const;
  Result<std::string_view> require_string(std::string_view key) const;
  // Arrays (error if the key is absent or not an array of a compatible type).
  Result<std::vector<std::string_view>> get_string_array(std::string_view key) const;
  Result<std::vector<float>> get_float_array(std::string_view key) const;
  Result<std::vector<int64_t>> get_int_array(
      std::string_view key) const;  // any integer width or bool
  Result<std::vector<bool>> get_bool_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // Sum of the tensors' n_bytes (the weights), and of their element counts.
  uint64_t tensor_bytes() const;
  uint64_t parameter_count() const;
  // The mapping behind the views (null for parse()); hold it to keep tensor data alive.
  std::shared_ptr<const MappedFile> mapping() const { return mapping_; }

 private:
  std::shared_ptr<MappedFile> mapping_;  // null when parsing caller-owned bytes
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufMetadata> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  // Indices into metadata_ / tensors_ sorted by key / name, for binary search (copy-safe).
  std::vector<size_t> key_order_;
  std::vector<size_t> tensor_order_;
  friend class GgufParser;
};

// Builds a GGUF file. Metadata keeps insertion order. Tensor data is produced on demand at write
// time so multi-GB files stream to disk without being held in memory.
class GgufWriter {
 public:
  using TensorProducer = std::function<Status(std::span<uint8_t> out)>;  // fills exactly n_bytes

  void set_u8(std::string key, uint8_t v);
  void set_i8(std::string key, int8_t v);
  void set_u16(std::string key, uint16_t v);
  void set_i16(std::string key, int16_t v);
  void set_u32(std::string key, uint32_t v);
  void set_i32(std::string key, int32_t v);
  void set_u64(std::string key, uint64_t v);
  void set_i64(std::string key, int64_t v);
  void set_f32(std::string key, float v);
  void set_f64(std::string key, double v);
  void set_bool(std::string key, bool v);
  void set_string(std::string key, std::string v);
  void set_string_array(std::string key, std::vector<std::string> v);
  void set_f32_array(std::string key, std::vector<float> v);
  void set_i32_array(std::string key, std::vector<int32_t> v);
  void set_u32_array(std::string key, std::vector<uint32_t> v);
  void set_bool_array(std::string key, std::vector<bool> v);
  // Also writes general.alignment. Must be a power of two <= 1 MiB (checked by write()).
  void set_alignment(uint32_t alignment);
  bool has_key(std::string_view key) const;
  size_t tensor_count() const { return tensors_.size(); }

  // `ne` in ggml order. Errors if ne[0] is not a multiple of the type's block size or names repeat.
  Status add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type,
                    TensorProducer producer);
  Status add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type,
                    std::vector<uint8_t> data);

  // Called after each tensor is written, with the data bytes done so far and in all.
  using ProgressFn = std::function<void(uint64_t bytes_done, uint64_t bytes_total)>;
  void set_progress(ProgressFn progress) { progress_ = std::move(progress); }

  // Writes to `path` + ".tmp" then renames: an interrupted write never leaves a half file at
  // `path`. Space for the whole file is reserved first (a full disk fails before any tensor is
  // produced); each tensor's producer writes straight into a mapping of its range of the file, so
  // memory use stays at one tensor's pages at a time.
  Status write(const std::string& path) const;
  // Encodes the whole file in memory (tests and fuzz seeds).
  Result<std::vector<uint8_t>> write_to_memory() const;

 private:
  struct Entry {
    std::string key;
    GgufValueType type;
    std::vector<uint8_t> encoded;  // value bytes (without key and type)
  };
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    GgmlType type;
    uint64_t n_bytes;
    TensorProducer producer;
  };
  void put(std::string key, GgufValueType type, std::vector<uint8_t> encoded);
  // Header, metadata, tensor infos and padding up to the data section; sets tensor offsets.
  Result<std::vector<uint8_t>> encode_header(std::vector<uint64_t>& offsets,
                                             uint64_t& data_bytes) const;
  std::vector<Entry> entries_;
  std::vector<Tensor> tensors_;
  uint32_t alignment_ = 32;
  ProgressFn progress_;
};

}  // namespace chimera::engine
