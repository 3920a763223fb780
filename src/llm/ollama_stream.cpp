#include "llm/ollama_stream.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include "util/log.h"

namespace chimera::llm {
namespace {

enum class Key {
  kOther,
  kResponse,
  kThinking,
  kMessage,
  kContent,
  kDone,
  kDoneReason,
  kError,
  kTotalDuration,
  kLoadDuration,
  kPromptEvalCount,
  kPromptEvalDuration,
  kEvalCount,
  kEvalDuration,
  kQueueDuration,
};

Key lookup(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, Key>, 14> kKeys = {{
      {"response", Key::kResponse},
      {"thinking", Key::kThinking},
      {"message", Key::kMessage},
      {"content", Key::kContent},
      {"done", Key::kDone},
      {"done_reason", Key::kDoneReason},
      {"error", Key::kError},
      {"total_duration", Key::kTotalDuration},
      {"load_duration", Key::kLoadDuration},
      {"prompt_eval_count", Key::kPromptEvalCount},
      {"prompt_eval_duration", Key::kPromptEvalDuration},
      {"eval_count", Key::kEvalCount},
      {"eval_duration", Key::kEvalDuration},
      {"queue_duration", Key::kQueueDuration},
  }};
  for (const auto& [text, key] : kKeys) {
    if (text == name) return key;
  }
  return Key::kOther;
}

// SAX handler: tracks where in the object a value sits and copies only the fields of interest.
class OllamaSax {
 public:
  using json = nlohmann::json;
  explicit OllamaSax(OllamaObject& out) : out_(out) {}

  bool null() { return true; }
  bool boolean(bool value) {
    if (target() == Key::kDone) out_.done = value;
    return check_top_level();
  }
  bool number_integer(json::number_integer_t value) { return number(value); }
  bool number_unsigned(json::number_unsigned_t value) {
    return number(value > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(value));
  }
  bool number_float(json::number_float_t value, const json::string_t&) {
    if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9e18) {
      return number(static_cast<int64_t>(value));
    }
    return check_top_level();
  }
  bool string(json::string_t& value) {
    switch (target()) {
      case Key::kResponse:
      case Key::kContent:
        out_.text.assign(value);
        break;
      case Key::kThinking:
        out_.thinking.assign(value);
        break;
      case Key::kDoneReason:
        out_.done_reason.assign(value);
        break;
      case Key::kError:
        out_.has_error = true;
        out_.error.assign(value);
        break;
      default:
        break;
    }
    return check_top_level();
  }
  bool binary(json::binary_t&) { return true; }
  bool start_object(std::size_t) {
    if (depth_ == 0) top_is_object_ = true;
    if (depth_ == 1 && !frames_[0].array && frames_[0].key == Key::kError) out_.has_error = true;
    return push(false);
  }
  bool end_object() { return pop(); }
  bool start_array(std::size_t) { return check_top_level() && push(true); }
  bool end_array() { return pop(); }
  bool key(json::string_t& name) {
    if (depth_ >= 1 && depth_ <= kMaxDepth) frames_[depth_ - 1].key = lookup(name);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    error_ = fmt::format("{} (at byte {})", e.what(), position);
    return false;
  }
  const std::string& error() const { return error_; }
  bool top_is_object() const { return top_is_object_; }

 private:
  static constexpr int kMaxDepth = 16;
  struct Frame {
    bool array = false;
    Key key = Key::kOther;
  };

  bool check_top_level() {
    if (depth_ == 0) {  // a bare value or array: not an Ollama object
      error_ = "not a JSON object";
      return false;
    }
    return true;
  }
  bool push(bool array) {
    if (depth_ < kMaxDepth) frames_[depth_] = Frame{array, Key::kOther};
    ++depth_;
    return true;
  }
  bool pop() {
    --depth_;
    return true;
  }
  // The field a scalar value belongs to, or kOther.
  Key target() const {
    if (depth_ == 1 && !frames_[0].array) return frames_[0].key;
    if (depth_ == 2 && !frames_[0].array && !frames_[1].array) {
      Key parent = frames_[0].key, key = frames_[1].key;
      if (parent == Key::kMessage && (key == Key::kContent || key == Key::kThinking)) return key;
      if (parent == Key::kError && key == Key::kMessage) return Key::kError;
    }
    return Key::kOther;
  }
  bool number(int64_t value) {
    switch (target()) {
      case Key::kTotalDuration:
        out_.total_duration = value;
        break;
      case Key::kLoadDuration:
        out_.load_duration = value;
        break;
      case Key::kPromptEvalCount:
        out_.prompt_eval_count = value;
        break;
      case Key::kPromptEvalDuration:
        out_.prompt_eval_duration = value;
        break;
      case Key::kEvalCount:
        out_.eval_count = value;
        break;
      case Key::kEvalDuration:
        out_.eval_duration = value;
        break;
      case Key::kQueueDuration:
        out_.queue_duration = value;
        break;
      default:
        break;
    }
    return check_top_level();
  }

