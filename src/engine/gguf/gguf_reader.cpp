// GGUF v2/v3 parser (engine-reference.md §1.1). Every read is bounds-checked against the bytes
// left, so a hostile file can only produce an error. The checks mirror ggml's src/gguf.cpp (which
// llama.cpp uses), plus a few it leaves to asserts (bool values, zero dimensions, tensor data
// inside the file).
#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "engine/gguf/gguf.h"

namespace chimera::engine {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as u32 LE
constexpr uint32_t kMaxVersion = 3;
// Smallest possible encodings, used to reject impossible counts before allocating anything.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;  // key length, value type, one value byte
constexpr uint64_t kMinTensorInfoBytes =
    8 + 4 + 8 + 4 + 8;                      // name length, n_dims, one dim, type, offset
constexpr uint64_t kMinArrayBytes = 4 + 8;  // nested array: element type + count

size_t fixed_value_size(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kU16:
    case GgufValueType::kI16:
      return 2;
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kF32:
      return 4;
    case GgufValueType::kU64:
    case GgufValueType::kI64:
    case GgufValueType::kF64:
      return 8;
    default:
      return 0;  // string, array: variable
  }
}

bool is_known_value_type(uint32_t raw) { return raw <= static_cast<uint32_t>(GgufValueType::kF64); }

template <typename T>
T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // x86-64 and aarch64 are little-endian, as GGUF is
  return v;
}

// Hostile names go into error messages: keep them printable and short.
std::string printable(std::string_view text, size_t max_chars = 80) {
  std::string out;
  for (size_t i = 0; i < text.size() && out.size() < max_chars; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (out.size() >= max_chars && text.size() > max_chars) out += "...";
  return out;
}

// Decodes one validated scalar into the widened variant.
void decode_scalar(GgufValueType type, const uint8_t* p, GgufMetadata& out) {
  switch (type) {
    case GgufValueType::kU8:
      out.value = uint64_t{p[0]};
      break;
    case GgufValueType::kI8:
      out.value = int64_t{static_cast<int8_t>(p[0])};
      break;
    case GgufValueType::kU16:
      out.value = uint64_t{load_le<uint16_t>(p)};
      break;
    case GgufValueType::kI16:
      out.value = int64_t{load_le<int16_t>(p)};
      break;
    case GgufValueType::kU32:
      out.value = uint64_t{load_le<uint32_t>(p)};
      break;
    case GgufValueType::kI32:
      out.value = int64_t{load_le<int32_t>(p)};
      break;
    case GgufValueType::kU64:
      out.value = load_le<uint64_t>(p);
      break;
    case GgufValueType::kI64:
      out.value = load_le<int64_t>(p);
      break;
    case GgufValueType::kF32:
      out.value = double{load_le<float>(p)};
      break;
    case GgufValueType::kF64:
      out.value = load_le<double>(p);
      break;
    case GgufValueType::kBool:
      out.value = p[0] != 0;
      break;
    default:
      break;
  }
}

}  // namespace

std::string_view gguf_value_type_name(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8:
      return "u8";
    case GgufValueType::kI8:
      return "i8";
    case GgufValueType::kU16:
      return "u16";
    case GgufValueType::kI16:
      return "i16";
    case GgufValueType::kU32:
      return "u32";
    case GgufValueType::kI32:
      return "i32";
    case GgufValueType::kF32:
      return "f32";
    case GgufValueType::kBool:
      return "bool";
    case GgufValueType::kString:
      return "string";
    case GgufValueType::kArray:
      return "array";
    case GgufValueType::kU64:
      return "u64";
    case GgufValueType::kI64:
      return "i64";
    case GgufValueType::kF64:
      return "f64";
  }
  return "unknown";
}

int64_t GgufTensorInfo::rows() const {
  int64_t r = 1;
  for (size_t i = 1; i < ne.size(); ++i) r *= ne[i];
  return r;
}

// Walks the bytes once, front to back. `pos_` never passes `bytes_.size()`.
class GgufParser {
 public:
  GgufParser(std::span<const uint8_t> bytes, GgufFile& file) : bytes_(bytes), file_(file) {}

