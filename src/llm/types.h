// THE SEAM (ARCHITECTURE.md): the request and record types every backend speaks. agent/ and lab/
// see models only through these and llm::Backend; they never include engine/ headers.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/provenance.h"
#include "util/status.h"

namespace chimera::llm {

// Ollama's option names. Unset means "the backend's default" and is recorded as unset, never
// guessed.
struct Options {
  std::optional<int64_t> num_ctx, num_predict, num_batch, num_thread, num_gpu, top_k, repeat_last_n,
      seed;
  std::optional<double> temperature, top_p, min_p, repeat_penalty;
  std::optional<std::vector<std::string>> stop;
  // Ollama's other options, which the seam passes through by name (typical_p, presence_penalty,
  // use_mmap, main_gpu, ...): name -> the value as a JSON literal ("0.9", "true", "2"). Only the
  // Ollama backend can send them; the others say they cannot (Backend::options_not_applied).
  std::map<std::string, std::string> extra;

  bool empty() const;
  // "temperature=0.2,num_ctx=1024,stop=a|b": names as Ollama spells them (kebab-case accepted).
  static Result<Options> parse(std::string_view assignments);
  // Sets one option from text; error names the option and the value.
  Status set(std::string_view name, std::string_view value);
  // Only the set options, in a fixed order: "num_ctx=4096 temperature=0.4".
  std::string to_string() const;
  // The option set as (name, value text) pairs in a fixed order, for tables and JSON.
  std::vector<std::pair<std::string, std::string>> items() const;
  // Only the set options as a JSON object with Ollama's names and native JSON types:
  // {"num_ctx":4096,"temperature":0.4,"stop":["\n"]}. Both HTTP backends build their bodies from
  // it.
  std::string to_json() const;
  // Values from `overrides` replace ours.
  Options merged_with(const Options& overrides) const;
  bool operator==(const Options& other) const = default;
};
// Every option name, in the fixed order used for printing.
const std::vector<std::string_view>& option_names();
// Ollama's options beyond option_names() that Options::set accepts into Options::extra.
const std::vector<std::string_view>& extra_option_names();
// The option name as Options spells it ("num-ctx" -> "num_ctx", "threads" stays unknown).
std::string normalize_option_name(std::string_view name);

// CallRecord::option_sources values: where the value in force came from.
inline constexpr std::string_view kOptionSent = "sent";  // the request carried it
inline constexpr std::string_view kOptionModelDefault =
    "model default";  // the model's own parameters
inline constexpr std::string_view kOptionBackendDefault =
    "backend default";                                                // unset: server decides
inline constexpr std::string_view kOptionNotApplied = "not applied";  // requested, but this backend
                                                                      // cannot pass it on (warning)

struct Message {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct Request {
  std::string model;   // backend-specific name; may be empty when the backend has one model
  std::string prompt;  // a single user turn (templated by the backend unless raw)
  std::vector<Message> messages;  // or a chat
  std::string system;
  bool raw = false;
  Options options;
  bool stream = true;
  bool ignore_eos = false;  // ask for exactly num_predict tokens where the backend supports it
  std::optional<std::string> keep_alive;
  // Structured output: nullopt = free text; "json" = any JSON value; otherwise the text of a JSON
  // Schema the answer must validate against. Backends send it in their server's form (Ollama
  // `format`, OpenAI `response_format`); the embedded engine constrains its sampling to it.
  // Backends whose capabilities().structured_output is false ignore it and warn in the record.
  // ("json" gives a JSON object on every backend, as Ollama's and OpenAI's JSON modes do.)
  std::optional<std::string> output_schema;
  int64_t connect_timeout_ms = 5'000;
  int64_t read_timeout_ms = 600'000;  // longest silence tolerated between bytes
  // Longest total wait for a server that answers 429 or 503 (rate limited, busy, still loading its
  // model) before the call fails; 0: no retries.
  int64_t retry_budget_ms = 120'000;
  std::function<bool()> cancelled;    // polled; true aborts the call (recorded as cancelled)
};

enum class TokenCountSource {
  kNone,    // unknown (failed call)
  kServer,  // the server said so (Ollama eval_count, OpenAI usage): measured
  kEngine,  // the embedded engine counted sampled tokens: measured
  kChunks,  // number of streamed chunks that carried text: derived, a lower bound (a chunk may
            // carry several tokens)
};
std::string_view token_count_source_name(TokenCountSource source);

// Server-reported timings (Ollama's final object, or the embedded engine's timers), ns. Only values
// that passed validation (stream_record.h: validate_server_timings) are set; a value the server
// sent that was not a number, not positive, not finite, or impossible next to what the client saw
// is left unset and its reason kept in `rejected`, keyed by the member's name ("eval_ns" ->
// "eval_duration = -1: a duration must be positive"), so no metric is built from it.
struct ServerTimings {
  std::optional<int64_t> load_ns, prompt_eval_ns, eval_ns, total_ns;
  std::optional<int64_t> prompt_eval_count, eval_count;
  // Time the request waited for a batch slot, where the server says (chimera serve's
  // "queue_duration"); not part of TTFT's server share.
  std::optional<int64_t> queue_ns;
  std::map<std::string, std::string> rejected;
};

// Where an HTTP call spent its time before the body, from libcurl, relative to the request start.
struct TransportTimings {
  std::optional<int64_t> dns_ns, connect_ns, first_byte_ns;
  bool connection_reused = false;
  int attempts = 0;  // connection attempts (retries happen only before any response byte)
  // Answers that said "try again later" (HTTP 429, or 503 with Retry-After or while the server
  // loads its model) and were waited for and retried: a call that needed them is not a successful
  // first try. retry_wait_ns is the time spent waiting; the record's clocks count from the last
  // attempt. One line per retry: "HTTP 503 (Loading model), waited 0.50 s (Retry-After)".
  int retries = 0;
  int64_t retry_wait_ns = 0;
  std::vector<std::string> retry_reasons;
};

struct CallRecord {
  std::string backend;  // "ollama://127.0.0.1:11434", "embedded:/path/m.gguf", ...
  std::string model;
  std::string endpoint;          // "/api/generate", "/v1/chat/completions", "engine"
  bool synthetic_model = false;  // dummy weights: text meaningless, timings real

