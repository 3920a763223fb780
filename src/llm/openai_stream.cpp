#include "llm/openai_stream.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "llm/http_client.h"
#include "llm/json_fields.h"
#include "llm/ndjson.h"

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

}  // namespace

OpenAIStreamDecoder::OpenAIStreamDecoder(CallRecord& record, bool chat, bool per_chunk_usage,
                                         const OnText& on_text)
    : record_(record), recorder_(record, on_text), chat_(chat), per_chunk_usage_(per_chunk_usage) {}

Status OpenAIStreamDecoder::handle_object(std::string_view json_text, bool whole_response) {
  ++events_;
  json object = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) {
    return make_error(ErrorCode::kParseError, "event {} of the stream is not a JSON object: {}",
                      events_, excerpt(json_text));
  }
  if (const json* error = jf::find(object, "error"); error != nullptr && !error->is_null()) {
    return make_error(ErrorCode::kRemoteError, "the server reported an error{}: {}",
                      record_.chunk_count > 0 ? " mid-stream" : "",
                      error_message_from_body(json_text));
  }
  if (jf::get_string(object, "object") ==
      "error") {  // older vLLM: {"object":"error","message":...}
    return make_error(ErrorCode::kRemoteError, "the server reported an error: {}",
                      error_message_from_body(json_text));
  }
  int32_t chunk_tokens = -1;
  if (const json* usage = jf::find(object, "usage"); usage != nullptr && usage->is_object()) {
    std::optional<int64_t> completion = jf::get_int(*usage, "completion_tokens");
    if (completion) {
      if (per_chunk_usage_)
        chunk_tokens = static_cast<int32_t>(*completion - completion_tokens_.value_or(0));
      completion_tokens_ = completion;
    }
    if (auto prompt = jf::get_int(*usage, "prompt_tokens")) record_.prompt_tokens = prompt;
  }
  if (const json* timings = jf::find(object, "timings");
      timings != nullptr && timings->is_object()) {
    ServerTimings& server = record_.server;  // llama.cpp server's own counters
    server.prompt_eval_count = jf::get_int(*timings, "prompt_n");
    server.eval_count = jf::get_int(*timings, "predicted_n");
    if (auto ms = jf::get_number(*timings, "prompt_ms"))
      server.prompt_eval_ns = static_cast<int64_t>(*ms * 1e6);
    if (auto ms = jf::get_number(*timings, "predicted_ms"))
      server.eval_ns = static_cast<int64_t>(*ms * 1e6);
  }
  std::string_view text, thinking;
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
    status_ = make_error(ErrorCode::kRemoteError, "the server reported an error{}: {}",
                         record_.chunk_count > 0 ? " mid-stream" : "",
                         error_message_from_body(event.data));
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
    status_ =
        Status(ErrorCode::kUnavailable,
               events_ == 0 ? "the server sent no events"
                            : "the stream ended without a finish_reason or [DONE]; the server "
                              "stopped or the connection was cut");
  }
  return status_;
}

Status OpenAIStreamDecoder::decode_whole(std::string_view body, int64_t now_ns) {
  now_ns_ = now_ns;
  status_ = handle_object(body, /*whole_response=*/true);
  return status_;
}

}  // namespace chimera::llm
