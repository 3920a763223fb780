// EmbeddedBackend: llm::Backend over the in-process engine (engine::Session). It loads the model
// once and keeps it (the first call pays the load, as a cold Ollama does, and says so in
// model_load_paid), maps Ollama-named options onto the engine (unset -> the engine's default,
// recorded as such), and builds the same CallRecord the HTTP backends build: client clocks from the
// engine's per-token times, server timings from the engine's own timers, exact token counts.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "engine/engine.h"
#include "engine/model/model_store.h"
#include "llm/backend.h"

namespace chimera::llm {

class EmbeddedBackend final : public Backend {
 public:
  // `location`: a GGUF path or "ollama:NAME:TAG" (resolved through `store`).
  explicit EmbeddedBackend(std::string location, engine::ModelStore store = engine::ModelStore());

  std::string name() const override { return "embedded:" + location_; }
  BackendCapabilities capabilities() const override;
  CallRecord generate(const Request& request, const OnText& on_text = {}) override;
  Result<std::vector<ModelEntry>> list_models() override;
  Result<ModelDescription> describe(const std::string& model) override;
  std::optional<int64_t> count_prompt_tokens(const Request& request) override;
  std::map<std::string, std::string> options_not_applied(const Options& options) override;

 private:
  // Loads (once) and returns whether this call paid the load and how long it took.
  Status ensure_loaded(bool* paid, int64_t* load_ns);
  // A session with these options, reused while they stay the same (a new num_ctx re-sizes the
  // cache).
  // `build_ns` receives the time spent building a new session (0 when the old one was reused).
  Result<engine::Session*> session_for(const engine::SessionOptions& options, int64_t* build_ns);
  engine::GenerateRequest to_engine_request(const Request& request, const Options& applied) const;
  ModelEntry entry() const;

  std::string location_;
  engine::ModelStore store_;
  std::mutex mutex_;  // one call at a time: a Session runs one sequence
  std::string path_;
  std::shared_ptr<const engine::Model> model_;
  Options model_defaults_;  // an Ollama model's params layer
  std::optional<std::string> template_text_;
  std::unique_ptr<engine::Session> session_;
  engine::SessionOptions session_options_;
};

}  // namespace chimera::llm
