// Incremental Server-Sent Events parser (WHATWG HTML "server-sent events" §9.2.6), as the OpenAI
// streaming APIs use it: bytes arrive split anywhere; lines end in "\n", "\r\n" or "\r"; ":" lines
// are comments (keep-alives); several "data:" lines join with "\n"; a blank line dispatches the
// event. Two tolerances for real servers: the non-standard "error:" field of older llama.cpp builds
// becomes an event of type "error", and finish() dispatches a last event whose blank line never
// came
// ("data: [DONE]" followed by a close).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace chimera::llm {

struct SseEvent {
  std::string type = "message";  // the "event:" field, "message" when absent
  std::string data;              // "data:" lines joined with "\n"
  std::string id;                // the last "id:" seen (persists across events, as the spec says)
};

class SseParser {
 public:
  // Return false to stop early (feed returns ok and ignores further bytes).
  using OnEvent = std::function<bool(const SseEvent& event)>;
  static constexpr size_t kDefaultMaxEventBytes = 64u << 20;

  explicit SseParser(size_t max_event_bytes = kDefaultMaxEventBytes)
      : max_event_bytes_(max_event_bytes) {}

  Status feed(std::string_view bytes, const OnEvent& on_event);
  // End of the stream: a last line without its end, and an event without its blank line, still
  // count.
  Status finish(const OnEvent& on_event);

  int64_t events_dispatched() const { return events_; }
  int64_t comments_seen() const { return comments_; }
  int64_t retry_ms() const { return retry_ms_; }  // -1 when the server sent no "retry:"
  // Body offset where the event being handed to on_event started (for errors that name a byte).
  int64_t event_offset() const { return dispatched_offset_; }
  int64_t bytes_fed() const { return fed_; }

 private:
  bool process_line(std::string_view line, int64_t start, const OnEvent& on_event);
  bool dispatch(const OnEvent& on_event);
  Status too_long() const;

  size_t max_event_bytes_;
  std::string partial_;  // a line split across reads
  SseEvent event_;       // being assembled; strings keep their capacity between events
  bool has_data_ = false;
  bool pending_cr_ = false;  // the last byte was "\r": a "\n" that follows belongs to it
  bool at_start_ = true;     // a UTF-8 BOM is skipped only at the very start
  size_t bom_matched_ = 0;
  bool stopped_ = false;
  int64_t events_ = 0, comments_ = 0, retry_ms_ = -1;
  int64_t fed_ = 0, next_line_offset_ = 0, event_offset_ = 0, dispatched_offset_ = 0;
  bool event_started_ = false;
};

}  // namespace chimera::llm
