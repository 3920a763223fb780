// Ollama store layout (engine-reference.md §1.5): manifests/<host>/<namespace>/<model>/<tag> is an
// OCI manifest whose layers name blobs/sha256-<hex>; the layer with media type
// application/vnd.ollama.image.model is the GGUF.
#include "engine/model/model_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "util/hash.h"
#include "util/mapped_file.h"
#include "util/paths.h"
#include "util/strings.h"

namespace chimera::engine {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxManifestBytes = 1 << 20;
constexpr size_t kMaxTextLayerBytes = 4 << 20;  // templates, params, system prompts

bool valid_part(std::string_view part) {
  if (part.empty() || part == "." || part == "..") return false;
  return std::all_of(part.begin(), part.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

bool valid_sha256_digest(std::string_view digest) {
  if (digest.substr(0, 7) != "sha256:" || digest.size() != 7 + 64) return false;
  return std::all_of(digest.begin() + 7, digest.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

int64_t modified_unix_s(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtime);
}

std::string blob_path_for(const std::string& models_dir, std::string_view digest) {
  return models_dir + "/blobs/sha256-" + std::string(digest.substr(7));
}

// Parses a manifest's layers; every digest is validated before it becomes a path.
Result<std::vector<OllamaLayer>> read_layers(const std::string& manifest_path,
                                             const std::string& models_dir) {
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_text_file(manifest_path, kMaxManifestBytes));
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return make_error(ErrorCode::kParseError, "{}: manifest is not valid JSON", manifest_path);
  }
  auto layers_it = doc.find("layers");
  if (layers_it == doc.end() || !layers_it->is_array()) {
    return make_error(ErrorCode::kParseError, "{}: manifest has no \"layers\" array",
                      manifest_path);
  }
  std::vector<OllamaLayer> layers;
  for (const auto& layer : *layers_it) {
    if (!layer.is_object()) continue;
    auto media = layer.find("mediaType");
    auto digest = layer.find("digest");
    if (media == layer.end() || !media->is_string() || digest == layer.end() ||
        !digest->is_string()) {
      return make_error(ErrorCode::kParseError, "{}: a layer lacks a mediaType or digest string",
                        manifest_path);
    }
    OllamaLayer out;
    out.media_type = media->get<std::string>();
    out.digest = digest->get<std::string>();
    if (!valid_sha256_digest(out.digest)) {
      return make_error(ErrorCode::kParseError,
                        "{}: layer digest '{}' is not sha256:<64 lowercase hex>", manifest_path,
                        out.digest.substr(0, 100));
    }
    auto size = layer.find("size");
    if (size != layer.end() && size->is_number_unsigned()) out.size_bytes = size->get<uint64_t>();
    out.blob_path = blob_path_for(models_dir, out.digest);
    layers.push_back(std::move(out));
  }
  return layers;
}

Result<std::optional<std::string>> read_text_layer(const std::vector<OllamaLayer>& layers,
                                                   std::string_view media_type) {
  for (const auto& l : layers) {
    if (l.media_type != media_type) continue;
    auto text = read_text_file(l.blob_path, kMaxTextLayerBytes);
    if (!text.ok()) {
      return text.status().with_context(fmt::format("{} layer", media_type));
    }
    return std::optional<std::string>(std::move(text).value());
  }
  return std::optional<std::string>();
}

}  // namespace

std::string OllamaModelName::display() const {
  std::string out;
  if (host != "registry.ollama.ai") {
    out = host + "/" + name_space + "/";
  } else if (name_space != "library") {
    out = name_space + "/";
  }
  return out + model + ":" + tag;
}

std::string OllamaModelName::manifest_relative_path() const {
  return "manifests/" + host + "/" + name_space + "/" + model + "/" + tag;
}

Result<OllamaModelName> parse_ollama_name(std::string_view text) {
  const std::string original(text);
  if (starts_with(text, "ollama:")) text.remove_prefix(7);
  OllamaModelName name;
  std::string_view path = text;
  // The tag follows the last ':' after the last '/' (a host may carry a port: "host:11434/ns/m").
  const size_t slash = path.rfind('/');
  const size_t colon = path.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    name.tag = std::string(path.substr(colon + 1));
    path = path.substr(0, colon);
  }
  std::vector<std::string> parts = split(path, '/');
  if (parts.size() == 1) {
    name.model = parts[0];
  } else if (parts.size() == 2) {
    name.name_space = parts[0];
    name.model = parts[1];
  } else if (parts.size() == 3) {
    name.host = parts[0];
    name.name_space = parts[1];
    name.model = parts[2];
  } else {
    return make_error(ErrorCode::kInvalidArgument,
                      "model name '{}' has {} '/'-separated parts; expected "
                      "[host/][namespace/]model[:tag]",
                      original, parts.size());
  }
  // A host may carry a port ("localhost:5000"), which Ollama stores as-is in the directory name.
  std::string host_for_check = name.host;
  std::replace(host_for_check.begin(), host_for_check.end(), ':', '-');
  for (const auto& [what, value] :
       {std::pair<const char*, const std::string*>{"host", &host_for_check},
        {"namespace", &name.name_space},
        {"model", &name.model},
        {"tag", &name.tag}}) {
    if (!valid_part(*value)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model name '{}': {} '{}' is empty or has characters outside "
                        "[A-Za-z0-9._-]",
                        original, what, *value);
    }
  }
  return name;
}

