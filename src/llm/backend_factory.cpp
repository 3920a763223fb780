// Backend names (ARCHITECTURE.md, "Command-line surface"): URL-like strings to BackendSpec, and
// BackendSpec to a live Backend.
#include <fmt/format.h>

#include "llm/backend.h"
#include "llm/ollama_backend.h"
#include "llm/openai_backend.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

constexpr std::string_view kForms =
    "use embedded:PATH.gguf, ollama://host:port/MODEL, openai://host:port/MODEL or ollama:NAME:TAG";

// "host:port/model" after the scheme; the model may itself hold '/' and ':'.
Result<BackendSpec> parse_server(std::string_view spec, std::string_view rest,
                                 BackendSpec::Kind kind, bool tls, int default_port) {
  BackendSpec out;
  out.kind = kind;
  size_t slash = rest.find('/');
  std::string host(rest.substr(0, slash));
  if (slash != std::string_view::npos) out.model = std::string(rest.substr(slash + 1));
  if (host.empty()) host = "127.0.0.1";
  // The port follows the last ':' outside an IPv6 literal's brackets.
  size_t bracket = host.rfind(']');
  size_t colon = host.rfind(':');
  bool has_port = colon != std::string::npos && (bracket == std::string::npos || colon > bracket);
  if (has_port) {
    auto port = parse_int(std::string_view(host).substr(colon + 1));
    if (!port || *port <= 0 || *port > 65535) {
      return make_error(ErrorCode::kInvalidArgument,
                        "backend '{}': port '{}' is not a number from 1 to 65535", spec,
                        host.substr(colon + 1));
    }
  } else if (!tls) {
    host += fmt::format(":{}", default_port);
  }
  out.location = (tls ? "https://" : "http://") + host;
  return out;
}

}  // namespace

Result<BackendSpec> parse_backend_spec(std::string_view spec_text) {
  std::string_view spec = trim(spec_text);
  if (spec.empty())
    return make_error(ErrorCode::kInvalidArgument, "empty backend name; {}", kForms);
  struct Scheme {
    std::string_view prefix;
    BackendSpec::Kind kind;
    bool tls;
    int default_port;
  };
  static constexpr Scheme kSchemes[] = {
      {"ollama://", BackendSpec::Kind::kOllama, false, 11434},
      {"ollama+http://", BackendSpec::Kind::kOllama, false, 11434},
      {"ollama+https://", BackendSpec::Kind::kOllama, true, 443},
      {"openai://", BackendSpec::Kind::kOpenAI, false, 8000},
      {"openai+http://", BackendSpec::Kind::kOpenAI, false, 8000},
      {"openai+https://", BackendSpec::Kind::kOpenAI, true, 443},
  };
  for (const Scheme& scheme : kSchemes) {
    if (starts_with(spec, scheme.prefix)) {
      return parse_server(spec, spec.substr(scheme.prefix.size()), scheme.kind, scheme.tls,
                          scheme.default_port);
    }
  }
  if (starts_with(spec, "embedded:")) {
    std::string_view path = spec.substr(9);
    if (path.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "backend '{}' names no file; use embedded:PATH.gguf", spec);
    }
    return BackendSpec{BackendSpec::Kind::kEmbedded, std::string(path), ""};
  }
  if (starts_with(spec,
                  "ollama:")) {  // a model in the local Ollama store, run by the embedded engine
    std::string_view name = spec.substr(7);
    if (name.empty() || name.front() == ':' || name.back() == ':') {
      return make_error(ErrorCode::kInvalidArgument,
                        "backend '{}' names no model; use ollama:NAME:TAG "
                        "(for example ollama:gemma3:1b)",
                        spec);
    }
    std::string location = "ollama:" + std::string(name);
    if (name.find(':') == std::string_view::npos) location += ":latest";
    return BackendSpec{BackendSpec::Kind::kEmbedded, location, ""};
  }
  if (ends_with(to_lower(spec), ".gguf"))
    return BackendSpec{BackendSpec::Kind::kEmbedded, std::string(spec), ""};
  if (starts_with(spec, "http://") || starts_with(spec, "https://")) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "backend '{}' does not say which API the server speaks; write ollama://{} or openai://{}",
        spec, spec.substr(spec.find("//") + 2), spec.substr(spec.find("//") + 2));
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown backend '{}'; {}", spec, kForms);
}

Result<std::unique_ptr<Backend>> make_backend(std::string_view spec_text) {
  CHIMERA_ASSIGN_OR_RETURN(BackendSpec spec, parse_backend_spec(spec_text));
  switch (spec.kind) {
    case BackendSpec::Kind::kOllama: {
      OllamaBackendConfig config;
      config.base_url = spec.location;
      config.model = spec.model;
      return std::unique_ptr<Backend>(std::make_unique<OllamaBackend>(std::move(config)));
    }
    case BackendSpec::Kind::kOpenAI: {
      OpenAIBackendConfig config;
      config.base_url = spec.location;
      config.model = spec.model;
      return std::unique_ptr<Backend>(std::make_unique<OpenAIBackend>(std::move(config)));
    }
    case BackendSpec::Kind::kEmbedded:
      return make_embedded_backend(spec);
  }
  return make_error(ErrorCode::kInternal, "backend kind {} is not handled",
                    static_cast<int>(spec.kind));
}

std::optional<int> local_server_port(std::string_view backend_spec) {
  auto spec = parse_backend_spec(backend_spec);
  if (!spec.ok() || spec->kind == BackendSpec::Kind::kEmbedded) return std::nullopt;
  std::string_view location = spec->location;
  size_t scheme = location.find("://");
  if (scheme != std::string_view::npos) location.remove_prefix(scheme + 3);
  size_t colon = location.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string host(location.substr(0, colon));
  if (host != "127.0.0.1" && host != "localhost" && host != "[::1]" && host != "0.0.0.0") {
    return std::nullopt;
  }
  auto port = parse_int(location.substr(colon + 1));
  if (!port) return std::nullopt;
  return static_cast<int>(*port);
}

}  // namespace chimera::llm
