// The API-neutral generation request both the Ollama and the OpenAI endpoints parse into, the option
// checks they share (types as Ollama checks them, ranges that make sense), keep_alive durations, and
// turning a request into prompt tokens and a SequenceRequest for the scheduler.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "engine/grammar/grammar.h"
#include "engine/tokenizer/chat_template.h"
#include "llm/types.h"
#include "server/json_util.h"
#include "server/sequence.h"
#include "util/status.h"

namespace chimera::server {

struct GenerationRequest {
  std::string model;                         // as the client named it
  bool chat = false;                         // messages (chat template) rather than a prompt
  std::vector<engine::ChatMessage> messages;
  std::string prompt;
  std::string system;
  bool raw = false;
  std::vector<int32_t> context;              // Ollama "context": tokens of an earlier exchange
  std::vector<int32_t> prompt_tokens;        // OpenAI completions: a prompt given as token ids
  llm::Options options;
  bool ignore_eos = false;
  bool stream = true;
  std::optional<int64_t> keep_alive_ns;      // unset: the server's default; < 0: forever
  bool truncate = true;                      // a prompt over num_ctx: keep its end (Ollama) or fail
  std::vector<std::string> ignored_options;  // names accepted but not acted on
  // Structured output (Ollama format, OpenAI response_format): null for free text.
  std::shared_ptr<const engine::Grammar> grammar;
  // Thinking mode (Ollama think, OpenAI reasoning_effort) and how the client asked, for errors
  // ("think true", "reasoning_effort \"low\"").
  engine::Think think = engine::Think::kDefault;
  std::string think_asked;
};

// Ollama's think: true, false, or a reasoning level ("low", "medium", "high"; "max" as Ollama
// takes it). Anything else is kInvalidArgument naming the value and what is allowed.
Result<engine::Think> parse_ollama_think(const Json& value);
// Whether the model served under `architecture` can honour request.think (engine check_think),
// before it is loaded.
Status check_request_think(const GenerationRequest& request, std::string_view architecture);

// Ollama's "options" object. Known options are type-checked (a string where a number belongs is an
// error, as in Ollama); options Ollama knows that this engine does not implement are accepted and
// listed in `ignored`; unknown names are ignored, as Ollama does. `ignore_eos` (a Chimera
// extension, also accepted by llama.cpp and vLLM) is read when present.
Status parse_ollama_options(const Json& object, std::string_view where, llm::Options& out, bool& ignore_eos,
                            std::vector<std::string>& ignored);
// Values that cannot be honoured: num_ctx <= 0, num_predict < -2, temperature < 0, top_p outside
// [0, 1], repeat_penalty <= 0, ... Errors name the option, the value and the allowed range.
Status validate_options(const llm::Options& options);

// Ollama keep_alive: a number of seconds or a Go duration ("5m", "1h30m", "300ms", "-1m"); negative
// means keep loaded forever. Returns ns.
Result<int64_t> parse_keep_alive(const Json& value);
Result<int64_t> parse_duration_ns(std::string_view text);

// Server-wide defaults for what a request leaves unset.
struct GenerationDefaults {
  int32_t num_ctx = 4096;
  int32_t num_predict = -1;
};

// Renders and tokenizes the prompt (chat template unless raw or token ids), prepending `context`.
Result<std::vector<int32_t>> build_prompt_tokens(const engine::Model& model, const GenerationRequest& request,
                                                 const std::string& default_system);

struct PreparedSequence {
  SequenceRequest request;
  int32_t num_ctx = 0;            // in force for this request
  bool prompt_truncated = false;
  int32_t prompt_tokens_dropped = 0;
};

// Applies model defaults then server defaults to the options, fits the prompt into num_ctx (keeping
// its end when request.truncate, else failing with kOutOfRange), and builds the scheduler request.
Result<PreparedSequence> prepare_sequence(const engine::Model& model, const GenerationRequest& request,
                                          std::vector<int32_t> prompt, const llm::Options& model_defaults,
                                          const GenerationDefaults& defaults, int64_t received_ns);

}  // namespace chimera::server
