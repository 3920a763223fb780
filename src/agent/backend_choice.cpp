#include "agent/backend_choice.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "llm/backend.h"
#include "util/config.h"
#include "util/paths.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

std::string with_tag(const std::string& name) {
  return name.find(':') == std::string::npos ? name + ":latest" : name;
}

}  // namespace

std::string ollama_base_url_from_env() {
  // $OLLAMA_HOST, else ollama_host in the config file.
  std::optional<std::string> configured_host = configured("ollama_host");
  std::string host = configured_host ? *configured_host : "127.0.0.1:11434";
  for (std::string_view scheme : {"http://", "https://"}) {
    if (starts_with(host, scheme)) host = host.substr(scheme.size());
  }
  while (!host.empty() && host.back() == '/') host.pop_back();
  // Ollama listens on 0.0.0.0 to serve everyone; a client reaches it on the loopback address.
  if (starts_with(host, "0.0.0.0")) host = "127.0.0.1" + host.substr(7);
  if (host.empty()) host = "127.0.0.1";
  bool has_port = host.rfind(':') != std::string::npos && host.rfind(']') == std::string::npos;
  if (!has_port) host += ":11434";
  return "http://" + host;
}

std::string pick_model(const std::vector<std::string>& available, const std::string& requested) {
  auto has = [&](const std::string& name) {
    return std::find(available.begin(), available.end(), name) != available.end();
  };
  if (!requested.empty()) {
    if (has(requested)) return requested;
    if (has(with_tag(requested))) return with_tag(requested);
    return "";
  }
  if (has("gemma3:latest")) return "gemma3:latest";
  std::vector<std::string> gemma;
  for (const auto& name : available) {
    if (starts_with(name, "gemma3:")) gemma.push_back(name);
  }
  std::sort(gemma.begin(), gemma.end());
  return gemma.empty() ? "" : gemma.front();
}

std::vector<std::string> list_ollama_store(const std::string& models_dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  fs::path library = fs::path(models_dir) / "manifests" / "registry.ollama.ai" / "library";
  for (fs::directory_iterator names(library, ec), end; !ec && names != end; names.increment(ec)) {
    if (!names->is_directory(ec)) continue;
    for (fs::directory_iterator tags(names->path(), ec), tend; !ec && tags != tend;
         tags.increment(ec)) {
      if (tags->is_regular_file(ec)) {
        out.push_back(names->path().filename().string() + ":" + tags->path().filename().string());
      }
    }
    ec.clear();
  }
  std::sort(out.begin(), out.end());
  return out;
}

BackendProbes default_probes() {
  BackendProbes p;
  p.list_server_models = [](const std::string& base_url) -> Result<std::vector<llm::ModelEntry>> {
    std::string host = base_url.substr(base_url.find("://") + 3);
    CHIMERA_ASSIGN_OR_RETURN(auto backend, llm::make_backend("ollama://" + host));
    return backend->list_models();
  };
  p.list_store_models = [] { return list_ollama_store(ollama_models_dir()); };
  return p;
}

Result<BackendChoice> choose_backend(std::string_view requested, const std::string& model,
                                     const BackendProbes& probes) {
  BackendChoice choice;
  if (!requested.empty() && requested != "auto") {
    CHIMERA_ASSIGN_OR_RETURN(llm::BackendSpec spec, llm::parse_backend_spec(requested));
    choice.spec = std::string(requested);
    choice.model = spec.model.empty() ? model : spec.model;
    choice.reason = "named with --backend";
    return choice;
  }

  // 1. A running Ollama server with the model.
  std::string base_url = ollama_base_url_from_env();
  std::string where = base_url.substr(base_url.find("://") + 3);
  if (probes.list_server_models) {
    auto models = probes.list_server_models(base_url);
    if (!models.ok()) {
      choice.tried.push_back(
          fmt::format("Ollama at {}: not answering ({})", where, models.status().message()));
    } else {
      std::vector<std::string> names;
      for (const auto& m : *models) names.push_back(m.name);
      std::string picked = pick_model(names, model);
      if (!picked.empty()) {
        choice.spec = fmt::format("ollama://{}/{}", where, picked);
        choice.model = picked;
        choice.reason = fmt::format("an Ollama server answers at {} and has {}", where, picked);
        return choice;
      }
      choice.tried.push_back(fmt::format("Ollama at {}: answers, but has no {} ({} models)", where,
                                         model.empty() ? "gemma3 model" : model, names.size()));
    }
  }

  // 2. A model from the local Ollama store, run in-process.
  if (probes.list_store_models) {
    std::vector<std::string> stored = probes.list_store_models();
    std::string picked = pick_model(stored, model);
    if (!picked.empty()) {
      choice.spec = "ollama:" + picked;
      choice.model = "";
      choice.reason = fmt::format(
          "no usable Ollama server; {} is in the local Ollama store ({}) and "
          "runs in the embedded engine",
          picked, ollama_models_dir());
      return choice;
    }
    choice.tried.push_back(fmt::format("local Ollama store {}: no {} ({} models)",
                                       ollama_models_dir(), model.empty() ? "gemma3 model" : model,
                                       stored.size()));
  }

  // 3. Dummy weights: real shapes and real timings, meaningless text. Not when a model was named:
  // a gemma3 stand-in for it would measure something else.
  if (!probes.dummy_model || !model.empty()) {
    return make_error(ErrorCode::kNotFound,
                      "no backend: {}; start Ollama with a gemma3 model, or pass --backend "
                      "embedded:PATH.gguf",
                      join(choice.tried, "; "));
  }
  CHIMERA_ASSIGN_OR_RETURN(std::string path, probes.dummy_model());
  choice.spec = "embedded:" + path;
  choice.model = "";
  choice.synthetic = true;
  choice.reason = fmt::format(
      "no Ollama server or stored model was found, so a gemma3-shaped model with dummy weights "
      "({}) "
      "runs in the embedded engine: its text is not meaningful, its timings are real for that "
      "architecture on this machine",
      path);
  return choice;
}

}  // namespace chimera::agent
