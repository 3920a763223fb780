// How a served model is described to Ollama clients: /api/tags details, /api/show's modelfile,
// parameters and model_info, in the shapes and spellings Ollama uses.
#pragma once

#include <string>
#include <string_view>

#include "engine/engine.h"
#include "llm/types.h"
#include "server/json_util.h"
#include "server/model_registry.h"

namespace chimera::server {

// "999.89M", "4.3B" from the parameter count, as Ollama prints it.
std::string ollama_parameter_size(const engine::ModelInfo& info);
// llama-bench's "Q4_K - Medium" -> Ollama's "Q4_K_M"; "Q4_0" stays.
std::string ollama_quantization_level(std::string_view weight_type);
// "sha256:abc..." -> "abc..."; empty stays empty.
std::string digest_hex(std::string_view digest);
// Ollama's /api/show "parameters": one "name value" line per option, strings quoted.
std::string ollama_parameters_text(const llm::Options& defaults);
std::string ollama_modelfile(const ServedModelView& view);
// GGUF-style keys: general.architecture, <arch>.context_length, <arch>.block_count, ...
Json ollama_model_info(const engine::ModelInfo& info);

}  // namespace chimera::server
