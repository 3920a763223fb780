// What both HTTP backends do with a streamed answer: append each chunk's text to the CallRecord
// with its arrival clock, call the caller's on_text, and at the end settle the token count and its
// source, and the record's outcome. Keeping it in one place keeps the two backends' records
// comparable.
#pragma once

#include <cstdint>
#include <optional>
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

 private:
  CallRecord& record_;
  const OnText& on_text_;
  bool stopped_ = false;
  bool per_chunk_counts_known_ = true;
};

// Token count: the server's own count when it gave one (measured), else the number of chunks that
// carried text (derived, a lower bound). chunk_token_counts stay only where they are known: from
// the server per chunk, or all 1 when the server's total equals the chunk count.
void settle_token_count(CallRecord& record, std::optional<int64_t> server_count);

// Marks the record failed with the reason; what arrived before (text, clocks) stays.
void fail_record(CallRecord& record, const Status& status);

// One summary line for logs: "ok 128 tokens (server) ttft 85.2 ms" / "failed: <reason>".
std::string describe_record(const CallRecord& record);

}  // namespace chimera::llm
