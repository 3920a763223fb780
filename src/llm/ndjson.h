// Incremental NDJSON (newline-delimited JSON, Ollama's streaming format) line splitter. Bytes
// arrive split anywhere (mid-line, several lines per read); complete lines come out, without their
// "\n" or
// "\r\n". A line too long for the limit is an error, never unbounded memory.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "util/status.h"

namespace chimera::llm {

class NdjsonSplitter {
 public:
  // Receives each complete, non-blank line; return false to stop early (feed returns ok).
  using OnLine = std::function<bool(std::string_view line)>;
  static constexpr size_t kDefaultMaxLineBytes = 64u << 20;

  explicit NdjsonSplitter(size_t max_line_bytes = kDefaultMaxLineBytes)
      : max_line_bytes_(max_line_bytes) {}

  // Lines that lie wholly inside `bytes` are passed as views into it (no copy); only a line split
  // across reads is buffered.
  Status feed(std::string_view bytes, const OnLine& on_line);
  // End of the stream: a last line without a newline is still a line.
  Status finish(const OnLine& on_line);
  bool has_partial_line() const { return !partial_.empty(); }
  int64_t lines_emitted() const { return lines_; }
  // Body offset where the line being handed to on_line starts (for errors that name a byte).
  int64_t line_offset() const { return line_offset_; }
  // Bytes fed so far, and where the next (unfinished) line starts.
  int64_t bytes_fed() const { return fed_; }
  int64_t next_line_offset() const { return next_line_offset_; }

 private:
  bool emit(std::string_view line, int64_t start, const OnLine& on_line);
  Status too_long() const;

  size_t max_line_bytes_;
  std::string partial_;
  int64_t lines_ = 0;
  int64_t fed_ = 0, line_offset_ = 0, next_line_offset_ = 0;
  bool stopped_ = false;
};

// Parses one NDJSON line. The error says which line, why, and shows its start, so a proxy's HTML
// error page or a truncated object is recognisable in the message.
Result<nlohmann::json> parse_json_line(std::string_view line, int64_t line_number);

// "{\"error\":..." shortened to `max_bytes` for error messages, with control bytes escaped.
std::string excerpt(std::string_view text, size_t max_bytes = 120);

}  // namespace chimera::llm
