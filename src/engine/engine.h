// src/engine/: in-process inference over GGUF models, in folders by concern. This header is the
// interface for running models (llm/, server/, cli/ use it); the layers above also read files and
// models through a few folder headers (gguf/gguf.h, model/model_store.h, model/synth.h,
// grammar/json_schema_compiler.h). The folders: gguf/ (the file format: reading, writing, tensor
// types), tokenizer/ (vocabularies, encode/decode, chat templates), quant/ (block layouts and
// scalar reference (de)quantizers), kernels/ (matmul, row ops and attention, each SIMD kernel
// beside its scalar reference, and the bandwidth probe), model/ (architecture as data, load-time
// quirks, weights, the one forward pass, the Ollama store and the dummy-weight synthesizer),
// runtime/ (Session, Context, Sampler, TextStreamer and PromptCache declared below, the KV cache and
// the thread pool) and grammar/ (JSON Schema -> grammar -> per-token masks for constrained
// decoding). Each folder's entry header opens with a paragraph like this one.
//
// The engine's public API (a thin surface, as gemma.cpp's): load a model once, then either
//  - Session::generate(request, on_token) for one sequence (CLI, EmbeddedBackend), or
//  - Context::decode(batch) + Sampler + TextStreamer for many sequences stepped together (server).
// Nothing here knows about HTTP, reports or files other than GGUF.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "util/status.h"

namespace chimera::engine {

struct ModelConfig;   // engine/model/model_config.h: architecture as data
struct ModelWeights;  // engine/model/model_weights.h: views of the mapped tensors (internal)
class GgufFile;
struct Grammar;             // engine/grammar/grammar.h: constrained decoding (json_schema_compiler)
class GrammarVocabulary;    // engine/grammar/grammar_vocab.h

// What a person (or a benchmark row) wants to know about a loaded model.
struct ModelInfo {
  std::string path;
  std::string architecture;  // "gemma3", "llama", "qwen2", "qwen3", "qwen3moe"
  std::string name;          // general.name
  bool synthetic = false;    // chimera.synthetic: dummy weights, text is meaningless
  std::string weight_type;   // llama-bench style: "Q4_0", "Q4_K - Medium", "F16"
  std::string size_label;    // "1B", "270M", "8B": from metadata (general.size_label) or the count
  uint64_t n_params = 0;
  uint64_t file_bytes = 0;
  uint64_t weight_bytes = 0;  // bytes of all tensors used by the text model
  // Weights read per decoded token (the roofline numerator, KV not included).
  uint64_t decode_bytes_per_token = 0;
  int n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0, n_vocab = 0;
  int context_length = 0;               // training context
  std::vector<std::string> load_notes;  // quirks fixed at load ("rope scaling linear 8 injected")
};

struct LoadOptions {
  bool prefetch = true;  // madvise(WILLNEED) the mapped weights (before they are copied)
  // Repack Q4_0 / Q5_0 / Q8_0 matrices for the VNNI kernels when they are the active path (same
  // bytes; the file's pages are released). CHIMERA_INTERLEAVE=0 turns it off too, to compare.
  bool interleave = true;
  // Copy the other weight matrices into huge pages (the file's pages released; resident memory
  // unchanged, load time +~0.3 s per GB): decode reads them faster than from the mapping's 4 KiB
  // pages. CHIMERA_HUGE_PAGES=0 turns it off too.
  bool huge_pages = true;
};

class Model {
 public:
  static Result<std::shared_ptr<const Model>> load(const std::string& path,
                                                   const LoadOptions& options = {});
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  virtual const ModelConfig& config() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;
  virtual ChatFamily chat_family() const = 0;
  virtual int64_t load_ns() const = 0;              // time load() took (mmap + parse + bind)
  virtual const ModelWeights& weights() const = 0;  // for the forward pass
  // The per-token tables constrained decoding reads (grammar_vocab.h), built on first use (about
  // a second for a 262k vocabulary) and shared by every sequence.
  virtual std::shared_ptr<const GrammarVocabulary> grammar_vocabulary() const = 0;
};

struct SamplingOptions {
  float temperature = 0.8f;  // 0 = greedy (argmax)
  int top_k = 40;            // <= 0: off
  float top_p = 0.9f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;        // 0: off, -1: num_ctx
  std::optional<uint64_t> seed;  // unset: random
};

// Ollama-semantics sampler (engine-reference.md §5.2): repeat penalty -> top-k -> temperature ->
// softmax -> top-p -> min-p -> draw. Temperature 0 is greedy argmax (after the repeat penalty, as
// llama.cpp's chain). The same seed gives the same draws.
class Sampler {
 public:
  Sampler(const SamplingOptions& options, int32_t n_vocab);
  // `logits` (n_vocab) may be modified. `history` are the previous tokens (prompt + generated).
  int32_t sample(float* logits, std::span<const int32_t> history);
  const SamplingOptions& options() const { return options_; }

