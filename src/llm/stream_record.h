// What both HTTP backends do with a streamed answer: append each chunk's text to the CallRecord
// with its arrival clock, call the caller's on_text, and at the end settle the token count and its
// source, and the record's outcome. Keeping it in one place keeps the two backends' records
// comparable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "llm/backend.h"
#include "llm/types.h"
#include "util/status.h"

namespace chimera::llm {

class StreamRecorder {
 public:
  StreamRecorder(CallRecord& record, const OnText& on_text) : record_(record), on_text_(on_text) {}
  // Room for the chunks of a call with this many tokens expected, so arrival times are recorded
  // without reallocating as they come.
  void reserve(int64_t expected_chunks);
  // One streamed chunk (an NDJSON line, an SSE event) arrived at now_ns with answer text and/or
  // reasoning text. Chunks with neither are not counted. `tokens` is the chunk's token count when
  // the server said so (-1: unknown). Returns false when on_text asked to stop.
  bool chunk(std::string_view text, std::string_view thinking, int64_t now_ns, int32_t tokens = -1);
  bool stopped_by_caller() const { return stopped_; }
  // The server's text held bytes that are not UTF-8, first seen at this body offset: noted once in
  // the record's warnings (the bytes stay in the text as they came).
  void note_invalid_utf8(int64_t body_offset);

 private:
  CallRecord& record_;
  const OnText& on_text_;
  bool stopped_ = false;
  bool per_chunk_counts_known_ = true;
  bool noted_invalid_utf8_ = false;
};

// A statistic as the server wrote it: its value, or why it cannot be one. `shown` is how it was
// written ("-1", "1e+30", "\"12\"", "NaN"), for the reason a rejected value is given.
struct WireNumber {
  std::optional<double> value;
  std::string problem;  // "a string, not a number", "not finite", ...
  std::string shown;
  bool present() const { return value.has_value() || !problem.empty(); }
};

enum class ServerField { kLoad, kPromptEval, kEval, kTotal, kPromptEvalCount, kEvalCount };
// The ServerTimings member a field fills: "load_ns", ..., "eval_count" (the keys of `rejected`).
std::string_view server_field_key(ServerField field);

// How a server names its statistics, and the unit its durations are in: the reasons a value is
// rejected for quote the server's own field and value.
struct ServerFieldNames {
  std::string_view load, prompt_eval, eval, total, prompt_eval_count, eval_count;
  double duration_unit_ns = 1;  // 1: ns (Ollama); 1e6: ms (llama.cpp "timings")
  std::string_view name(ServerField field) const;
};
inline constexpr ServerFieldNames kOllamaFields{"load_duration",
                                                "prompt_eval_duration",
                                                "eval_duration",
                                                "total_duration",
                                                "prompt_eval_count",
                                                "eval_count",
                                                1};
inline constexpr ServerFieldNames kLlamaCppFields{"timings.load_ms",
                                                  "timings.prompt_ms",
                                                  "timings.predicted_ms",
                                                  "timings.total_ms",
                                                  "timings.prompt_n",
                                                  "timings.predicted_n",
                                                  1e6};

// Sets one server statistic from what the server sent (durations scaled to ns), or records in
// timings.rejected why it cannot be used (not a number, not finite, not whole, out of range).
void set_server_field(ServerTimings& timings, ServerField field, const ServerFieldNames& names,
                      const WireNumber& number);

// Checks the server's statistics against each other and against what the client saw, once the
// record's clocks and text are final. A value that cannot be true is unset and its reason kept in
// server.rejected (and one warning): the metrics that need it are then unavailable, or taken from
// the client clock, never computed from it. The rules (each a bound no honest server crosses):
//  - durations are positive (a load may be 0: the model was resident) and finite;
//  - no server phase lasts longer than the whole call as the client timed it;
//  - load + prefill cannot exceed the client's time to first token;
//  - decoding cannot be under half the time the client saw from first to last token;
//  - token counts are not negative; the generated count is at least the number of chunks that
//    carried text, at most the request's num_predict (+1: an end-of-sequence counted), and at most
//    64 per byte of text received (tokens that print nothing exist, not that many); the prompt
//    count is positive;
//  - no count exceeds 10^9 tokens (beyond any model's context).
void validate_server_timings(CallRecord& record, const ServerFieldNames& names);

// A server's count of generated tokens (OpenAI usage.completion_tokens), checked by the same count
// rules; nullopt (and the reason in server.rejected["eval_count"]) when it cannot be true.
std::optional<int64_t> checked_generated_count(CallRecord& record, std::optional<int64_t> count,
                                               std::string_view wire_name);

// Token count: the server's own count when it gave one (measured), else the number of chunks that
// carried text (derived, a lower bound). chunk_token_counts stay only where they are known: from
// the server per chunk, or all 1 when the server's total equals the chunk count.
void settle_token_count(CallRecord& record, std::optional<int64_t> server_count);

// Marks the record failed with the reason; what arrived before (text, clocks) stays.
void fail_record(CallRecord& record, const Status& status);

// One summary line for logs: "ok 128 tokens (server) ttft 85.2 ms" / "failed: <reason>".
std::string describe_record(const CallRecord& record);

}  // namespace chimera::llm