ModelStore::ModelStore() : ModelStore(ollama_models_dir(), cache_dir() + "/models") {}

ModelStore::ModelStore(std::string ollama_dir, std::string cache_models_dir)
    : ollama_dir_(std::move(ollama_dir)), cache_models_dir_(std::move(cache_models_dir)) {}

Result<ResolvedModel> ModelStore::resolve(std::string_view text) const {
  CHIMERA_ASSIGN_OR_RETURN(OllamaModelName name, parse_ollama_name(text));
  ResolvedModel out;
  out.name = name;
  out.manifest_path = ollama_dir_ + "/" + name.manifest_relative_path();
  std::error_code ec;
  if (!fs::is_regular_file(out.manifest_path, ec)) {
    // Ollama lower-cases names when it stores them on some versions; try that before giving up.
    OllamaModelName lower = name;
    lower.model = to_lower(lower.model);
    lower.name_space = to_lower(lower.name_space);
    lower.host = to_lower(lower.host);
    const std::string alt = ollama_dir_ + "/" + lower.manifest_relative_path();
    if (alt == out.manifest_path || !fs::is_regular_file(alt, ec)) {
      return make_error(ErrorCode::kNotFound,
                        "Ollama model '{}' is not in {} (no manifest {}); pull it with `ollama "
                        "pull {}` or set OLLAMA_MODELS",
                        name.display(), ollama_dir_, out.manifest_path, name.display());
    }
    out.manifest_path = alt;
  }
  CHIMERA_ASSIGN_OR_RETURN(out.layers, read_layers(out.manifest_path, ollama_dir_));
  const OllamaLayer* model_layer = nullptr;
  for (const auto& l : out.layers) {
    if (l.media_type == kOllamaModelMediaType) model_layer = &l;
  }
  if (model_layer == nullptr) {
    return make_error(ErrorCode::kNotFound, "{}: manifest of '{}' has no {} layer",
                      out.manifest_path, name.display(), kOllamaModelMediaType);
  }
  out.gguf_path = model_layer->blob_path;
  out.gguf_digest = model_layer->digest;
  out.gguf_size_bytes = model_layer->size_bytes;
  if (!fs::is_regular_file(out.gguf_path, ec)) {
    return make_error(ErrorCode::kNotFound,
                      "model '{}': blob {} named by its manifest is missing; re-pull it with "
                      "`ollama pull {}`",
                      name.display(), out.gguf_path, name.display());
  }
  CHIMERA_ASSIGN_OR_RETURN(out.template_text,
                           read_text_layer(out.layers, kOllamaTemplateMediaType));
  CHIMERA_ASSIGN_OR_RETURN(out.params_json, read_text_layer(out.layers, kOllamaParamsMediaType));
  CHIMERA_ASSIGN_OR_RETURN(out.system_text, read_text_layer(out.layers, kOllamaSystemMediaType));
  return out;
}

