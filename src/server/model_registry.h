// The models a server serves, by name: where each comes from (a GGUF path or ollama:NAME:TAG from
// the local Ollama store, with its template, default parameters and system layers), whether it is
// loaded, and for how long it stays loaded (Ollama's keep_alive). A request holds a Lease while it
// runs; a model is unloaded only when no lease is held and its keep_alive has run out, and loaded
// again (paying load_duration) by the next request that names it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "llm/types.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "util/status.h"

namespace chimera::server {

struct ModelSource {
  std::string name;    // served name: "gemma3:1b" (Ollama store) or the file stem
  std::string spec;    // as given on the command line
  std::string path;    // the GGUF file
  std::string digest;  // "sha256:<hex>" of an Ollama blob; empty for a plain file
  std::optional<std::string> template_text;  // Ollama template layer
  std::optional<std::string> params_json;    // Ollama params layer (default options)
  std::optional<std::string> system_text;    // Ollama system layer
  uint64_t file_bytes = 0;
  int64_t modified_unix_ns = 0;
  // From the GGUF header, read at startup so /api/show and /v1/models say so before any load.
  bool synthetic = false;    // chimera.synthetic: dummy weights
  std::string general_name;  // "Gemma3 270M (dummy weights, ...)"
  std::string architecture;  // general.architecture: "qwen3" (its chat family, thinking mode)
};

// "NAME=SPEC" or "SPEC"; SPEC is "ollama:NAME[:TAG]" (resolved in the local Ollama store) or a GGUF
// path (named by its file stem unless NAME= is given).
Result<ModelSource> resolve_model_source(std::string_view argument);

// "gemma3" and "gemma3:latest" name the same model, as in Ollama.
std::string normalized_model_name(std::string_view name);

struct RegistryOptions {
  SchedulerOptions scheduler;                       // model_name is filled per model
  int64_t default_keep_alive_ns = 300'000'000'000;  // Ollama's 5m; < 0: forever
};

class ModelRegistry;

// What a loaded model looks like from outside; kept after unloading for /api/tags and /api/show.
struct ServedModelView {
  ModelSource source;
  std::optional<engine::ModelInfo> info;  // known once loaded
  llm::Options defaults;                  // from the params layer
  bool loaded = false;
  int64_t expires_unix_ns = 0;  // 0: never (keep_alive < 0) or not loaded
  int64_t kv_bytes = 0;
  int32_t n_ctx_per_seq = 0;
};

class ModelRegistry {
 public:
  // A model held loaded for one request.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    const engine::Model& model() const { return *model_; }
    Scheduler& scheduler() const { return *scheduler_; }
    const ModelSource& source() const;
    const llm::Options& defaults() const;
    // How long the model stays loaded once this lease ends (default: the server's keep_alive).
    // /api/ps shows it while the lease is still held.
    void set_keep_alive_ns(int64_t ns);
    explicit operator bool() const { return registry_ != nullptr; }

   private:
    friend class ModelRegistry;
    void release();
    ModelRegistry* registry_ = nullptr;
    size_t index_ = 0;
    std::shared_ptr<const engine::Model> model_;
    Scheduler* scheduler_ = nullptr;
    std::optional<int64_t> keep_alive_ns_;
  };

  ModelRegistry(std::vector<ModelSource> sources, RegistryOptions options, Metrics* metrics);
  ~ModelRegistry();  // shutdown()
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Loads every model once (fails fast on a bad file) and starts the keep_alive reaper.
  Status start();
  // Index of the model a request names, or nullopt.
  std::optional<size_t> find(std::string_view name) const;
  size_t size() const { return models_.size(); }
  std::vector<std::string> names() const;
  // Loads the model if needed; `load_ns` receives the time this call spent loading (0 if loaded).
  Result<Lease> acquire(size_t index, int64_t& load_ns);
  // Ollama's keep_alive 0 with no prompt: unload now, or as soon as the running requests end.
  void unload_when_idle(size_t index);
  ServedModelView view(size_t index) const;
  SchedulerGauges gauges() const;
  // Nothing queued or running in any model.
  bool idle() const;
  void shutdown();

 private:
  struct Entry;
  void release(size_t index, std::optional<int64_t> keep_alive_ns);
  Status load_entry(Entry& entry);  // holds entry.load_mutex, not mutex_
  void reset_expiry_locked(Entry& entry);
  void reap();

  RegistryOptions options_;
  Metrics* metrics_;
  std::vector<std::unique_ptr<Entry>> models_;
  mutable std::mutex mutex_;  // guards every Entry's mutable state
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread reaper_;
};

}  // namespace chimera::server
