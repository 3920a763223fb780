// Read-only memory map of a whole file. Weights stay mapped: tensors are views into this memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "util/status.h"

namespace chimera {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Maps `path` read-only. An empty file maps to an empty span (no mmap call).
  static Result<MappedFile> open(const std::string& path);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }
  // Hint that the whole file will be read soon (MADV_WILLNEED); harmless if ignored.
  void prefetch() const;

 private:
  void reset();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file into a string: configs, prompts, JSON.
Result<std::string> read_text_file(const std::string& path, size_t max_bytes = size_t{1} << 30);
// Writes atomically: to path + ".tmp", fsync, rename.
Status write_file_atomic(const std::string& path, std::string_view contents);

}  // namespace chimera
