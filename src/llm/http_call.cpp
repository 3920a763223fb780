#include "llm/http_call.h"

#include <fmt/format.h>

#include <algorithm>

#include "llm/ndjson.h"
#include "llm/wire_json.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

// "text/event-stream; charset=utf-8" -> "text/event-stream".
std::string media_type(std::string_view content_type) {
  return to_lower(trim(content_type.substr(0, content_type.find(';'))));
}

}  // namespace

HttpCallOptions call_options(const Request& request) {
  HttpCallOptions call;
  call.connect_timeout_ms = request.connect_timeout_ms;
  call.read_timeout_ms = request.read_timeout_ms;
  call.retry_budget_ms = request.retry_budget_ms;
  call.cancelled = request.cancelled;
  return call;
}

HttpCallOptions metadata_call(const HttpCallOptions& base) {
  HttpCallOptions call = base;
  call.read_timeout_ms = std::min<int64_t>(base.read_timeout_ms, 30'000);
  return call;
}

Result<nlohmann::json> parse_json_body(const HttpResponse& response, const std::string& url) {
  if (!response.status.is_ok()) return response.status;
  if (!response.ok()) return http_error_status(response, url);
  auto parsed = parse_wire_json(response.body);
  if (!parsed.ok() || !parsed->is_object()) {
    return make_error(ErrorCode::kParseError, "{} did not answer with a JSON object ({}): {}", url,
                      parsed.ok() ? "another JSON value" : parsed.status().message(),
                      excerpt(response.body));
  }
  return std::move(*parsed);
}

void adopt_transport(CallRecord& record, const HttpResponse& response, RetryLog retries) {
  record.t_request_ns = response.t_start_ns;
  record.t_first_byte_ns = response.t_first_byte_ns;
  record.t_done_ns = response.t_done_ns;
  record.transport = response.timings;
  note_retries(record, std::move(retries));
}

void note_retries(CallRecord& record, RetryLog retries) {
  record.transport.retries = retries.retries;
  record.transport.retry_wait_ns = retries.wait_ns;
  record.transport.retry_reasons = std::move(retries.reasons);
  if (record.transport.retries > 0) {
    record.warnings.push_back(fmt::format(
        "the server asked to wait {} time{} before answering ({}); the call's clocks count from "
        "its last attempt, and it is not a successful first try",
        record.transport.retries, record.transport.retries == 1 ? "" : "s",
        join(record.transport.retry_reasons, "; ")));
  }
}

Status http_call_outcome(CallRecord& record, const HttpResponse& response,
                         const Status& decode_status, const std::function<Status()>& finish_decoder,
                         std::string_view url, std::string_view expected_type) {
  Status outcome = decode_status;
  if (outcome.is_ok() && !response.status.is_ok()) {
    outcome = response.status;
    if (record.chunk_count > 0) {
      outcome = Status(outcome.code(), fmt::format("{} ({} text chunks had arrived)",
                                                   outcome.message(), record.chunk_count));
    }
  } else if (outcome.is_ok() && !response.ok()) {
    outcome = http_error_status(response, url);
  } else if (outcome.is_ok()) {
    outcome = finish_decoder();
  }
  const bool wrong_type = response.ok() && !response.content_type.empty() &&
                          media_type(response.content_type) != expected_type;
  if (wrong_type && !outcome.is_ok() && outcome.code() != ErrorCode::kCancelled) {
    outcome =
        Status(outcome.code(),
               fmt::format("the server answered with Content-Type {}, not {}: {}",
                           excerpt(response.content_type, 80), expected_type, outcome.message()));
  } else if (wrong_type) {
    record.warnings.push_back(fmt::format(
        "the server labelled its answer Content-Type {}, not {}; it decoded as {} anyway",
        excerpt(response.content_type, 80), expected_type, expected_type));
  }
  if (!outcome.is_ok() && outcome.code() != ErrorCode::kCancelled &&
      outcome.message().find(url) == std::string::npos) {
    outcome = outcome.with_context(url);
  }
  return outcome;
}

}  // namespace chimera::llm