Status ModelStore::verify(const ResolvedModel& model) const {
  std::error_code ec;
  const uintmax_t size = fs::file_size(model.gguf_path, ec);
  if (ec) {
    return make_error(ErrorCode::kNotFound, "{}: cannot stat blob: {}", model.gguf_path,
                      ec.message());
  }
  if (model.gguf_size_bytes != 0 && size != model.gguf_size_bytes) {
    return make_error(ErrorCode::kParseError,
                      "{}: blob is {} bytes but the manifest says {}; the download is incomplete "
                      "or corrupt, re-pull with `ollama pull {}`",
                      model.gguf_path, size, model.gguf_size_bytes, model.name.display());
  }
  CHIMERA_ASSIGN_OR_RETURN(std::string hex, sha256_file_hex(model.gguf_path));
  if ("sha256:" + hex != model.gguf_digest) {
    return make_error(ErrorCode::kParseError,
                      "{}: sha256 is {} but the manifest says {}; the blob is corrupt, re-pull "
                      "with `ollama pull {}`",
                      model.gguf_path, hex, model.gguf_digest.substr(7), model.name.display());
  }
  return Status::ok();
}

Result<std::vector<StoredModel>> ModelStore::list(std::vector<std::string>* warnings) const {
  std::vector<StoredModel> ollama, cache;
  std::error_code ec;
  const std::string manifests = ollama_dir_ + "/manifests";
  if (fs::is_directory(manifests, ec)) {
    for (auto it = fs::recursive_directory_iterator(manifests, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      const fs::path rel = fs::relative(it->path(), manifests, ec);
      std::vector<std::string> parts;
      for (const auto& p : rel) parts.push_back(p.string());
      if (parts.size() != 4) continue;  // host/namespace/model/tag
      OllamaModelName name{parts[0], parts[1], parts[2], parts[3]};
      auto layers = read_layers(it->path().string(), ollama_dir_);
      if (!layers.ok()) {
        if (warnings != nullptr) warnings->push_back(layers.status().message());
        continue;
      }
      for (const auto& l : *layers) {
        if (l.media_type != kOllamaModelMediaType) continue;
        StoredModel m;
        m.source = "ollama";
        m.name = name.display();
        m.path = l.blob_path;
        m.size_bytes = l.size_bytes;
        m.digest = l.digest;
        m.modified_unix_s = modified_unix_s(it->path().string());
        ollama.push_back(std::move(m));
      }
    }
  }
  if (fs::is_directory(cache_models_dir_, ec)) {
    for (const auto& entry : fs::directory_iterator(cache_models_dir_, ec)) {
      if (!entry.is_regular_file(ec) || entry.path().extension() != ".gguf") continue;
      StoredModel m;
      m.source = "cache";
      m.name = entry.path().filename().string();
      m.path = entry.path().string();
      m.size_bytes = entry.file_size(ec);
      m.modified_unix_s = modified_unix_s(m.path);
      cache.push_back(std::move(m));
    }
  }
  auto by_name = [](const StoredModel& a, const StoredModel& b) { return a.name < b.name; };
  std::sort(ollama.begin(), ollama.end(), by_name);
  std::sort(cache.begin(), cache.end(), by_name);
  ollama.insert(ollama.end(), cache.begin(), cache.end());
  return ollama;
}

Result<std::string> resolve_model_path(std::string_view spec, const ModelStore& store) {
  if (starts_with(spec, "ollama:")) {
    CHIMERA_ASSIGN_OR_RETURN(ResolvedModel m, store.resolve(spec));
    return m.gguf_path;
  }
  std::error_code ec;
  const std::string path(spec);
  if (!fs::is_regular_file(path, ec)) {
    return make_error(ErrorCode::kNotFound,
                      "model '{}' is not a file; give a path to a .gguf or ollama:NAME[:TAG]",
                      path);
  }
  return path;
}

}  // namespace chimera::engine
