// GGUF v3 writer (engine-reference.md §1.1), laid out exactly as ggml's gguf_write_out does:
// header, metadata in insertion order, tensor infos with offsets assigned back to back, zero
// padding to the alignment, then each tensor's bytes followed by zero padding to the alignment.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>

#include "engine/gguf/gguf.h"

namespace chimera::engine {
namespace {

constexpr uint32_t kWriteVersion = 3;

template <typename T>
void append_le(std::vector<uint8_t>& out, T v) {
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));  // little-endian host
  out.insert(out.end(), raw, raw + sizeof(T));
}

void append_string(std::vector<uint8_t>& out, std::string_view s) {
  append_le<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

template <typename T>
std::vector<uint8_t> scalar(T v) {
  std::vector<uint8_t> out;
  append_le<T>(out, v);
  return out;
}

template <typename T>
std::vector<uint8_t> encode_array(GgufValueType element_type, const std::vector<T>& values) {
  std::vector<uint8_t> out;
  out.reserve(12 + values.size() * sizeof(T));
  append_le<uint32_t>(out, static_cast<uint32_t>(element_type));
  append_le<uint64_t>(out, values.size());
  for (const T& v : values) append_le<T>(out, v);
  return out;
}

uint64_t pad_to(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

// Runs a producer, turning an escaping exception into a Status (exceptions never cross layers).
Status run_producer(const GgufWriter::TensorProducer& producer, std::span<uint8_t> out,
                    const std::string& name) {
  try {
    Status st = producer(out);
    if (!st.is_ok()) return st.with_context(fmt::format("tensor {}", name));
    return Status::ok();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, "tensor {}: producer threw: {}", name, e.what());
  }
}

Status pwrite_all(int fd, const uint8_t* data, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorCode::kIoError, "{}: write failed: {}", path, std::strerror(errno));
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return Status::ok();
}

}  // namespace

void GgufWriter::put(std::string key, GgufValueType type, std::vector<uint8_t> encoded) {
  for (auto& e : entries_) {
    if (e.key == key) {  // setting a key twice replaces it in place (GGUF forbids duplicates)
      e.type = type;
      e.encoded = std::move(encoded);
      return;
    }
  }
  entries_.push_back(Entry{std::move(key), type, std::move(encoded)});
}

bool GgufWriter::has_key(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return true;
  }
  return false;
}

void GgufWriter::set_u8(std::string k, uint8_t v) {
  put(std::move(k), GgufValueType::kU8, scalar(v));
}
void GgufWriter::set_i8(std::string k, int8_t v) {
  put(std::move(k), GgufValueType::kI8, scalar(v));
}
void GgufWriter::set_u16(std::string k, uint16_t v) {
  put(std::move(k), GgufValueType::kU16, scalar(v));
}
void GgufWriter::set_i16(std::string k, int16_t v) {
  put(std::move(k), GgufValueType::kI16, scalar(v));
}
void GgufWriter::set_u32(std::string k, uint32_t v) {
  put(std::move(k), GgufValueType::kU32, scalar(v));
}
void GgufWriter::set_i32(std::string k, int32_t v) {
  put(std::move(k), GgufValueType::kI32, scalar(v));
}
void GgufWriter::set_u64(std::string k, uint64_t v) {
  put(std::move(k), GgufValueType::kU64, scalar(v));
}
void GgufWriter::set_i64(std::string k, int64_t v) {
  put(std::move(k), GgufValueType::kI64, scalar(v));
}
void GgufWriter::set_f32(std::string k, float v) {
  put(std::move(k), GgufValueType::kF32, scalar(v));
}
void GgufWriter::set_f64(std::string k, double v) {
  put(std::move(k), GgufValueType::kF64, scalar(v));
}

void GgufWriter::set_bool(std::string key, bool v) {
  put(std::move(key), GgufValueType::kBool, {static_cast<uint8_t>(v ? 1 : 0)});
}

void GgufWriter::set_string(std::string key, std::string v) {
  std::vector<uint8_t> enc;
  append_string(enc, v);
  put(std::move(key), GgufValueType::kString, std::move(enc));
}

void GgufWriter::set_string_array(std::string key, std::vector<std::string> v) {
  size_t total = 12;
  for (const auto& s : v) total += 8 + s.size();
  std::vector<uint8_t> enc;
  enc.reserve(total);
  append_le<uint32_t>(enc, static_cast<uint32_t>(GgufValueType::kString));
  append_le<uint64_t>(enc, v.size());
  for (const auto& s : v) append_string(enc, s);
  put(std::move(key), GgufValueType::kArray, std::move(enc));
}

