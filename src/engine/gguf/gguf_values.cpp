// Typed access to parsed GGUF metadata (engine-reference.md §1.1: accept any integer width) and a
// short text rendering of values for `chimera model info`. Arrays are decoded from the validated,
// still-encoded bytes in the mapped file, so reading a 262144-string vocabulary copies no strings.
#include <algorithm>
#include <cstring>
#include <limits>

#include "engine/gguf/gguf.h"
#include "util/strings.h"

namespace chimera::engine {
namespace {

template <typename T>
T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

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
      return 0;
  }
}

std::string printable(std::string_view text, size_t max_chars) {
  std::string out;
  size_t i = 0;
  for (; i < text.size() && out.size() < max_chars; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c >= 0x80) {
      out += static_cast<char>(c);  // UTF-8 passes through (vocab pieces are often non-ASCII)
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (i < text.size()) {
    out.resize(utf8_complete_prefix(out));  // never end on half a character
    out += "...";
  }
  return out;
}

// Bytes taken by `count` validated elements of `type` starting at p.
size_t encoded_elements_size(GgufValueType type, uint64_t count, const uint8_t* p) {
  const size_t fixed = fixed_value_size(type);
  if (fixed != 0) return static_cast<size_t>(count) * fixed;
  size_t pos = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (type == GgufValueType::kString) {
      pos += 8 + static_cast<size_t>(load_le<uint64_t>(p + pos));
    } else {  // nested array: element type, count, elements
      const auto inner = static_cast<GgufValueType>(load_le<uint32_t>(p + pos));
      const uint64_t n = load_le<uint64_t>(p + pos + 4);
      pos += 12 + encoded_elements_size(inner, n, p + pos + 12);
    }
  }
  return pos;
}

Status missing_key(const std::string& file, std::string_view key, std::string_view wanted) {
  return make_error(ErrorCode::kNotFound, "{}: metadata key '{}' ({}) is missing", file, key,
                    wanted);
}

Status wrong_type(const std::string& file, const GgufMetadata& kv, std::string_view wanted) {
  std::string found(gguf_value_type_name(kv.type));
  if (const auto* a = std::get_if<GgufArrayView>(&kv.value)) {
    found = fmt::format("array of {}", gguf_value_type_name(a->element_type));
  }
  return make_error(ErrorCode::kParseError, "{}: metadata key '{}' has type {}, expected {}", file,
                    kv.key, found, wanted);
}

bool is_integer_type(GgufValueType t) {
  switch (t) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kU16:
    case GgufValueType::kI16:
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kU64:
    case GgufValueType::kI64:
      return true;
    default:
      return false;
  }
}

// Element i of a validated fixed-width array, widened.
int64_t int_element(const GgufArrayView& a, size_t i) {
  const uint8_t* p = a.bytes.data();
  switch (a.element_type) {
    case GgufValueType::kU8:
    case GgufValueType::kBool:
      return p[i];
    case GgufValueType::kI8:
      return static_cast<int8_t>(p[i]);
    case GgufValueType::kU16:
      return load_le<uint16_t>(p + 2 * i);
    case GgufValueType::kI16:
      return load_le<int16_t>(p + 2 * i);
    case GgufValueType::kU32:
      return load_le<uint32_t>(p + 4 * i);
    case GgufValueType::kI32:
      return load_le<int32_t>(p + 4 * i);
    case GgufValueType::kU64:
      return static_cast<int64_t>(load_le<uint64_t>(p + 8 * i));
    case GgufValueType::kI64:
      return load_le<int64_t>(p + 8 * i);
    default:
      return 0;
  }
}

double float_element(const GgufArrayView& a, size_t i) {
  const uint8_t* p = a.bytes.data();
  if (a.element_type == GgufValueType::kF32) return load_le<float>(p + 4 * i);
  if (a.element_type == GgufValueType::kF64) return load_le<double>(p + 8 * i);
  return static_cast<double>(int_element(a, i));
}

// Strings of a validated string array, in order.
template <typename Fn>
void for_each_string(const GgufArrayView& a, Fn&& fn) {
  size_t pos = 0;
  for (uint64_t i = 0; i < a.count; ++i) {
    const uint64_t n = load_le<uint64_t>(a.bytes.data() + pos);
    fn(std::string_view(reinterpret_cast<const char*>(a.bytes.data() + pos + 8), n));
    pos += 8 + n;
  }
}

}  // namespace

