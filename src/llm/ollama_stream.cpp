#include "llm/ollama_stream.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

#include "llm/wire_json.h"
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
// Nesting deeper than kMaxWireJsonDepth stops the parse (the line is an error, not a memory bomb).
class OllamaSax {
 public:
  using json = nlohmann::json;
  explicit OllamaSax(OllamaObject& out) : out_(out) {}

  bool null() { return check_top_level(); }  // a null statistic is one not reported
  bool boolean(bool value) {
    if (target() == Key::kDone) out_.done = value;
    return wrong_type(value ? "true" : "false", "a boolean") && check_top_level();
  }
  bool number_integer(json::number_integer_t value) {
    return number(static_cast<double>(value), std::to_string(value));
  }
  bool number_unsigned(json::number_unsigned_t value) {
    return number(static_cast<double>(value), std::to_string(value));
  }
  bool number_float(json::number_float_t value, const json::string_t& text) {
    return number(value, text);
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
        if (WireNumber* field = statistic(target())) {
          std::string_view literal = non_finite_literal(value);
          *field = literal.empty()
                       ? WireNumber{std::nullopt, "a string, not a number",
                                    excerpt(fmt::format("\"{}\"", value), 40)}
                       : WireNumber{std::nullopt, "not a finite number", std::string(literal)};
        }
        break;
    }
    return check_top_level();
  }
  bool binary(json::binary_t&) { return true; }
  bool start_object(std::size_t) {
    if (depth_ == 0) top_is_object_ = true;
    if (depth_ == 1 && !frames_[0].array && frames_[0].key == Key::kError) out_.has_error = true;
    wrong_type("{...}", "an object");
    return push(false);
  }
  bool end_object() { return pop(); }
  bool start_array(std::size_t) {
    wrong_type("[...]", "an array");
    return check_top_level() && push(true);
  }
  bool end_array() { return pop(); }
  bool key(json::string_t& name) {
    if (depth_ >= 1 && depth_ <= kTrackedDepth) frames_[depth_ - 1].key = lookup(name);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    if (error_.empty()) error_ = fmt::format("{} (at byte {} of the line)", e.what(), position);
    return false;
  }
  const std::string& error() const { return error_; }
  bool top_is_object() const { return top_is_object_; }

 private:
  static constexpr int kTrackedDepth = 16;
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
    if (depth_ >= kMaxWireJsonDepth) {
      error_ = fmt::format("nested deeper than {} levels", kMaxWireJsonDepth);
      return false;
    }
    if (depth_ < kTrackedDepth) frames_[depth_] = Frame{array, Key::kOther};
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
  WireNumber* statistic(Key key) {
    switch (key) {
      case Key::kTotalDuration:
        return &out_.total_duration;
      case Key::kLoadDuration:
        return &out_.load_duration;
      case Key::kPromptEvalCount:
        return &out_.prompt_eval_count;
      case Key::kPromptEvalDuration:
        return &out_.prompt_eval_duration;
      case Key::kEvalCount:
        return &out_.eval_count;
      case Key::kEvalDuration:
        return &out_.eval_duration;
      case Key::kQueueDuration:
        return &out_.queue_duration;
      default:
        return nullptr;
    }
  }
  // A statistic that holds something other than a number is kept as "unusable, and why".
  bool wrong_type(std::string_view shown, std::string_view type) {
    if (WireNumber* field = statistic(target())) {
      *field = WireNumber{std::nullopt, fmt::format("{}, not a number", type), std::string(shown)};
    }
    return true;
  }
  bool number(double value, std::string shown) {
    if (WireNumber* field = statistic(target())) *field = WireNumber{value, "", std::move(shown)};
    return check_top_level();
  }

  OllamaObject& out_;
  std::array<Frame, kTrackedDepth> frames_{};
  int depth_ = 0;
  bool top_is_object_ = false;
  std::string error_;
};

bool sax_parse_object(std::string_view text, OllamaObject& out, std::string& error) {
  out.clear();
  OllamaSax sax(out);
  bool ok = nlohmann::json::sax_parse(text.data(), text.data() + text.size(), &sax);
  if (ok && sax.top_is_object()) return true;
  error = sax.error().empty() ? "not a JSON object" : sax.error();
  return false;
}

}  // namespace