  Options options_requested;
  Options options_applied;  // what was in force, where knowable (server/model defaults filled in)
  std::map<std::string, std::string>
      option_sources;  // name -> "sent" | "model default" | "backend default"

  std::string text;
  std::string thinking;     // reasoning text apart from the answer (Ollama "thinking",
                            // OpenAI "reasoning_content"); its chunks count as generated tokens
  std::string done_reason;  // "stop", "length", "cancelled", ...
  int64_t token_count = 0;  // generated tokens
  TokenCountSource token_count_source = TokenCountSource::kNone;
  std::optional<int64_t> prompt_tokens;
  int64_t chunk_count = 0;  // streamed chunks/lines carrying text

  // Client clocks: monotonic ns. 0 = did not happen.
  int64_t wall_start_unix_ms = 0;
  int64_t t_request_ns = 0;
  int64_t t_first_byte_ns = 0;
  int64_t t_first_token_ns = 0;
  int64_t t_done_ns = 0;
  std::vector<int64_t> chunk_times_ns;  // arrival of every chunk that carried text
  // Tokens per chunk, parallel to chunk_times_ns, only where known (engine; per-chunk usage; a
  // server total equal to the chunk count). Empty means unknown: never filled with a guessed 1.
  std::vector<int32_t> chunk_token_counts;

  ServerTimings server;
  TransportTimings transport;  // HTTP backends only
  bool model_load_paid =
      false;  // this call loaded the model (load_duration large or /api/ps said so)
  bool prompt_truncated = false;  // the prompt did not fit num_ctx
  std::vector<std::string> warnings;

  // A failed call is a failure, never a zero: ok == false excludes it from statistics.
  bool ok = false;
  ErrorCode error_code = ErrorCode::kOk;
  std::string error;  // the reason, with the server's own message when it gave one
};

struct ModelEntry {
  std::string name;            // "gemma3:latest", or the GGUF path for embedded
  std::string family;          // "gemma3"
  std::string parameter_size;  // "4.3B"
  std::string quantization;    // "Q4_K_M"
  uint64_t size_bytes = 0;
  bool synthetic = false;
};

struct ModelDescription {
  ModelEntry entry;
  std::optional<int64_t> context_length;
  Options defaults;  // the model's own default parameters (Ollama /api/show "parameters")
  std::string template_text;
  std::map<std::string, std::string> details;
};

}  // namespace chimera::llm