const GgufMetadata* GgufFile::find(std::string_view key) const {
  auto it = std::lower_bound(key_order_.begin(), key_order_.end(), key,
                             [&](size_t i, std::string_view k) { return metadata_[i].key < k; });
  if (it == key_order_.end() || metadata_[*it].key != key) return nullptr;
  return &metadata_[*it];
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = std::lower_bound(tensor_order_.begin(), tensor_order_.end(), name,
                             [&](size_t i, std::string_view n) { return tensors_[i].name < n; });
  if (it == tensor_order_.end() || tensors_[*it].name != name) return nullptr;
  return &tensors_[*it];
}

uint64_t GgufFile::tensor_bytes() const {
  uint64_t total = 0;
  for (const auto& t : tensors_) total += t.n_bytes;
  return total;
}

uint64_t GgufFile::parameter_count() const {
  uint64_t total = 0;
  for (const auto& t : tensors_) total += static_cast<uint64_t>(t.n_elements);
  return total;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufMetadata* kv = find(key);
  if (kv == nullptr) return std::nullopt;
  if (const auto* u = std::get_if<uint64_t>(&kv->value)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&kv->value)) return *i;
  return std::nullopt;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufMetadata* kv = find(key);
  if (kv == nullptr) return std::nullopt;
  if (const auto* d = std::get_if<double>(&kv->value)) return *d;
  // Some writers store float hyper-parameters as integers (e.g. rope.freq_base 10000).
  if (const auto* u = std::get_if<uint64_t>(&kv->value)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&kv->value)) return static_cast<double>(*i);
  return std::nullopt;
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufMetadata* kv = find(key);
  if (kv == nullptr) return std::nullopt;
  if (const auto* b = std::get_if<bool>(&kv->value)) return *b;
  return std::nullopt;
}

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
  const GgufMetadata* kv = find(key);
  if (kv == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<std::string_view>(&kv->value)) return *s;
  return std::nullopt;
}

Result<int64_t> GgufFile::require_int(std::string_view key) const {
  const GgufMetadata* kv = find(key);
  if (kv == nullptr) return missing_key(name_, key, "an integer");
  if (!is_integer_type(kv->type)) return wrong_type(name_, *kv, "an integer");
  std::optional<int64_t> v = get_int(key);
  if (!v) {
    return make_error(ErrorCode::kOutOfRange, "{}: metadata key '{}' = {} does not fit in int64",
                      name_, key, std::get<uint64_t>(kv->value));
  }
  return *v;
}

Result<double> GgufFile::require_float(std::string_view key) const {
  const GgufMetadata* kv = find(key);
  if (kv == nullptr) return missing_key(name_, key, "a number");
  std::optional<double> v = get_float(key);
  if (!v) return wrong_type(name_, *kv, "a number");
  return *v;
}

Result<std::string_view> GgufFile::require_string(std::string_view key) const {
  const GgufMetadata* kv = find(key);
  if (kv == nullptr) return missing_key(name_, key, "a string");
  if (kv->type != GgufValueType::kString) return wrong_type(name_, *kv, "a string");
  return std::get<std::string_view>(kv->value);
}

Result<std::vector<std::string_view>> GgufFile::get_string_array(std::string_view key) const {
  const GgufMetadata* kv = find(key);
  if (kv == nullptr) return missing_key(name_, key, "an array of strings");
  const auto* a = std::get_if<GgufArrayView>(&kv->value);
  if (a == nullptr || a->element_type != GgufValueType::kString) {
    return wrong_type(name_, *kv, "an array of strings");
  }
  std::vector<std::string_view> out;
  out.reserve(static_cast<size_t>(a->count));
  for_each_string(*a, [&](std::string_view s) { out.push_back(s); });
  return out;
}

Result<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
  const GgufMetadata* kv = find(key);
  if (kv == nullptr) return missing_key(name_, key, "an array of numbers");
  const auto* a = std::get_if<GgufArrayView>(&kv->value);
  if (a == nullptr ||
      !(a->element_type == GgufValueType::kF32 || a->element_type == GgufValueType::kF64 ||
        is_integer_type(a->element_type))) {
    return wrong_type(name_, *kv, "an array of numbers");
  }
  std::vector<float> out(static_cast<size_t>(a->count));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(float_element(*a, i));
  return out;
}