 private:
  void apply_repeat_penalty(float* logits, std::span<const int32_t> history);
  double next_uniform();  // [0, 1)

  SamplingOptions options_;
  int32_t n_vocab_;
  uint64_t rng_state_[2];
  std::vector<std::pair<float, int32_t>> candidates_;  // reused, no per-token allocation
  std::vector<uint8_t> penalized_;                     // per token, reset after each use
};

// Turns generated tokens into text that is safe to stream: always valid UTF-8 (never half a
// character; bytes that cannot form one become U+FFFD), and text that might be the start of a stop
// string is held back until it is known not to be one.
class TextStreamer {
 public:
  TextStreamer(const Tokenizer& tokenizer, std::vector<std::string> stop);
  // Returns the text that can be emitted now (possibly empty). Sets stopped() when a stop string
  // matched; the stop string itself is not emitted.
  std::string push(int32_t token);
  // Flushes whatever is held back (end of generation without a stop match).
  std::string finish();
  bool stopped() const { return stopped_; }
  const std::string& text() const { return emitted_; }  // everything emitted so far

 private:
  const Tokenizer& tokenizer_;
  std::vector<std::string> stop_;
  std::string raw_;      // bytes not yet decoded (an incomplete character)
  std::string pending_;  // valid text not yet emitted (a possible stop-string prefix)
  std::string emitted_;
  bool stopped_ = false;
};

// Ollama's timing fields, in ns.
struct Timings {
  int64_t load_ns = 0;         // model load paid by this call (0 when already loaded)
  int64_t prompt_eval_ns = 0;  // prefill
  int64_t eval_ns = 0;         // decode: first sampled token to last
  int64_t total_ns = 0;
  int32_t prompt_eval_count = 0;
  int32_t eval_count = 0;
};

struct GenerateRequest {
  // The prompt: exactly one of messages (chat template applied), prompt (templated as one user
  // turn, unless raw) or prompt_tokens (used as given).
  std::vector<ChatMessage> messages;
  std::string system;  // prepended as a system message for messages / prompt
  std::string prompt;
  bool raw = false;
  std::vector<int32_t> prompt_tokens;
  // Thinking mode for the chat template (chat_template.h; not used with raw or prompt_tokens).
  // On or a level for a model without one is an error (reasoning.h check_think).
  Think think = Think::kDefault;

