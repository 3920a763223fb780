// Which backend the main job talks to (`--backend auto`, the default):
//   1. an Ollama server at $OLLAMA_HOST (else the config's ollama_host, else 127.0.0.1:11434)
//      that answers and has the model;
//   2. else a GGUF from the local Ollama store, run by the embedded engine (gemma3 first);
//   3. else a gemma3-shaped dummy-weight model synthesized once into the cache directory (unless a
//      model was named with --model: then it is an error).
// Every step tried is recorded, so the run can print which was chosen and why.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "llm/types.h"
#include "util/status.h"

namespace chimera::agent {

struct BackendChoice {
  std::string spec;        // for llm::make_backend: "ollama://127.0.0.1:11434/gemma3:latest", ...
  std::string model;       // the model name requests carry ("" for the embedded engine)
  std::string reason;      // one sentence: why this backend
  bool synthetic = false;  // dummy weights: text meaningless, timings real
  std::vector<std::string> tried;  // "ollama at 127.0.0.1:11434: not answering (...)"
};

// The side effects of choosing, injectable for tests.
struct BackendProbes {
  // Models of the Ollama server at base_url ("http://127.0.0.1:11434"), or an error when it does
  // not answer.
  std::function<Result<std::vector<llm::ModelEntry>>(const std::string& base_url)>
      list_server_models;
  // "name:tag" of every model in the local Ollama store.
  std::function<std::vector<std::string>()> list_store_models;
  // Synthesizes (or finds, when made before) the dummy-weight model; returns the GGUF path.
  std::function<Result<std::string>()> dummy_model;
};

// The real probes: the Ollama HTTP API, the store's manifest folders. dummy_model is left empty
// (the command line supplies it; the agent layer does not synthesize models).
BackendProbes default_probes();

// "http://127.0.0.1:11434" from $OLLAMA_HOST or the config's ollama_host ("host", "host:port",
// "http://host:port", "0.0.0.0").
std::string ollama_base_url_from_env();

// `requested` is "auto" or an explicit backend spec (used as given). `model` is --model ("" = any
// gemma3 model, gemma3:latest first).
Result<BackendChoice> choose_backend(std::string_view requested, const std::string& model,
                                     const BackendProbes& probes);

// Picks the model to use from a list: the requested one (":latest" implied), else gemma3:latest,
// else another gemma3 tag; "" when none fits.
std::string pick_model(const std::vector<std::string>& available, const std::string& requested);

// "name:tag" entries under <models dir>/manifests/registry.ollama.ai/library/<name>/<tag>.
std::vector<std::string> list_ollama_store(const std::string& models_dir);

}  // namespace chimera::agent