void GgufWriter::set_f32_array(std::string key, std::vector<float> v) {
  put(std::move(key), GgufValueType::kArray, encode_array(GgufValueType::kF32, v));
}

void GgufWriter::set_i32_array(std::string key, std::vector<int32_t> v) {
  put(std::move(key), GgufValueType::kArray, encode_array(GgufValueType::kI32, v));
}

void GgufWriter::set_u32_array(std::string key, std::vector<uint32_t> v) {
  put(std::move(key), GgufValueType::kArray, encode_array(GgufValueType::kU32, v));
}

void GgufWriter::set_bool_array(std::string key, std::vector<bool> v) {
  std::vector<uint8_t> bytes(v.size());
  for (size_t i = 0; i < v.size(); ++i) bytes[i] = v[i] ? 1 : 0;
  put(std::move(key), GgufValueType::kArray, encode_array(GgufValueType::kBool, bytes));
}

void GgufWriter::set_alignment(uint32_t alignment) {
  alignment_ = alignment;
  set_u32("general.alignment", alignment);
}

Status GgufWriter::add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type,
                              TensorProducer producer) {
  if (name.empty() || name.size() > kGgufMaxTensorNameBytes) {
    return make_error(ErrorCode::kInvalidArgument,
                      "tensor name '{}' is {} bytes; GGUF tensor names must be 1 to {} bytes", name,
                      name.size(), kGgufMaxTensorNameBytes);
  }
  for (const auto& t : tensors_) {
    if (t.name == name) {
      return make_error(ErrorCode::kInvalidArgument, "tensor {} was added twice", name);
    }
  }
  if (ne.empty() || ne.size() > static_cast<size_t>(kGgufMaxDims)) {
    return make_error(ErrorCode::kInvalidArgument, "tensor {} has {} dimensions; 1 to {} allowed",
                      name, ne.size(), kGgufMaxDims);
  }
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(type));
  if (info == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "tensor {}: type id {} is not a ggml type", name,
                      static_cast<uint32_t>(type));
  }
  int64_t n_elements = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] <= 0 || n_elements > std::numeric_limits<int64_t>::max() / ne[d]) {
      return make_error(ErrorCode::kInvalidArgument,
                        "tensor {} dimension {} is {}; dimensions must be positive and the element "
                        "count must fit in 64 bits",
                        name, d, ne[d]);
    }
    n_elements *= ne[d];
  }
  if (ne[0] % info->block_size != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "tensor {}: row length {} is not a multiple of {}'s block size {}", name,
                      ne[0], info->name, info->block_size);
  }
  if (!producer) {
    return make_error(ErrorCode::kInvalidArgument, "tensor {} has no data producer", name);
  }
  const uint64_t n_bytes = static_cast<uint64_t>(n_elements / info->block_size) *
                           static_cast<uint64_t>(info->block_bytes);
  tensors_.push_back(Tensor{std::move(name), std::move(ne), type, n_bytes, std::move(producer)});
  return Status::ok();
}

Status GgufWriter::add_tensor(std::string name, std::vector<int64_t> ne, GgmlType type,
                              std::vector<uint8_t> data) {
  auto shared = std::make_shared<std::vector<uint8_t>>(std::move(data));
  const std::string label = name;
  CHIMERA_RETURN_IF_ERROR(
      add_tensor(std::move(name), std::move(ne), type, [shared](std::span<uint8_t> out) -> Status {
        if (out.size() != shared->size()) {
          return make_error(ErrorCode::kInvalidArgument, "data is {} bytes but the shape needs {}",
                            shared->size(), out.size());
        }
        std::memcpy(out.data(), shared->data(), out.size());
        return Status::ok();
      }));
  // Check the size now, where the caller can still see which call was wrong.
  if (tensors_.back().n_bytes != shared->size()) {
    const uint64_t expected = tensors_.back().n_bytes;
    tensors_.pop_back();
    return make_error(ErrorCode::kInvalidArgument,
                      "tensor {}: data is {} bytes but its shape and type need {} bytes", label,
                      shared->size(), expected);
  }
  return Status::ok();
}

