// Where one HTTP/1.1 request ends in the bytes received so far: the connection front (http_front.h)
// reads whole requests before any worker sees them, so it must know when a request is complete
// without parsing it the way the handlers do. Head: up to the blank line (CRLF, as cpp-httplib
// requires). Body: Content-Length bytes, or chunked to its last chunk and trailers. Limits make a
// request that can never be served an error at once instead of memory spent waiting for it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace chimera::server {

struct RequestFraming {
  enum class State { kIncomplete, kComplete, kError };
  State state = State::kIncomplete;
  size_t head_bytes = 0;          // through the blank line, once the head is complete
  size_t total_bytes = 0;         // head and body, when complete
  bool expects_continue = false;  // "Expect: 100-continue" and the body has not all come
  int error_status = 0;           // 400, 413, 431 (kError)
  std::string error;              // why, for the error body
};

RequestFraming frame_request(std::string_view received, size_t max_head_bytes,
                             size_t max_body_bytes);

}  // namespace chimera::server