  Status run() {
    CHIMERA_RETURN_IF_ERROR(parse_header());
    CHIMERA_RETURN_IF_ERROR(parse_metadata());
    CHIMERA_RETURN_IF_ERROR(read_alignment());
    CHIMERA_RETURN_IF_ERROR(parse_tensor_infos());
    CHIMERA_RETURN_IF_ERROR(place_tensor_data());
    build_indexes();
    return Status::ok();
  }

 private:
  uint64_t remaining() const { return bytes_.size() - pos_; }

  template <typename... Args>
  Status fail(fmt::format_string<Args...> format, Args&&... args) const {
    return Status(ErrorCode::kParseError,
                  file_.name_ + ": " + fmt::format(format, std::forward<Args>(args)...));
  }

  // `what` names the field for error messages: a string, or a callable building one only on error
  // (a vocabulary has 262144 strings; formatting a label for each would dominate the parse).
  template <typename What>
  static std::string describe(const What& what) {
    if constexpr (std::is_invocable_v<const What&>) {
      return what();
    } else {
      return std::string(what);
    }
  }

  template <typename What>
  Status need(uint64_t n, const What& what) const {
    if (n > remaining()) {
      return fail(
          "truncated: {} at byte {} needs {} bytes but only {} remain (file is {} bytes); "
          "the file is incomplete or not a GGUF file",
          describe(what), pos_, n, remaining(), bytes_.size());
    }
    return Status::ok();
  }

  template <typename T, typename What>
  Status read(T& out, const What& what) {
    CHIMERA_RETURN_IF_ERROR(need(sizeof(T), what));
    out = load_le<T>(bytes_.data() + pos_);
    pos_ += sizeof(T);
    return Status::ok();
  }

  // GGUF string: u64 length + bytes, viewed in place.
  template <typename What>
  Status read_string(std::string_view& out, const What& what) {
    uint64_t length = 0;
    CHIMERA_RETURN_IF_ERROR(read(length, what));
    if (length > remaining()) {
      return fail("{} at byte {} claims {} bytes but only {} remain in the file", describe(what),
                  pos_ - 8, length, remaining());
    }
    out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return Status::ok();
  }

  Status parse_header() {
    uint32_t magic = 0;
    if (bytes_.size() < 4) {
      return fail("file is {} bytes, too short to be GGUF (expected the magic 'GGUF')",
                  bytes_.size());
    }
    CHIMERA_RETURN_IF_ERROR(read(magic, "magic"));
    if (magic != kGgufMagic) {
      std::string_view got(reinterpret_cast<const char*>(bytes_.data()), 4);
      return fail("not a GGUF file: magic is '{}', expected 'GGUF'", printable(got));
    }
    uint32_t version = 0;
    CHIMERA_RETURN_IF_ERROR(read(version, "version"));
    if (version != 0 && (version & 0xFFFF) == 0) {
      return fail("GGUF version {:#x} looks byte-swapped; big-endian GGUF files are not supported",
                  version);
    }
    if (version == 1) {
      return fail(
          "GGUF version 1 is obsolete (32-bit counts); re-convert the model with a "
          "current llama.cpp");
    }
    if (version < 2 || version > kMaxVersion) {
      return fail("GGUF version {} is not supported; this build reads versions 2 and 3", version);
    }
    file_.version_ = version;
    CHIMERA_RETURN_IF_ERROR(read(n_tensors_, "tensor count"));
    CHIMERA_RETURN_IF_ERROR(read(n_kv_, "metadata count"));
    // Counts are attacker-controlled: each record has a minimum size, so a count larger than the
    // remaining bytes allow is impossible and rejected before anything is reserved.
    if (n_kv_ > remaining() / kMinKvBytes) {
      return fail(
          "metadata count {} is impossible: each entry needs at least {} bytes and only {} "
          "bytes follow the header; the file is truncated or corrupt",
          n_kv_, kMinKvBytes, remaining());
    }
    if (n_tensors_ > remaining() / kMinTensorInfoBytes) {
      return fail(
          "tensor count {} is impossible: each tensor record needs at least {} bytes and "
          "only {} bytes follow the header; the file is truncated or corrupt",
          n_tensors_, kMinTensorInfoBytes, remaining());
    }
    return Status::ok();
  }

