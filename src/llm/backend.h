// llm::Backend: the only way agent/ and lab/ reach a model. Implementations: EmbeddedBackend
// (engine in-process), OllamaBackend (HTTP NDJSON), OpenAIBackend (HTTP SSE).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llm/types.h"
#include "util/status.h"

namespace chimera::llm {

// Called for every chunk of generated text as it arrives; return false to cancel.
using OnText = std::function<bool(std::string_view text)>;

struct BackendCapabilities {
  bool server_timings = false;  // reports load/prefill/decode durations
  bool ignore_eos = false;      // can generate exactly num_predict tokens
  bool exact_token_counts = false;
  bool seed = true;
  // Honours Request::output_schema (constrained decoding, or the server's JSON mode).
  bool structured_output = false;
  // Runs every layer on the CPU whatever num_gpu says (the embedded engine).
  bool cpu_only = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // URL-like identity: "embedded:/p/m.gguf", "ollama://127.0.0.1:11434", "openai://host:8000".
  virtual std::string name() const = 0;
  virtual BackendCapabilities capabilities() const = 0;
  // Never throws; a failure is a CallRecord with ok == false, its partial text and the reason.
  virtual CallRecord generate(const Request& request, const OnText& on_text = {}) = 0;
  virtual Result<std::vector<ModelEntry>> list_models() = 0;
  virtual Result<ModelDescription> describe(const std::string& model) = 0;
  // Counts prompt tokens as the backend would (engine tokenizer, or a server endpoint); nullopt
  // when the backend cannot tell.
  virtual std::optional<int64_t> count_prompt_tokens(const Request& request) {
    (void)request;
    return std::nullopt;
  }
  // The options of `options` that this backend cannot apply per request, each with the reason
  // ("fixed when an OpenAI-compatible server starts"). Empty when every one reaches the model.
  // Commands that vary options (chimera tune) refuse these before making any call.
  virtual std::map<std::string, std::string> options_not_applied(const Options& options) {
    (void)options;
    return {};
  }
  // The server's own version ("0.6.2" from Ollama /api/version), for self-describing results.
  virtual Result<std::string> version() {
    return Status(ErrorCode::kUnsupported, name() + " does not report a version");
  }
};

struct BackendSpec {
  enum class Kind { kEmbedded, kOllama, kOpenAI };
  Kind kind = Kind::kEmbedded;
  std::string location;  // GGUF path, or "http://host:port"
  std::string model;     // model name for servers ("" when given separately)
};
// Parses "embedded:PATH.gguf", "ollama://host:port/model", "openai://host:port/model",
// "ollama:NAME:TAG" (resolved from the local Ollama store to an embedded GGUF).
// Also: "openai+https://host/model" and "ollama+https://host/model" for TLS endpoints, and a bare
// "PATH.gguf" for embedded. Ports default to 11434 (Ollama) and 8000 (vLLM's default).
Result<BackendSpec> parse_backend_spec(std::string_view spec);
Result<std::unique_ptr<Backend>> make_backend(std::string_view spec);
// The port of a server named by a backend spec when it runs on this machine (its process can be
// monitored); nullopt for the embedded engine and remote hosts.
std::optional<int> local_server_port(std::string_view spec);
// The embedded engine behind the seam (src/llm/embedded_backend.cpp). An "ollama:NAME:TAG" location
// is resolved through the local Ollama model store to its GGUF blob there.
Result<std::unique_ptr<Backend>> make_embedded_backend(const BackendSpec& spec);

}  // namespace chimera::llm
