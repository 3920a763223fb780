// What an HTTP answer that is not a success means: the server's own message, in any of the shapes
// servers write it, and whether it asks to be retried later (http_client.h).
#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "llm/http_client.h"
#include "llm/ndjson.h"
#include "llm/wire_json.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

constexpr int64_t kFirstBackoffMs = 250;
constexpr int64_t kLongestBackoffMs = 2'000;

// Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); nullopt when unreadable.
std::optional<int64_t> retry_after_ms(std::string_view value) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (auto seconds = parse_int(value)) {
    return *seconds < 0 ? std::nullopt
                        : std::optional<int64_t>(std::min<int64_t>(*seconds, 1 << 30) * 1000);
  }
  std::string date(value);
  time_t at = curl_getdate(date.c_str(), nullptr);
  if (at < 0) return std::nullopt;
  return std::max<int64_t>(
      0, (static_cast<int64_t>(at) - static_cast<int64_t>(std::time(nullptr))) * 1000);
}

// llama.cpp's server answers 503 {"error":{"message":"Loading model",...}} until its model is in.
bool says_loading(const HttpResponse& response) {
  return to_lower(error_message_from_body(response.body)).find("loading model") !=
         std::string::npos;
}

// A message of a parsed error value: its text, or a short excerpt of its JSON (never a recursive
// dump of whatever the server nested there).
std::string message_of(const nlohmann::json& value, std::string_view body) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object()) {
    auto message = value.find("message");
    if (message != value.end() && message->is_string()) return message->get<std::string>();
  }
  return excerpt(trim(body), 200);
}

}  // namespace

std::string error_message_from_body(std::string_view body) {
  if (trim(body).empty()) return "";
  auto parsed = parse_wire_json(body);
  if (parsed.ok() && parsed->is_object()) {
    const nlohmann::json& object = *parsed;
    if (auto error = object.find("error"); error != object.end()) return message_of(*error, body);
    auto message = object.find("message");
    if (message != object.end() && message->is_string()) return message->get<std::string>();
    if (auto detail = object.find("detail"); detail != object.end()) {
      if (detail->is_array() && !detail->empty() && (*detail)[0].is_object()) {
        auto msg = (*detail)[0].find("msg");
        if (msg != (*detail)[0].end() && msg->is_string()) return msg->get<std::string>();
      }
      return message_of(*detail, body);
    }
  }
  return excerpt(trim(body), 200);
}

Status http_error_status(const HttpResponse& response, std::string_view url) {
  // The message is shown and written everywhere: UTF-8 and one line, whatever the server sent.
  std::string message = excerpt(error_message_from_body(response.body), 300);
  if (message.empty()) message = "(no error message in the body)";
  const long code = response.http_status;
  if (code >= 300 && code < 400) {
    message = response.location.empty()
                  ? "a redirect without a Location"
                  : fmt::format("redirected to {}", excerpt(response.location, 200));
    message += "; redirects are not followed: point the backend at the server's own address";
  }
  if ((code == 429 || code == 503) && response.timings.retries > 0) {
    message += fmt::format(
        " (still, after {} retries waiting {:.1f} s in all; the retry budget "
        "is spent)",
        response.timings.retries, static_cast<double>(response.timings.retry_wait_ns) / 1e9);
  } else if ((code == 429 || code == 503) && !response.retry_after.empty()) {
    message += fmt::format(" (Retry-After: {}, beyond what the retry budget allows)",
                           excerpt(response.retry_after, 60));
  }
  ErrorCode error = code == 404                  ? ErrorCode::kNotFound
                    : code == 503 || code == 429 ? ErrorCode::kUnavailable
                                                 : ErrorCode::kRemoteError;
  return make_error(error, "HTTP {} from {}: {}", code, url, message);
}

std::optional<int64_t> retry_wait_ms(const HttpResponse& response, int retry) {
  const long code = response.http_status;
  if (code != 429 && code != 503) return std::nullopt;
  if (auto asked = retry_after_ms(response.retry_after)) return asked;
  if (code == 503 && !says_loading(response)) return std::nullopt;  // e.g. a full queue: counted
  return std::min<int64_t>(kFirstBackoffMs << std::min(retry, 4), kLongestBackoffMs);
}

}  // namespace chimera::llm
