// Decoding of Ollama's /api/generate and /api/chat bodies (NDJSON when streaming, one object when
// not) into a CallRecord: text, clocks, the final object's statistics, and every way a stream can
// go wrong (an error object mid-way, a malformed line, no final object) as an error, never a zero.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "llm/backend.h"
#include "llm/ndjson.h"
#include "llm/stream_record.h"
#include "llm/types.h"
#include "util/status.h"

namespace chimera::llm {

// The fields of one Ollama response object the client uses. Filled by a SAX pass over the line, so
// a streamed token costs no JSON tree; reused between lines so its strings keep their capacity.
struct OllamaObject {
  std::string text;      // "response" (generate) or message.content (chat)
  std::string thinking;  // "thinking" or message.thinking
  std::string done_reason;
  std::string error;  // {"error": "..."} or {"error": {"message": "..."}}
  bool has_error = false;
  bool done = false;
  // The statistics as sent: a value, or why it cannot be one (a string, NaN, 1e30...).
  WireNumber total_duration, load_duration, prompt_eval_count, prompt_eval_duration, eval_count,
      eval_duration;
  // Where in the line the first byte that is not UTF-8 sat (npos: none); the text fields hold
  // such bytes as they came.
  size_t first_invalid_utf8 = std::string_view::npos;
  WireNumber queue_duration;  // chimera serve's extra field: time waiting for a batch slot
  void clear();
};

// Parses one object. The error names the line, the body byte it starts at, and shows its start.
Status parse_ollama_object(std::string_view line, int64_t line_number, OllamaObject& out,
                           int64_t body_offset = -1);

class OllamaStreamDecoder {
 public:
  OllamaStreamDecoder(CallRecord& record, const OnText& on_text);
  // Body bytes as they arrive, with their arrival time. Errors: a malformed line (kParseError), an
  // error object from the server (kRemoteError), the caller's on_text asking to stop (kCancelled).
  Status feed(std::string_view bytes, int64_t now_ns);
  // End of the body. Error when the final object (done: true) never came.
  Status finish(int64_t now_ns);
  bool saw_final() const { return saw_final_; }
  StreamRecorder& recorder() { return recorder_; }

 private:
  bool handle_line(std::string_view line);

  CallRecord& record_;
  StreamRecorder recorder_;
  NdjsonSplitter splitter_;
  OllamaObject object_;
  Status status_;
  int64_t now_ns_ = 0;
  bool saw_final_ = false;
  bool warned_trailing_ = false;
};

}  // namespace chimera::llm