  SamplingOptions sampling;
  int32_t num_predict = -1;  // -1: until end-of-generation or the context is full
  std::vector<std::string> stop;
  bool ignore_eos = false;  // benchmarks: generate exactly num_predict tokens
  // When the prompt does not fit num_ctx: false -> error; true -> keep the end, report truncation.
  bool truncate_prompt = false;
  // Polled between steps; returning true cancels (done_reason "cancelled").
  std::function<bool()> cancelled;
  // When set, receives the logits of every prompt position (n_prompt x n_vocab, row-major).
  std::vector<float>* prompt_logits = nullptr;
  // Structured output: tokens the grammar refuses are masked before sampling, and the output is
  // closed in time when num_predict or the context would cut it (grammar_mask.h).
  std::shared_ptr<const Grammar> grammar;
};

struct TokenEvent {
  int32_t token = 0;
  std::string_view text;  // text safe to emit now (may be empty)
  int64_t time_ns = 0;    // monotonic clock when the token was sampled
  int32_t index = 0;      // 0 for the first generated token
};
// Return false to stop generating (done_reason "cancelled").
using OnToken = std::function<bool(const TokenEvent&)>;

struct GenerateResult {
  std::string text;
  std::vector<int32_t> tokens;
  // "stop" (EOG or stop string), "length" (num_predict / num_ctx), "cancelled".
  std::string done_reason;
  int32_t prompt_tokens = 0;
  // Prompt positions restored from the prompt cache instead of computed: prompt_tokens =
  // prompt_cached_tokens + timings.prompt_eval_count (Ollama counts only the computed ones).
  int32_t prompt_cached_tokens = 0;
  bool prompt_truncated = false;
  int32_t prompt_tokens_dropped = 0;
  Timings timings;
};

// Prompt caching (runtime/prompt_cache.h): the K/V that sequences computed for their tokens, kept
// in blocks of block_tokens positions in a tree keyed by the token prefix, so a later sequence that
// starts with the same tokens copies them instead of computing them again. Blocks are stored as they
// complete (and a finished sequence's last, partial block when it is cleared), evicted least
// recently used first under max_bytes. One cache serves one model and KV type; it outlives the
// contexts that use it (a context rebuilt for another num_ctx keeps the same cache).
struct PromptCacheOptions {
  int64_t max_bytes = 0;      // memory budget for blocks (their K/V rows, tokens and bookkeeping)
  int32_t block_tokens = 64;  // positions per block; lowered to the model's smallest sliding window
};

struct PromptCacheStats {
  int64_t bytes = 0;       // held now
  int64_t max_bytes = 0;   // the budget
  int64_t peak_bytes = 0;  // the most ever held
  int64_t blocks = 0;
  int64_t evicted_blocks = 0;     // since creation
  int64_t restored_tokens = 0;    // positions copied into sequences, since creation
  int64_t skipped_blocks = 0;     // blocks not stored: the budget was held by running sequences
  int32_t block_tokens = 0;
  int64_t bytes_per_token = 0;    // K and V of every layer for one position
};

class PromptCache {
 public:
  // kv_type must be the one the contexts that use it run with (F16 or Q8_0).
  static Result<std::shared_ptr<PromptCache>> create(std::shared_ptr<const Model> model,
                                                     GgmlType kv_type,
                                                     const PromptCacheOptions& options);
  // Bytes of K/V one cached position takes (every layer, every KV head).
  static Result<int64_t> bytes_per_token(const Model& model, GgmlType kv_type);
  virtual ~PromptCache() = default;
  virtual PromptCacheStats stats() const = 0;
  // A new budget; blocks are evicted, least recently used first, until the cache fits it (blocks
  // that running sequences hang from stay until those sequences end).
  virtual void set_max_bytes(int64_t max_bytes) = 0;
  virtual GgmlType kv_type() const = 0;
  virtual const Model& model() const = 0;
};

struct SessionOptions {
  int32_t num_ctx = 4096;
  int32_t num_batch = 512;
  int32_t num_thread = 0;             // <= 0: physical cores
  GgmlType kv_type = GgmlType::kF16;  // F16 or Q8_0
  // Shared with other sessions of the model (EmbeddedBackend keeps one across num_ctx changes);
  // null: every generate() computes its whole prompt.
  std::shared_ptr<PromptCache> prompt_cache;
};

// One sequence with its own KV cache; reusable across generate() calls. With a prompt cache, a call
// starts from the longest prefix of its prompt that the cache holds (the previous calls' prompts
// and answers among them) and computes only the rest; otherwise each call starts afresh.
class Session {
 public:
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model,
                                                 const SessionOptions& options);
  virtual ~Session() = default;
  virtual Result<GenerateResult> generate(const GenerateRequest& request,
                                          const OnToken& on_token) = 0;
  // Prompt rendering as generate() does it, for callers that count tokens first.
  virtual Result<std::vector<int32_t>> render_prompt(const GenerateRequest& request) const = 0;
  virtual const SessionOptions& options() const = 0;
};

class ThreadPool;

// Many sequences sharing one model and one KV pool, advanced together: one forward pass over the
// weights for every token in the batch (continuous batching in the server).
struct BatchToken {
  int32_t token = 0;
  int32_t seq = 0;  // sequence slot, 0 <= seq < n_seq_max
  int32_t pos = 0;  // position within that sequence
  bool want_logits = false;
};

struct ContextOptions {
  int32_t n_seq_max = 1;
  int32_t n_ctx_per_seq = 4096;
  int32_t n_batch = 512;  // most tokens one decode() call may carry (sizes scratch and KV rings)
  int32_t num_thread = 0;
  GgmlType kv_type = GgmlType::kF16;
  // Null: no prompt caching. Otherwise every sequence's completed blocks are stored in it after
  // each decode() and restore_prefix() reads from it (its model and kv_type must be this context's).
  std::shared_ptr<PromptCache> prompt_cache;
};

class Context {
 public:
  static Result<std::unique_ptr<Context>> create(std::shared_ptr<const Model> model,
                                                 const ContextOptions& options);
  virtual ~Context() = default;
  // Runs the batch; writes n_vocab logits per token with want_logits, in batch order.
  virtual Status decode(std::span<const BatchToken> batch, float* logits) = 0;
  // Forgets a sequence's KV (its slot can be reused at position 0). With a prompt cache, the
  // sequence's last partial block is stored there first, so what it computed outlives it.
  virtual void clear_sequence(int32_t seq) = 0;
  // Starts the empty sequence `seq` with the longest prefix of `tokens` the prompt cache holds,
  // leaving at least the last token to be decoded (its logits are what the caller samples from):
  // copies that prefix's K/V into the slot and returns its length, the position to decode from.
  // 0 without a prompt cache or a match. The restored K/V are the bits the cached sequence
  // computed, so what follows is what that sequence would have computed from there.
  virtual int32_t restore_prefix(int32_t seq, std::span<const int32_t> tokens) = 0;
  virtual const ContextOptions& options() const = 0;
  virtual const Model& model() const = 0;
  virtual int64_t kv_bytes() const = 0;
  // The context's worker threads, idle between decode() calls: callers may run per-sequence work
  // on them (the server samples every sequence's next token in parallel).
  virtual ThreadPool& pool() = 0;
};

}  // namespace chimera::engine