void OllamaObject::clear() {
  text.clear();
  thinking.clear();
  done_reason.clear();
  error.clear();
  has_error = false;
  done = false;
  total_duration = load_duration = prompt_eval_count = prompt_eval_duration = eval_count =
      eval_duration = queue_duration = WireNumber{};
  first_invalid_utf8 = std::string_view::npos;
}

Status parse_ollama_object(std::string_view line, int64_t line_number, OllamaObject& out,
                           int64_t body_offset) {
  std::string error;
  bool ok = sax_parse_object(line, out, error);
  if (!ok) {
    // What a strict parser refuses but a server may well send (bytes that are not UTF-8, NaN):
    // parsed again from a tolerant rewrite, keeping the bytes (wire_json.h).
    auto wire = make_parseable(line);
    if (!wire.ok()) {
      error = wire.status().message();
    } else if (wire->rewritten) {
      std::string retry_error;
      ok = sax_parse_object(wire->text, out, retry_error);
      if (ok && wire->bytes_escaped) {
        restore_bytes(out.text);
        restore_bytes(out.thinking);
        restore_bytes(out.error);
        out.first_invalid_utf8 = wire->first_invalid_utf8;
      }
    }
  }
  if (!ok) {
    std::string where = body_offset >= 0 ? fmt::format(" (body byte {})", body_offset) : "";
    return make_error(ErrorCode::kParseError,
                      "line {}{} of the stream is not a valid Ollama object ({}): {}", line_number,
                      where, error, excerpt(line));
  }
  if (out.has_error && out.error.empty())
    out.error = "(the server sent an error object without a message)";
  return Status::ok();
}

OllamaStreamDecoder::OllamaStreamDecoder(CallRecord& record, const OnText& on_text)
    : record_(record), recorder_(record, on_text) {}

bool OllamaStreamDecoder::handle_line(std::string_view line) {
  Status parsed =
      parse_ollama_object(line, splitter_.lines_emitted(), object_, splitter_.line_offset());
  if (!parsed.is_ok()) {
    status_ = parsed;
    return false;
  }
  if (object_.first_invalid_utf8 != std::string_view::npos) {
    recorder_.note_invalid_utf8(splitter_.line_offset() +
                                static_cast<int64_t>(object_.first_invalid_utf8));
  }
  if (object_.has_error) {
    status_ = make_error(ErrorCode::kRemoteError,
                         "the server reported an error{} (line {}, body byte {}): {}",
                         record_.chunk_count > 0 ? " mid-stream" : "", splitter_.lines_emitted(),
                         splitter_.line_offset(), excerpt(object_.error, 300));
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
    set_server_field(server, ServerField::kTotal, kOllamaFields, object_.total_duration);
    set_server_field(server, ServerField::kLoad, kOllamaFields, object_.load_duration);
    set_server_field(server, ServerField::kPromptEvalCount, kOllamaFields,
                     object_.prompt_eval_count);
    set_server_field(server, ServerField::kPromptEval, kOllamaFields, object_.prompt_eval_duration);
    set_server_field(server, ServerField::kEvalCount, kOllamaFields, object_.eval_count);
    set_server_field(server, ServerField::kEval, kOllamaFields, object_.eval_duration);
    // chimera serve's time in the queue for a batch slot: informational, kept only when it is a
    // non-negative finite number.
    if (object_.queue_duration.value && *object_.queue_duration.value >= 0 &&
        std::isfinite(*object_.queue_duration.value)) {
      server.queue_ns = static_cast<int64_t>(*object_.queue_duration.value);
    }
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
        splitter_.lines_emitted() == 0
            ? Status(ErrorCode::kUnavailable, "the server sent an empty body (no response object)")
            : make_error(ErrorCode::kUnavailable,
                         "the stream ended after {} body bytes ({} lines) without the final "
                         "object (\"done\": true) that carries the statistics; the server "
                         "stopped or the connection was cut",
                         splitter_.bytes_fed(), splitter_.lines_emitted());
  }
  return status_;
}

}  // namespace chimera::llm