  OllamaObject& out_;
  std::array<Frame, kMaxDepth> frames_{};
  int depth_ = 0;
  bool top_is_object_ = false;
  std::string error_;
};

}  // namespace

void OllamaObject::clear() {
  text.clear();
  thinking.clear();
  done_reason.clear();
  error.clear();
  has_error = false;
  done = false;
  total_duration = load_duration = prompt_eval_count = prompt_eval_duration = eval_count =
      eval_duration = queue_duration = std::nullopt;
}

Status parse_ollama_object(std::string_view line, int64_t line_number, OllamaObject& out) {
  out.clear();
  OllamaSax sax(out);
  bool ok = nlohmann::json::sax_parse(line.data(), line.data() + line.size(), &sax);
  if (!ok || !sax.top_is_object()) {
    std::string why = sax.error().empty() ? "not a JSON object" : sax.error();
    return make_error(ErrorCode::kParseError,
                      "line {} of the stream is not a valid Ollama object ({}): {}", line_number,
                      why, excerpt(line));
  }
  if (out.has_error && out.error.empty())
    out.error = "(the server sent an error object without a message)";
  return Status::ok();
}

OllamaStreamDecoder::OllamaStreamDecoder(CallRecord& record, const OnText& on_text)
    : record_(record), recorder_(record, on_text) {}

bool OllamaStreamDecoder::handle_line(std::string_view line) {
  Status parsed = parse_ollama_object(line, splitter_.lines_emitted(), object_);
  if (!parsed.is_ok()) {
    status_ = parsed;
    return false;
  }
  if (object_.has_error) {
    status_ = make_error(ErrorCode::kRemoteError, "the server reported an error{}: {}",
                         record_.chunk_count > 0 ? " mid-stream" : "", object_.error);
    return false;
  }
  if (saw_final_) {  // Ollama sends nothing after done:true; note it rather than mix it in
    if (!warned_trailing_) {
      record_.warnings.push_back("the server sent data after its final object; it was ignored");
      warned_trailing_ = true;
    }
    return true;
  }
  if (!recorder_.chunk(object_.text, object_.thinking, now_ns_)) {
    status_ = Status(ErrorCode::kCancelled, "stopped by the caller's text callback");
    return false;
  }
  if (object_.done) {
    saw_final_ = true;
    record_.done_reason = object_.done_reason;
    ServerTimings& server = record_.server;
    server.total_ns = object_.total_duration;
    server.load_ns = object_.load_duration;
    server.prompt_eval_count = object_.prompt_eval_count;
    server.prompt_eval_ns = object_.prompt_eval_duration;
    server.eval_count = object_.eval_count;
    server.eval_ns = object_.eval_duration;
    server.queue_ns = object_.queue_duration;
  }
  return true;
}

Status OllamaStreamDecoder::feed(std::string_view bytes, int64_t now_ns) {
  if (!status_.is_ok()) return status_;
  now_ns_ = now_ns;
  Status split = splitter_.feed(bytes, [this](std::string_view line) { return handle_line(line); });
  if (!split.is_ok()) status_ = split;
  return status_;
}

Status OllamaStreamDecoder::finish(int64_t now_ns) {
  if (!status_.is_ok()) return status_;
  now_ns_ = now_ns;
  Status split = splitter_.finish([this](std::string_view line) { return handle_line(line); });
  if (!split.is_ok()) status_ = split;
  if (!status_.is_ok()) return status_;
  if (!saw_final_) {
    status_ =
        Status(ErrorCode::kUnavailable,
               splitter_.lines_emitted() == 0
                   ? "the server sent an empty body (no response object)"
                   : "the stream ended without the final object (\"done\": true) that carries "
                     "the statistics; the server stopped or the connection was cut");
  }
  return status_;
}

}  // namespace chimera::llm
