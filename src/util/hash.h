// Digests: sha256 for blob identity (Ollama store, --verify), a stable 64-bit hash for config keys.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace chimera {

std::string sha256_hex(std::string_view data);
// Streams the file through sha256 without loading it whole.
Result<std::string> sha256_file_hex(const std::string& path);
// FNV-1a 64-bit: stable across runs and builds, used for configuration hashes.
uint64_t fnv1a64(std::string_view data);
std::string hex64(uint64_t value);

}  // namespace chimera
