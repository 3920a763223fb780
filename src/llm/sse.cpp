#include "llm/sse.h"

#include <fmt/format.h>

#include "util/strings.h"

namespace chimera::llm {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

size_t find_line_end(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\n' || bytes[i] == '\r') return i;
  }
  return std::string_view::npos;
}

}  // namespace

Status SseParser::too_long() const {
  return make_error(ErrorCode::kParseError,
                    "server-sent event {} (from body byte {}) is longer than {} bytes; the stream "
                    "is not SSE",
                    events_ + 1, event_started_ ? event_offset_ : next_line_offset_,
                    max_event_bytes_);
}

bool SseParser::dispatch(const OnEvent& on_event) {
  if (!has_data_) {  // the spec: an event with no data is not dispatched, its type is reset
    event_.type = "message";
    return true;
  }
  if (!event_.data.empty() && event_.data.back() == '\n') event_.data.pop_back();
  ++events_;
  dispatched_offset_ = event_offset_;
  bool keep_going = on_event(event_);
  event_.type = "message";
  event_.data.clear();
  has_data_ = false;
  event_started_ = false;
  if (!keep_going) stopped_ = true;
  return keep_going;
}

bool SseParser::process_line(std::string_view line, int64_t start, const OnEvent& on_event) {
  if (line.empty()) return dispatch(on_event);
  if (!event_started_) {
    event_started_ = true;
    event_offset_ = start;
  }
  if (line.front() == ':') {
    ++comments_;
    return true;
  }
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    event_.data.append(value);
    event_.data += '\n';
    has_data_ = true;
  } else if (field == "event") {
    event_.type.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) event_.id.assign(value);
  } else if (field == "retry") {
    if (auto ms = parse_int(value);
        ms && *ms >= 0 && value.find_first_not_of("0123456789") == std::string_view::npos) {
      retry_ms_ = *ms;
    }
  } else if (field == "error") {  // llama.cpp builds before late 2025: "error: {...}"
    event_.type = "error";
    event_.data.append(value);
    event_.data += '\n';
    has_data_ = true;
  }
  return true;  // unknown fields are ignored, as the spec says
}

Status SseParser::feed(std::string_view bytes, const OnEvent& on_event) {
  if (stopped_) return Status::ok();
  const char* const origin = bytes.data();
  const int64_t base = fed_;
  fed_ += static_cast<int64_t>(bytes.size());
  auto offset_of = [&](const char* p) { return base + static_cast<int64_t>(p - origin); };
  // A UTF-8 BOM is skipped at the very start; it may itself arrive split across reads.
  while (at_start_ && !bytes.empty()) {
    if (bytes.front() == kBom[bom_matched_]) {
      bytes.remove_prefix(1);
      if (++bom_matched_ == kBom.size()) {
        at_start_ = false;
        next_line_offset_ = offset_of(bytes.data());  // the first line starts after the BOM
      }
    } else {
      partial_.assign(kBom.substr(0, bom_matched_));
      at_start_ = false;
    }
  }
  if (pending_cr_ && !bytes.empty()) {
    if (bytes.front() == '\n') {
      bytes.remove_prefix(1);
      next_line_offset_ = offset_of(bytes.data());
    }
    pending_cr_ = false;
  }
  while (!bytes.empty()) {
    size_t end = find_line_end(bytes);
    if (end == std::string_view::npos) {
      if (partial_.size() + bytes.size() > max_event_bytes_) return too_long();
      partial_.append(bytes);
      return Status::ok();
    }
    bool keep_going;
    const int64_t start = next_line_offset_;
    if (partial_.empty()) {
      keep_going = process_line(bytes.substr(0, end), start, on_event);
    } else {
      if (partial_.size() + end > max_event_bytes_) return too_long();
      partial_.append(bytes.substr(0, end));
      keep_going = process_line(partial_, start, on_event);
      partial_.clear();
    }
    char terminator = bytes[end];
    bytes.remove_prefix(end + 1);
    if (terminator == '\r') {
      if (bytes.empty()) {
        pending_cr_ = true;
      } else if (bytes.front() == '\n') {
        bytes.remove_prefix(1);
      }
    }
    next_line_offset_ = offset_of(bytes.data());
    if (!keep_going) return Status::ok();
    if (event_.data.size() > max_event_bytes_) return too_long();
  }
  return Status::ok();
}

Status SseParser::finish(const OnEvent& on_event) {
  if (stopped_) return Status::ok();
  if (!partial_.empty()) {
    std::string last = std::move(partial_);
    partial_.clear();
    if (!process_line(last, next_line_offset_, on_event)) return Status::ok();
  }
  dispatch(on_event);  // tolerance: the last event's blank line never came
  return Status::ok();
}

}  // namespace chimera::llm