  Status parse_metadata() {
    file_.metadata_.reserve(static_cast<size_t>(std::min<uint64_t>(n_kv_, 1024)));
    std::unordered_set<std::string_view> seen;
    for (uint64_t i = 0; i < n_kv_; ++i) {
      std::string_view key;
      CHIMERA_RETURN_IF_ERROR(read_string(key, [&] { return fmt::format("metadata key #{}", i); }));
      if (key.empty()) return fail("metadata entry #{} has an empty key", i);
      if (key.size() > kGgufMaxKeyBytes) {
        return fail("metadata key #{} is {} bytes long; GGUF allows at most {}", i, key.size(),
                    kGgufMaxKeyBytes);
      }
      if (!seen.insert(key).second) {
        return fail("duplicate metadata key '{}' (entry #{}); a GGUF key may appear only once",
                    printable(key), i);
      }
      uint32_t raw_type = 0;
      CHIMERA_RETURN_IF_ERROR(
          read(raw_type, [&] { return fmt::format("type of key '{}'", printable(key)); }));
      if (!is_known_value_type(raw_type)) {
        return fail("metadata key '{}' has value type {} (unknown); valid types are 0-12",
                    printable(key), raw_type);
      }
      GgufMetadata kv;
      kv.key = std::string(key);
      kv.type = static_cast<GgufValueType>(raw_type);
      CHIMERA_RETURN_IF_ERROR(parse_value(kv));
      file_.metadata_.push_back(std::move(kv));
    }
    return Status::ok();
  }

  Status parse_value(GgufMetadata& kv) {
    const auto what = [&] { return fmt::format("value of key '{}'", printable(kv.key)); };
    if (kv.type == GgufValueType::kString) {
      std::string_view s;
      CHIMERA_RETURN_IF_ERROR(read_string(s, what));
      kv.value = s;
      return Status::ok();
    }
    if (kv.type == GgufValueType::kArray) {
      GgufArrayView array;
      CHIMERA_RETURN_IF_ERROR(parse_array(array, kv.key, 1));
      kv.value = array;
      return Status::ok();
    }
    const size_t size = fixed_value_size(kv.type);
    CHIMERA_RETURN_IF_ERROR(need(size, what));
    const uint8_t* p = bytes_.data() + pos_;
    if (kv.type == GgufValueType::kBool && p[0] > 1) {
      return fail("key '{}' is a bool with byte value {}; only 0 and 1 are valid",
                  printable(kv.key), p[0]);
    }
    decode_scalar(kv.type, p, kv);
    pos_ += size;
    return Status::ok();
  }

  // Array header + elements. Elements stay encoded in place; strings, bools and nested arrays are
  // validated here so that accessors can decode them without checks.
  Status parse_array(GgufArrayView& out, std::string_view key, int depth) {
    if (depth > kGgufMaxArrayDepth) {
      return fail("key '{}' nests arrays {} deep; at most {} levels are accepted", printable(key),
                  depth, kGgufMaxArrayDepth);
    }
    uint32_t raw_type = 0;
    CHIMERA_RETURN_IF_ERROR(
        read(raw_type, [&] { return fmt::format("array type of key '{}'", printable(key)); }));
    if (!is_known_value_type(raw_type)) {
      return fail("key '{}' is an array of value type {} (unknown); valid types are 0-12",
                  printable(key), raw_type);
    }
    uint64_t count = 0;
    CHIMERA_RETURN_IF_ERROR(
        read(count, [&] { return fmt::format("array length of key '{}'", printable(key)); }));
    const auto type = static_cast<GgufValueType>(raw_type);
    const size_t fixed = fixed_value_size(type);
    const uint64_t min_element = fixed != 0                       ? fixed
                                 : type == GgufValueType::kString ? 8
                                                                  : kMinArrayBytes;
    if (count > remaining() / min_element) {
      return fail(
          "key '{}' claims {} elements of type {} ({} bytes each at least) but only {} bytes "
          "remain in the file",
          printable(key), count, gguf_value_type_name(type), min_element, remaining());
    }
    const size_t start = pos_;
    if (fixed != 0) {
      if (type == GgufValueType::kBool) {
        for (uint64_t i = 0; i < count; ++i) {
          if (bytes_[pos_ + i] > 1) {
            return fail("key '{}' element {} is a bool with byte value {}; only 0 and 1 are valid",
                        printable(key), i, bytes_[pos_ + i]);
          }
        }
      }
      pos_ += static_cast<size_t>(count * fixed);
    } else if (type == GgufValueType::kString) {
      for (uint64_t i = 0; i < count; ++i) {
        std::string_view s;
        CHIMERA_RETURN_IF_ERROR(read_string(
            s, [&] { return fmt::format("element {} of key '{}'", i, printable(key)); }));
      }
    } else {
      for (uint64_t i = 0; i < count; ++i) {
        GgufArrayView nested;
        CHIMERA_RETURN_IF_ERROR(parse_array(nested, key, depth + 1));
      }
    }
    out.element_type = type;
    out.count = count;
    out.bytes = bytes_.subspan(start, pos_ - start);
    return Status::ok();
  }

