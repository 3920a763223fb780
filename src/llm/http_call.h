// What both HTTP backends do when a generation's transfer is over: take its clocks and retries into
// the record, and decide how the call ended. The first failure wins, and its reason says where in
// the body it happened (body bytes, chunks), so a cut stream reads "the connection failed after
// 1234 body bytes, 5 chunks", not just "failed".
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "llm/http_client.h"
#include "llm/types.h"
#include "util/status.h"

namespace chimera::llm {

// The transport options of a request: its timeouts, retry budget and cancel predicate.
HttpCallOptions call_options(const Request& request);
// The same for a short metadata request (/api/show, /v1/models...): at most 30 s of silence.
HttpCallOptions metadata_call(const HttpCallOptions& base);
// A non-streamed answer that must be one JSON object: the transport's failure, the HTTP error, or
// the object (parsed as servers really write JSON, wire_json.h).
Result<nlohmann::json> parse_json_body(const HttpResponse& response, const std::string& url);

// Clocks (from the last attempt, when retries were made), transport timings, and the retries the
// client made for this call (`retries`, from HttpClient::take_retries(): the generation and the
// metadata requests before it), with a warning that names each.
void adopt_transport(CallRecord& record, const HttpResponse& response, RetryLog retries);
// Only the retries (a call that failed before its generation request, in a metadata request).
void note_retries(CallRecord& record, RetryLog retries);

// The call's outcome from, in order: the decoder's verdict on the bytes it was fed, the transport
// (timeout, reset, cut), the HTTP status, and the decoder's verdict at the end of the body
// (finish_decoder). A body whose Content-Type is not `expected_type` is named in a failure's
// reason, and warned about when the body decoded anyway. Parse and remote errors get the URL.
Status http_call_outcome(CallRecord& record, const HttpResponse& response,
                         const Status& decode_status, const std::function<Status()>& finish_decoder,
                         std::string_view url, std::string_view expected_type);

}  // namespace chimera::llm