Result<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufMetadata* kv = find(key);
  if (kv == nullptr) return missing_key(name_, key, "an array of integers");
  const auto* a = std::get_if<GgufArrayView>(&kv->value);
  if (a == nullptr ||
      !(is_integer_type(a->element_type) || a->element_type == GgufValueType::kBool)) {
    return wrong_type(name_, *kv, "an array of integers");
  }
  std::vector<int64_t> out(static_cast<size_t>(a->count));
  for (size_t i = 0; i < out.size(); ++i) out[i] = int_element(*a, i);
  return out;
}

Result<std::vector<bool>> GgufFile::get_bool_array(std::string_view key) const {
  const GgufMetadata* kv = find(key);
  if (kv == nullptr) return missing_key(name_, key, "an array of bools");
  const auto* a = std::get_if<GgufArrayView>(&kv->value);
  if (a == nullptr || a->element_type != GgufValueType::kBool) {
    return wrong_type(name_, *kv, "an array of bools");
  }
  std::vector<bool> out(static_cast<size_t>(a->count));
  for (size_t i = 0; i < out.size(); ++i) out[i] = a->bytes[i] != 0;
  return out;
}

std::vector<GgufArrayView> gguf_nested_arrays(const GgufArrayView& array) {
  std::vector<GgufArrayView> out;
  if (array.element_type != GgufValueType::kArray) return out;
  const uint8_t* p = array.bytes.data();
  size_t pos = 0;
  for (uint64_t i = 0; i < array.count; ++i) {
    GgufArrayView nested;
    nested.element_type = static_cast<GgufValueType>(load_le<uint32_t>(p + pos));
    nested.count = load_le<uint64_t>(p + pos + 4);
    const size_t size = encoded_elements_size(nested.element_type, nested.count, p + pos + 12);
    nested.bytes = array.bytes.subspan(pos + 12, size);
    out.push_back(nested);
    pos += 12 + size;
  }
  return out;
}

std::string format_gguf_value(const GgufMetadata& kv, size_t max_elements, size_t max_chars) {
  auto quote = [&](std::string_view s) {
    std::string shown = printable(s, max_chars);
    return "\"" + shown + "\"";
  };
  auto format_array = [&](const GgufArrayView& a, auto&& self) -> std::string {
    std::vector<std::string> items;
    const size_t shown = static_cast<size_t>(std::min<uint64_t>(a.count, max_elements));
    if (a.element_type == GgufValueType::kString) {
      for_each_string(a, [&](std::string_view s) {
        if (items.size() < shown) items.push_back(quote(s));
      });
    } else if (a.element_type == GgufValueType::kArray) {
      for (const auto& inner : gguf_nested_arrays(a)) {
        if (items.size() < shown) items.push_back(self(inner, self));
      }
    } else if (a.element_type == GgufValueType::kBool) {
      for (size_t i = 0; i < shown; ++i) items.push_back(a.bytes[i] ? "true" : "false");
    } else if (a.element_type == GgufValueType::kF32 || a.element_type == GgufValueType::kF64) {
      for (size_t i = 0; i < shown; ++i) items.push_back(fmt::format("{:g}", float_element(a, i)));
    } else if (a.element_type == GgufValueType::kU64) {
      for (size_t i = 0; i < shown; ++i) {
        items.push_back(fmt::format("{}", load_le<uint64_t>(a.bytes.data() + 8 * i)));
      }
    } else {
      for (size_t i = 0; i < shown; ++i) items.push_back(fmt::format("{}", int_element(a, i)));
    }
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
    if (a.count > shown) out += fmt::format("{}... ({} items)", shown ? ", " : "", a.count);
    return out + "]";
  };
  return std::visit(
      [&](const auto& v) -> std::string {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<V, double>) {
          return fmt::format("{:g}", v);
        } else if constexpr (std::is_same_v<V, std::string_view>) {
          return quote(v);
        } else if constexpr (std::is_same_v<V, GgufArrayView>) {
          return format_array(v, format_array);
        } else {
          return fmt::format("{}", v);
        }
      },
      kv.value);
}

}  // namespace chimera::engine
