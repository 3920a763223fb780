// OllamaBackend: Ollama's native API over HTTP (docs/api.md in ollama/ollama).
//   generate: POST /api/generate (a prompt) or /api/chat (messages), NDJSON when streaming
//   list_models: GET /api/tags    describe: POST /api/show    version: GET /api/version
//   residency: GET /api/ps before a call, so a call that paid a model load is flagged
// Options are sent exactly as set (unset = not sent). The record says which options were in force
// and where each came from: sent, the model's own defaults (/api/show "parameters"), or the
// server's.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llm/backend.h"
#include "llm/http_client.h"

namespace chimera::llm {

struct OllamaBackendConfig {
  std::string base_url = "http://127.0.0.1:11434";
  std::string model;            // used when Request::model is empty
  bool check_residency = true;  // ask /api/ps before each call whether the model is loaded
  // A load_duration above this means the call loaded the model (a warm call reports a few ms).
  int64_t load_paid_threshold_ns = 200'000'000;
};

class OllamaBackend : public Backend {
 public:
  explicit OllamaBackend(OllamaBackendConfig config);

  std::string name() const override;  // "ollama://127.0.0.1:11434"
  BackendCapabilities capabilities() const override;
  CallRecord generate(const Request& request, const OnText& on_text = {}) override;
  Result<std::vector<ModelEntry>> list_models() override;
  Result<ModelDescription> describe(const std::string& model) override;
  Result<std::string> version() override;
  // Names of the models loaded now (/api/ps).
  Result<std::vector<std::string>> loaded_models();

 private:
  Result<ModelDescription> describe_with(HttpClient& client, const std::string& model,
                                         const HttpCallOptions& call);
  Result<std::vector<std::string>> loaded_with(HttpClient& client, const HttpCallOptions& call);
  Status unknown_model_error(const std::string& model, const Status& cause);
  Result<std::string> build_body(const Request& request, const std::string& model, bool chat) const;
  void settle(const Request& request, const std::optional<ModelDescription>& description,
              std::optional<bool> was_loaded, CallRecord& record) const;

  OllamaBackendConfig config_;
  HttpClientPool pool_;
  std::mutex cache_mutex_;
  std::map<std::string, ModelDescription> described_;  // /api/show per model, asked once
};

// Parses /api/show "parameters" ("num_ctx    4096\nstop    \"<|eot_id|>\"") into Options.
// Parameters that are not llm::Options (num_keep, mirostat...) go to `other` when given.
Options parse_ollama_parameters(std::string_view text,
                                std::map<std::string, std::string>* other = nullptr);

// "gemma3" and "gemma3:latest" name the same model.
bool same_ollama_model(std::string_view a, std::string_view b);

}  // namespace chimera::llm
