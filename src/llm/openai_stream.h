// Decoding of OpenAI-style /v1/chat/completions and /v1/completions bodies (SSE when streaming, one
// object when not) into a CallRecord. What the servers send differs; the quirks handled here:
//  - vLLM, SGLang: usage arrives in a last chunk with "choices": [] (stream_options.include_usage);
//    vLLM's continuous_usage_stats puts a cumulative usage on every chunk (exact tokens per chunk).
//  - llama.cpp server: a first chunk with "content": null and a role; the last chunk also carries
//    "timings" (prompt_n, prompt_ms, predicted_n, predicted_ms), kept as server timings; builds
//    before late 2025 report a mid-stream failure as a non-standard "error:" SSE field.
//  - Ollama /v1: no usage in streams before 0.5.2, so counts fall back to chunks (a lower bound).
//  - Reasoning models: "reasoning_content" (vLLM, llama.cpp) or "reasoning" (Ollama) deltas are
//    generated tokens but not the answer: kept in CallRecord::thinking.
//  - An error object ({"error": {...}}) inside an HTTP 200 stream is a failure, never an empty
//  token.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "llm/backend.h"
#include "llm/sse.h"
#include "llm/stream_record.h"
#include "llm/types.h"
#include "util/status.h"

namespace chimera::llm {

class OpenAIStreamDecoder {
 public:
  // chat: /v1/chat/completions deltas; otherwise /v1/completions "text". per_chunk_usage: the
  // request asked for vLLM's continuous_usage_stats, so each chunk's token count is known.
  OpenAIStreamDecoder(CallRecord& record, bool chat, bool per_chunk_usage, const OnText& on_text);

  Status feed(std::string_view bytes, int64_t now_ns);
  // End of the body: error when neither a finish_reason nor [DONE] came.
  Status finish(int64_t now_ns);
  // A whole non-streaming response body.
  Status decode_whole(std::string_view body, int64_t now_ns);

  std::optional<int64_t> completion_tokens() const { return completion_tokens_; }
  StreamRecorder& recorder() { return recorder_; }

 private:
  bool handle_event(const SseEvent& event);
  Status handle_object(std::string_view json_text, bool whole_response);

  CallRecord& record_;
  StreamRecorder recorder_;
  SseParser parser_;
  bool chat_, per_chunk_usage_;
  Status status_;
  int64_t now_ns_ = 0;
  bool saw_done_ = false, saw_finish_reason_ = false;
  std::optional<int64_t> completion_tokens_;
  int64_t events_ = 0;
};

}  // namespace chimera::llm
