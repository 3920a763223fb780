#include "llm/openai_stream.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "llm/http_client.h"
#include "llm/json_fields.h"
#include "llm/ndjson.h"
#include "llm/wire_json.h"

namespace chimera::llm {
namespace {

using nlohmann::json;
namespace jf = json_fields;

// Text of a field that may be a string, null or absent.
std::string_view text_of(const json& object, std::string_view key) {
  const json* value = jf::find(object, key);
  return value != nullptr && value->is_string()
             ? std::string_view(value->get_ref<const std::string&>())
             : std::string_view();
}

// A statistic as sent (llama.cpp "timings"): a number, or why it is not one. Absent and null are
// "not reported".
WireNumber wire_number(const json& object, std::string_view key) {
  const json* value = jf::find(object, key);
  if (value == nullptr || value->is_null()) return {};
  if (value->is_number()) return WireNumber{value->get<double>(), "", value->dump()};
  if (value->is_string()) {
    std::string_view literal = non_finite_literal(value->get_ref<const std::string&>());
    if (!literal.empty())
      return WireNumber{std::nullopt, "not a finite number", std::string(literal)};
    return WireNumber{std::nullopt, "a string, not a number",
                      excerpt(fmt::format("\"{}\"", value->get_ref<const std::string&>()), 40)};
  }
  return WireNumber{
      std::nullopt,
      fmt::format("a{} {}, not a number", value->is_object() ? "n" : "", value->type_name()),
      value->is_object()  ? "{...}"
      : value->is_array() ? "[...]"
                          : value->dump()};
}

}  // namespace

OpenAIStreamDecoder::OpenAIStreamDecoder(CallRecord& record, bool chat, bool per_chunk_usage,
                                         const OnText& on_text)
    : record_(record), recorder_(record, on_text), chat_(chat), per_chunk_usage_(per_chunk_usage) {}

Status OpenAIStreamDecoder::handle_object(std::string_view json_text, bool whole_response) {
  ++events_;
  WireJson wire;
  auto parsed = parse_wire_json(json_text, &wire);
  const int64_t offset = whole_response ? 0 : parser_.event_offset();
  if (!parsed.ok() || !parsed->is_object()) {
    return make_error(ErrorCode::kParseError,
                      "event {} (body byte {}) of the stream is not a JSON object ({})", events_,
                      offset, parsed.ok() ? excerpt(json_text) : parsed.status().message());
  }
  json& object = *parsed;
  if (wire.bytes_escaped) {
    // The event's data begins after "data: " on its first line; close enough to name the spot.
    recorder_.note_invalid_utf8(offset + static_cast<int64_t>(wire.first_invalid_utf8));
  }
  if (const json* error = jf::find(object, "error"); error != nullptr && !error->is_null()) {
    return make_error(ErrorCode::kRemoteError, "the server reported an error{} (body byte {}): {}",
                      record_.chunk_count > 0 ? " mid-stream" : "", offset,
                      excerpt(error_message_from_body(json_text), 300));
  }
  if (jf::get_string(object, "object") ==
      "error") {  // older vLLM: {"object":"error","message":...}
    return make_error(ErrorCode::kRemoteError, "the server reported an error (body byte {}): {}",
                      offset, excerpt(error_message_from_body(json_text), 300));
  }
  int32_t chunk_tokens = -1;
  if (const json* usage = jf::find(object, "usage"); usage != nullptr && usage->is_object()) {
    std::optional<int64_t> completion = jf::get_int(*usage, "completion_tokens");
    if (completion) {
      const int64_t delta = *completion - completion_tokens_.value_or(0);
      // A cumulative count that goes backwards or leaps is not a per-chunk count: unknown.
      if (per_chunk_usage_ && delta >= 0 && delta <= (1 << 20))
        chunk_tokens = static_cast<int32_t>(delta);
      completion_tokens_ = completion;
    }
    if (auto prompt = jf::get_int(*usage, "prompt_tokens")) record_.prompt_tokens = prompt;
  }
  if (const json* timings = jf::find(object, "timings");
      timings != nullptr && timings->is_object()) {
    ServerTimings& server = record_.server;  // llama.cpp server's own counters
    set_server_field(server, ServerField::kPromptEvalCount, kLlamaCppFields,
                     wire_number(*timings, "prompt_n"));
    set_server_field(server, ServerField::kEvalCount, kLlamaCppFields,
                     wire_number(*timings, "predicted_n"));
    set_server_field(server, ServerField::kPromptEval, kLlamaCppFields,
                     wire_number(*timings, "prompt_ms"));
    set_server_field(server, ServerField::kEval, kLlamaCppFields,
                     wire_number(*timings, "predicted_ms"));
  }
  std::string text, thinking;
  if (const json* choices = jf::find(object, "choices");
      choices != nullptr && choices->is_array() && !choices->empty()) {
    const json& choice = (*choices)[0];
    if (chat_) {
      const json* part = jf::find(choice, whole_response ? "message" : "delta");
      if (part != nullptr) {
        text = text_of(*part, "content");
        thinking = text_of(*part, "reasoning_content");
        if (thinking.empty()) thinking = text_of(*part, "reasoning");
      }
    } else {
      text = text_of(choice, "text");
    }
    if (wire.bytes_escaped) {  // the bytes exactly as the server sent them
      restore_bytes(text);
      restore_bytes(thinking);
    }
    std::string finish = jf::get_string(choice, "finish_reason");
    if (!finish.empty()) {
      record_.done_reason = finish;
      saw_finish_reason_ = true;
    }
  }
  if (!recorder_.chunk(text, thinking, now_ns_, chunk_tokens)) {
    return Status(ErrorCode::kCancelled, "stopped by the caller's text callback");
  }
  return Status::ok();
}

bool OpenAIStreamDecoder::handle_event(const SseEvent& event) {
  if (event.type == "error") {
    status_ =
        make_error(ErrorCode::kRemoteError, "the server reported an error{} (body byte {}): {}",
                   record_.chunk_count > 0 ? " mid-stream" : "", parser_.event_offset(),
                   excerpt(error_message_from_body(event.data), 300));
    return false;
  }
  if (event.data == "[DONE]") {
    saw_done_ = true;
    return true;
  }
  if (saw_done_) return true;  // nothing is expected after [DONE]
  status_ = handle_object(event.data, /*whole_response=*/false);
  return status_.is_ok();
}

Status OpenAIStreamDecoder::feed(std::string_view bytes, int64_t now_ns) {
  if (!status_.is_ok()) return status_;
  now_ns_ = now_ns;
  Status parsed =
      parser_.feed(bytes, [this](const SseEvent& event) { return handle_event(event); });
  if (!parsed.is_ok()) status_ = parsed;
  return status_;
}

Status OpenAIStreamDecoder::finish(int64_t now_ns) {
  if (!status_.is_ok()) return status_;
  now_ns_ = now_ns;
  Status parsed = parser_.finish([this](const SseEvent& event) { return handle_event(event); });
  if (!parsed.is_ok()) status_ = parsed;
  if (!status_.is_ok()) return status_;
  if (!saw_done_ && !saw_finish_reason_) {
    status_ = events_ == 0 ? Status(ErrorCode::kUnavailable, "the server sent no events")
                           : make_error(ErrorCode::kUnavailable,
                                        "the stream ended after {} body bytes ({} events) without "
                                        "a finish_reason or [DONE]; the server stopped or the "
                                        "connection was cut",
                                        parser_.bytes_fed(), events_);
  }
  return status_;
}

Status OpenAIStreamDecoder::decode_whole(std::string_view body, int64_t now_ns) {
  now_ns_ = now_ns;
  status_ = handle_object(body, /*whole_response=*/true);
  return status_;
}

}  // namespace chimera::llm