  Status read_alignment() {
    file_.alignment_ = kGgufDefaultAlignment;
    for (const auto& kv : file_.metadata_) {
      if (kv.key != "general.alignment") continue;
      // ggml reads this key only as u32 (and asserts otherwise); reject other types cleanly.
      if (kv.type != GgufValueType::kU32) {
        return fail("general.alignment has type {}; it must be u32", gguf_value_type_name(kv.type));
      }
      const uint64_t a = std::get<uint64_t>(kv.value);
      if (a == 0 || (a & (a - 1)) != 0) {
        return fail("general.alignment is {}; it must be a power of two (usually 32)", a);
      }
      if (a > kGgufMaxAlignment) {
        return fail("general.alignment is {}; at most {} (1 MiB) is accepted", a,
                    kGgufMaxAlignment);
      }
      file_.alignment_ = a;
    }
    return Status::ok();
  }

  Status parse_tensor_infos() {
    file_.tensors_.reserve(static_cast<size_t>(std::min<uint64_t>(n_tensors_, 4096)));
    std::unordered_set<std::string_view> seen;
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      std::string_view name;
      CHIMERA_RETURN_IF_ERROR(
          read_string(name, [&] { return fmt::format("name of tensor #{}", i); }));
      if (name.empty()) return fail("tensor #{} has an empty name", i);
      if (name.size() > kGgufMaxTensorNameBytes) {
        return fail("tensor #{} name '{}' is {} bytes long; ggml allows at most {}", i,
                    printable(name), name.size(), kGgufMaxTensorNameBytes);
      }
      const std::string shown = printable(name);
      if (!seen.insert(name).second) {
        return fail("duplicate tensor name '{}' (tensor #{}); each name may appear only once",
                    shown, i);
      }
      GgufTensorInfo info;
      info.name = std::string(name);
      uint32_t n_dims = 0;
      CHIMERA_RETURN_IF_ERROR(
          read(n_dims, [&] { return fmt::format("dimension count of tensor {}", shown); }));
      if (n_dims == 0 || n_dims > static_cast<uint32_t>(kGgufMaxDims)) {
        return fail("tensor {} has {} dimensions; 1 to {} are valid", shown, n_dims, kGgufMaxDims);
      }
      int64_t n_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t raw = 0;
        CHIMERA_RETURN_IF_ERROR(
            read(raw, [&] { return fmt::format("dimension {} of tensor {}", d, shown); }));
        const auto dim = static_cast<int64_t>(raw);
        if (dim <= 0) {
          return fail("tensor {} dimension {} is {}; every dimension must be at least 1", shown, d,
                      dim);
        }
        if (n_elements > std::numeric_limits<int64_t>::max() / dim) {
          return fail("tensor {} element count overflows 64 bits (dimension {} is {})", shown, d,
                      dim);
        }
        n_elements *= dim;
        info.ne.push_back(dim);
      }
      uint32_t raw_type = 0;
      CHIMERA_RETURN_IF_ERROR(
          read(raw_type, [&] { return fmt::format("type of tensor {}", shown); }));
      const GgmlTypeInfo* type_info = ggml_type_info(raw_type);
      if (type_info == nullptr) {
        return fail("tensor {} has type {} (unknown); this build supports {}", shown, raw_type,
                    computable_type_list());
      }
      if (info.ne[0] % type_info->block_size != 0) {
        return fail(
            "tensor {} has type {} with {} elements per row, not a multiple of its block "
            "size {}",
            shown, type_info->name, info.ne[0], type_info->block_size);
      }
      const uint64_t n_blocks = static_cast<uint64_t>(n_elements / type_info->block_size);
      const auto block_bytes = static_cast<uint64_t>(type_info->block_bytes);
      if (n_blocks > std::numeric_limits<uint64_t>::max() / block_bytes) {
        return fail("tensor {} size in bytes overflows 64 bits", shown);
      }
      info.type = type_info->type;
      info.n_elements = n_elements;
      info.n_bytes = n_blocks * block_bytes;
      CHIMERA_RETURN_IF_ERROR(
          read(info.offset, [&] { return fmt::format("data offset of tensor {}", shown); }));
      file_.tensors_.push_back(std::move(info));
    }
    return Status::ok();
  }

  Status place_tensor_data() {
    uint64_t data_offset = pos_;
    if (n_tensors_ > 0) {
      // The data section starts at the next multiple of the alignment (ggml pads with zeros).
      const uint64_t a = file_.alignment_;
      data_offset = (pos_ + a - 1) / a * a;
      if (data_offset > bytes_.size()) {
        return fail(
            "truncated: the tensor data section should start at byte {} but the file is "
            "only {} bytes",
            data_offset, bytes_.size());
      }
    }
    file_.data_offset_ = data_offset;
    const uint64_t data_size = bytes_.size() - data_offset;
    for (auto& t : file_.tensors_) {
      if (t.offset % file_.alignment_ != 0) {
        return fail("tensor {} data offset {} is not a multiple of the alignment {}",
                    printable(t.name), t.offset, file_.alignment_);
      }
      if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
        return fail(
            "tensor {} data (offset {}, {} bytes) extends past the end of the file ({} bytes "
            "of tensor data present); the file is truncated",
            printable(t.name), t.offset, t.n_bytes, data_size);
      }
      t.data = bytes_.data() + data_offset + t.offset;
    }
    return Status::ok();
  }

  void build_indexes() {
    auto& keys = file_.key_order_;
    keys.resize(file_.metadata_.size());
    for (size_t i = 0; i < keys.size(); ++i) keys[i] = i;
    std::sort(keys.begin(), keys.end(),
              [&](size_t a, size_t b) { return file_.metadata_[a].key < file_.metadata_[b].key; });
    auto& names = file_.tensor_order_;
    names.resize(file_.tensors_.size());
    for (size_t i = 0; i < names.size(); ++i) names[i] = i;
    std::sort(names.begin(), names.end(),
              [&](size_t a, size_t b) { return file_.tensors_[a].name < file_.tensors_[b].name; });
  }

  std::span<const uint8_t> bytes_;
  GgufFile& file_;
  size_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
};

Result<GgufFile> GgufFile::parse(std::span<const uint8_t> bytes, std::string name) {
  GgufFile file;
  file.name_ = std::move(name);
  file.bytes_ = bytes;
  GgufParser parser(bytes, file);
  CHIMERA_RETURN_IF_ERROR(parser.run());
  return file;
}

Result<GgufFile> GgufFile::open(const std::string& path) {
  auto mapped = MappedFile::open(path);
  if (!mapped.ok()) return mapped.status();
  auto mapping = std::make_shared<MappedFile>(std::move(mapped).value());
  CHIMERA_ASSIGN_OR_RETURN(GgufFile file, parse(mapping->bytes(), path));
  file.mapping_ = std::move(mapping);
  return file;
}

}  // namespace chimera::engine
