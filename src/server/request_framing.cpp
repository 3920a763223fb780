#include "server/request_framing.h"

#include <fmt/format.h>

#include "util/strings.h"

namespace chimera::server {
namespace {

RequestFraming error(int status, std::string why) {
  RequestFraming f;
  f.state = RequestFraming::State::kError;
  f.error_status = status;
  f.error = std::move(why);
  return f;
}

// The end of a chunked body starting at `at`, or npos while incomplete; -2 (as size_t) on a
// malformed chunk size, -3 when the body passes `max_body`.
constexpr size_t kMalformed = static_cast<size_t>(-2), kTooLarge = static_cast<size_t>(-3);
size_t chunked_end(std::string_view data, size_t at, size_t max_body) {
  size_t body = 0;
  while (true) {
    size_t line_end = data.find("\r\n", at);
    if (line_end == std::string_view::npos)
      return data.size() - at > 1024 ? kMalformed : std::string_view::npos;
    std::string_view size_text = data.substr(at, line_end - at);
    size_text = size_text.substr(0, size_text.find(';'));  // chunk extensions
    size_text = trim(size_text);
    if (size_text.empty() || size_text.size() > 15 ||
        size_text.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
      return kMalformed;
    }
    size_t size = std::stoull(std::string(size_text), nullptr, 16);
    at = line_end + 2;
    if (size == 0) {  // trailers, then a blank line
      while (true) {
        size_t end = data.find("\r\n", at);
        if (end == std::string_view::npos) return std::string_view::npos;
        if (end == at) return end + 2;
        at = end + 2;
      }
    }
    body += size;
    if (body > max_body) return kTooLarge;
    if (data.size() < at + size + 2) return std::string_view::npos;
    if (data.substr(at + size, 2) != "\r\n") return kMalformed;
    at += size + 2;
  }
}

}  // namespace

RequestFraming frame_request(std::string_view data, size_t max_head, size_t max_body) {
  RequestFraming f;
  size_t blank = data.find("\r\n\r\n");
  if (blank == std::string_view::npos) {
    if (data.size() > max_head) {
      return error(431, fmt::format("the request head is larger than {} bytes", max_head));
    }
    return f;
  }
  f.head_bytes = blank + 4;
  if (f.head_bytes > max_head) {
    return error(431, fmt::format("the request head is larger than {} bytes", max_head));
  }
  std::string_view head = data.substr(0, blank);
  bool chunked = false, has_length = false;
  size_t length = 0;
  for (size_t at = head.find("\r\n"); at != std::string_view::npos;) {
    size_t next = head.find("\r\n", at + 2);
    std::string_view line = head.substr(
        at + 2, next == std::string_view::npos ? std::string_view::npos : next - at - 2);
    at = next;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name = to_lower(trim(line.substr(0, colon)));
    std::string_view value = trim(line.substr(colon + 1));
    if (name == "content-length") {
      auto n = parse_int(value);
      if (!n || *n < 0 || (has_length && static_cast<size_t>(*n) != length)) {
        return error(400, "Content-Length is not one non-negative number");
      }
      has_length = true;
      length = static_cast<size_t>(*n);
    } else if (name == "transfer-encoding") {
      if (to_lower(value).find("chunked") == std::string::npos) {
        return error(400,
                     fmt::format("Transfer-Encoding {} is not supported", value.substr(0, 40)));
      }
      chunked = true;
    } else if (name == "expect" && to_lower(value) == "100-continue") {
      f.expects_continue = true;
    }
  }
  if (chunked && has_length)
    return error(400, "both Content-Length and Transfer-Encoding: chunked");
  if (has_length && length > max_body) {
    return error(413,
                 fmt::format("the request body ({} bytes) is larger than the server's limit of "
                             "{} bytes",
                             length, max_body));
  }
  if (chunked) {
    size_t end = chunked_end(data, f.head_bytes, max_body);
    if (end == kMalformed) return error(400, "a malformed chunk in the request body");
    if (end == kTooLarge) {
      return error(
          413,
          fmt::format("the request body is larger than the server's limit of {} bytes", max_body));
    }
    if (end == std::string_view::npos) return f;
    f.total_bytes = end;
  } else {
    if (data.size() < f.head_bytes + length) return f;
    f.total_bytes = f.head_bytes + length;
  }
  f.state = RequestFraming::State::kComplete;
  f.expects_continue = false;
  return f;
}

}  // namespace chimera::server
