// GGUF v2/v3 reader (mmap, zero-copy tensor views, validated) and writer. engine-reference.md §1.
// The file is the contract: files we write load in llama.cpp, and files llama.cpp/Ollama write load here.
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

#include "engine/ggml_type.h"
#include "util/mapped_file.h"
#include "util/status.h"

namespace chimera::engine {

enum class GgufValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
std::string_view gguf_value_type_name(GgufValueType type);

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

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;   // ggml order: ne[0] is the contiguous axis (columns)
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;       // relative to the data section
  uint64_t n_bytes = 0;
  int64_t n_elements = 0;
  const uint8_t* data = nullptr;  // points into the mapped file

  int64_t rows() const;      // product of ne[1..]
  int64_t cols() const { return ne.empty() ? 1 : ne[0]; }
};

class GgufFile {
 public:
  // mmaps and validates the whole structure (not the tensor bytes' values). Errors name the file,
  // the field and the value.
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
  Result<std::vector<int64_t>> get_int_array(std::string_view key) const;  // any integer width or bool
  Result<std::vector<bool>> get_bool_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;

 private:
  std::shared_ptr<MappedFile> mapping_;  // null when parsing caller-owned bytes
  std::span<const uint8_t> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufMetadata> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  friend class GgufParser;
};

// Builds a GGUF file. Metadata keeps insertion order. Tensor data is produced on demand at write time
// so multi-GB files stream to disk without being held in memory.
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
  void set_alignment(uint32_t alignment);  // also writes general.alignment

  // `ne` in ggml order. Errors if ne[0] is not a multiple of the type's block size or names repeat.
  Status add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type, TensorProducer producer);
  Status add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type, std::vector<uint8_t> data);

  // Writes to `path` + ".tmp" then renames: an interrupted write never leaves a half file at `path`.
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
  std::vector<Entry> entries_;
  std::vector<Tensor> tensors_;
  uint32_t alignment_ = 32;
};

}  // namespace chimera::engine
