// OpenAIBackend: the OpenAI-compatible HTTP API that vLLM, llama.cpp's server, SGLang, TGI and
// Ollama's /v1 all speak, each a little differently (see openai_stream.h for the stream quirks).
//   generate: /v1/chat/completions (messages, or a prompt as one user turn) or /v1/completions (raw
//             prompt), SSE with stream_options.include_usage, or one object when not streaming
//   list_models / describe: GET /v1/models
// The server kind ("flavor") is detected once from /v1/models "owned_by" (vllm, llamacpp, sglang)
// or Ollama's /api/version, because which sampling options a server honours depends on it: top_k,
// min_p, repetition penalty and ignore_eos are extensions that vLLM, llama.cpp and SGLang accept
// under their own names and Ollama's /v1 and TGI ignore. An option that cannot reach the sampler is
// recorded as "not applied" with a warning, never silently dropped. num_ctx, num_batch, num_thread
// and num_gpu are fixed when such a server starts and cannot be sent at all.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "llm/backend.h"
#include "llm/http_client.h"

namespace chimera::llm {

enum class OpenAIFlavor { kUnknown, kVllm, kLlamaCpp, kSglang, kTgi, kOllama };
std::string_view openai_flavor_name(OpenAIFlavor flavor);

struct OpenAIBackendConfig {
  std::string base_url = "http://127.0.0.1:8000";
  std::string model;    // used when Request::model is empty; else the server's only model
  std::string api_key;  // sent as a bearer token; empty: $OPENAI_API_KEY when set
  std::optional<OpenAIFlavor> flavor;  // detected on first use when unset
};

class OpenAIBackend : public Backend {
 public:
  explicit OpenAIBackend(OpenAIBackendConfig config);

  std::string name() const override;  // "openai://127.0.0.1:8000"
  BackendCapabilities capabilities() const override;
  CallRecord generate(const Request& request, const OnText& on_text = {}) override;
  Result<std::vector<ModelEntry>> list_models() override;
  Result<ModelDescription> describe(const std::string& model) override;
  std::optional<int64_t> count_prompt_tokens(const Request& request) override;
  Result<std::string> version() override;
  std::map<std::string, std::string> options_not_applied(const Options& options) override;

  OpenAIFlavor flavor();

 private:
  // Detection through this client, with these call options (a generation's timeouts and budget).
  OpenAIFlavor flavor(HttpClient& client, const HttpCallOptions& call);
  Result<std::vector<ModelDescription>> models_with(HttpClient& client,
                                                    const HttpCallOptions& call);
  Result<std::string> resolve_model(HttpClient& client, const Request& request,
                                    const HttpCallOptions& call);
  Status unknown_model_error(const std::string& model, const Status& cause);

  // Whether /v1/models marks this model as dummy-weight (chimera serve's "chimera.synthetic"); the
  // list is read once, on the first call that reads it successfully.
  bool listed_synthetic(HttpClient& client, const HttpCallOptions& call, const std::string& model);

  OpenAIBackendConfig config_;
  HttpClientPool pool_;
  std::mutex flavor_mutex_;
  std::atomic<int> flavor_{-1};  // OpenAIFlavor once known
  std::mutex listed_mutex_;
  std::optional<std::vector<ModelDescription>> listed_;  // /v1/models as first read; listed_mutex_
};

// The request body for one call, and what happened to each option. Exposed for tests.
struct OpenAIRequestPlan {
  std::string body;
  Options applied;                                    // the options that were sent
  std::map<std::string, std::string> option_sources;  // per option name
  std::vector<std::string> warnings;
  Status error;  // the request cannot be sent (an output_schema that is not JSON)
};
OpenAIRequestPlan plan_openai_request(const Request& request, const std::string& model, bool chat,
                                      OpenAIFlavor flavor);

}  // namespace chimera::llm