Result<std::vector<uint8_t>> GgufWriter::encode_header(std::vector<uint64_t>& offsets,
                                                       uint64_t& data_bytes) const {
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0 || alignment_ > kGgufMaxAlignment) {
    return make_error(ErrorCode::kInvalidArgument,
                      "alignment {} is invalid; it must be a power of two no larger than {}",
                      alignment_, kGgufMaxAlignment);
  }
  std::vector<uint8_t> out;
  size_t estimate = 24;
  for (const auto& e : entries_) estimate += 12 + e.key.size() + e.encoded.size();
  out.reserve(estimate + tensors_.size() * 96 + alignment_);
  append_le<uint32_t>(out, 0x46554747);  // "GGUF"
  append_le<uint32_t>(out, kWriteVersion);
  append_le<uint64_t>(out, tensors_.size());
  append_le<uint64_t>(out, entries_.size());
  for (const auto& e : entries_) {
    append_string(out, e.key);
    append_le<uint32_t>(out, static_cast<uint32_t>(e.type));
    out.insert(out.end(), e.encoded.begin(), e.encoded.end());
  }
  offsets.clear();
  data_bytes = 0;
  for (const auto& t : tensors_) {
    append_string(out, t.name);
    append_le<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) append_le<uint64_t>(out, static_cast<uint64_t>(d));
    append_le<uint32_t>(out, static_cast<uint32_t>(t.type));
    append_le<uint64_t>(out, data_bytes);
    offsets.push_back(data_bytes);
    data_bytes += pad_to(t.n_bytes, alignment_);
  }
  out.resize(pad_to(out.size(), alignment_), 0);
  return out;
}

Result<std::vector<uint8_t>> GgufWriter::write_to_memory() const {
  std::vector<uint64_t> offsets;
  uint64_t data_bytes = 0;
  CHIMERA_ASSIGN_OR_RETURN(std::vector<uint8_t> out, encode_header(offsets, data_bytes));
  const size_t data_start = out.size();
  out.resize(data_start + data_bytes, 0);
  uint64_t done = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    std::span<uint8_t> span(out.data() + data_start + offsets[i], static_cast<size_t>(t.n_bytes));
    CHIMERA_RETURN_IF_ERROR(run_producer(t.producer, span, t.name));
    done += t.n_bytes;
    if (progress_) progress_(done, data_bytes);
  }
  return out;
}

Status GgufWriter::write(const std::string& path) const {
  std::vector<uint64_t> offsets;
  uint64_t data_bytes = 0;
  CHIMERA_ASSIGN_OR_RETURN(std::vector<uint8_t> header, encode_header(offsets, data_bytes));
  const uint64_t total = header.size() + data_bytes;
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return make_error(ErrorCode::kIoError, "{}: cannot create: {}", tmp, std::strerror(errno));
  }
  auto fail = [&](Status st) {
    ::close(fd);
    std::remove(tmp.c_str());
    return st;
  };
  // Reserve the space up front; fall back to a sparse size where the filesystem cannot.
  int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(total));
  if (rc == ENOSPC) {
    return fail(make_error(ErrorCode::kResourceExhausted,
                           "{}: not enough disk space for {} bytes; free space or choose another "
                           "directory",
                           tmp, total));
  }
  if (rc != 0 && ::ftruncate(fd, static_cast<off_t>(total)) != 0) {
    return fail(make_error(ErrorCode::kIoError, "{}: cannot size to {} bytes: {}", tmp, total,
                           std::strerror(errno)));
  }
  Status st = pwrite_all(fd, header.data(), header.size(), 0, tmp);
  if (!st.is_ok()) return fail(st);

  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uint64_t done = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    const uint64_t file_offset = header.size() + offsets[i];
    const uint64_t map_start = file_offset / page * page;
    const size_t map_len = static_cast<size_t>(file_offset + t.n_bytes - map_start);
    void* p = ::mmap(nullptr, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                     static_cast<off_t>(map_start));
    if (p != MAP_FAILED) {
      std::span<uint8_t> span(static_cast<uint8_t*>(p) + (file_offset - map_start),
                              static_cast<size_t>(t.n_bytes));
      st = run_producer(t.producer, span, t.name);
      ::munmap(p, map_len);
    } else {  // filesystems without shared mappings: produce into memory, then write
      std::vector<uint8_t> buffer(static_cast<size_t>(t.n_bytes));
      st = run_producer(t.producer, buffer, t.name);
      if (st.is_ok()) st = pwrite_all(fd, buffer.data(), buffer.size(), file_offset, tmp);
    }
    if (!st.is_ok()) return fail(st.with_context(path));
    done += t.n_bytes;
    if (progress_) progress_(done, data_bytes);
  }
  if (::fdatasync(fd) != 0) {
    return fail(make_error(ErrorCode::kIoError, "{}: flush failed: {}", tmp, std::strerror(errno)));
  }
  ::close(fd);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    return make_error(ErrorCode::kIoError, "{}: rename from {} failed: {}", path, tmp,
                      ec.message());
  }
  return Status::ok();
}

}  // namespace chimera::engine
