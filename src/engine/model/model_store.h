// Where models come from: the local Ollama store (engine-reference.md §1.5) and Chimera's own cache
// of synthesized GGUFs. Resolves `ollama:NAME[:TAG]` to the GGUF blob plus the template and params
// layers, verifies blobs by sha256, and lists everything that is present.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace chimera::engine {

// [host/][namespace/]model[:tag]; defaults registry.ollama.ai, library, latest (as Ollama does).
struct OllamaModelName {
  std::string host = "registry.ollama.ai";
  std::string name_space = "library";
  std::string model;
  std::string tag = "latest";

  // "gemma3:4b", "user/model:tag", "host/ns/model:tag": the shortest form Ollama would print.
  std::string display() const;
  // manifests/<host>/<namespace>/<model>/<tag>, relative to the models directory.
  std::string manifest_relative_path() const;
};

// Parses "gemma3", "gemma3:4b", "ollama:gemma3:4b", "user/model:tag", "host/ns/model:tag".
// Rejects empty parts and characters outside [A-Za-z0-9._-] (a name never escapes the store).
Result<OllamaModelName> parse_ollama_name(std::string_view text);

inline constexpr std::string_view kOllamaModelMediaType = "application/vnd.ollama.image.model";
inline constexpr std::string_view kOllamaTemplateMediaType =
    "application/vnd.ollama.image.template";
inline constexpr std::string_view kOllamaParamsMediaType = "application/vnd.ollama.image.params";
inline constexpr std::string_view kOllamaSystemMediaType = "application/vnd.ollama.image.system";

struct OllamaLayer {
  std::string media_type;
  std::string digest;  // "sha256:<64 hex>"
  uint64_t size_bytes = 0;
  std::string blob_path;
};

struct ResolvedModel {
  OllamaModelName name;
  std::string manifest_path;
  std::string gguf_path;    // the model layer's blob
  std::string gguf_digest;  // "sha256:<hex>"
  uint64_t gguf_size_bytes = 0;
  std::optional<std::string> template_text;  // Go template layer, when present
  std::optional<std::string> params_json;    // default options layer, when present
  std::optional<std::string> system_text;    // system prompt layer, when present
  std::vector<OllamaLayer> layers;
};

struct StoredModel {
  std::string source;  // "ollama" or "cache"
  std::string name;    // "gemma3:4b" or the file name
  std::string path;    // the GGUF file
  uint64_t size_bytes = 0;
  std::string digest;  // "sha256:<hex>" for Ollama blobs, empty for cache files
  int64_t modified_unix_s = 0;
};

class ModelStore {
 public:
  // Defaults: util ollama_models_dir() and cache_dir() + "/models".
  ModelStore();
  ModelStore(std::string ollama_dir, std::string cache_models_dir);

  const std::string& ollama_dir() const { return ollama_dir_; }
  const std::string& cache_models_dir() const { return cache_models_dir_; }

  // Reads the manifest and the small text layers; does not read the GGUF.
  Result<ResolvedModel> resolve(std::string_view name) const;
  // Streams the GGUF blob through sha256 and compares with its digest (and size).
  Status verify(const ResolvedModel& model) const;
  // Every Ollama manifest that names a model layer, then every *.gguf in the cache, sorted by name
  // within each source. Unreadable manifests are skipped (listed in `warnings` when given).
  Result<std::vector<StoredModel>> list(std::vector<std::string>* warnings = nullptr) const;

 private:
  std::string ollama_dir_;
  std::string cache_models_dir_;
};

// A model argument as users give it: "ollama:NAME[:TAG]" resolves through the store, anything else
// is a path to a GGUF file (which must exist).
Result<std::string> resolve_model_path(std::string_view spec, const ModelStore& store);

}  // namespace chimera::engine
