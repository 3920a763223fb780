#include "llm/http_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "llm/ndjson.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

// How often a running transfer checks the caller's `cancelled` and the read timeout. Socket
// activity wakes the loop at once, so this adds nothing to latency.
constexpr int kPollIntervalMs = 25;
// The shortest pause before asking a server that said "not now" again.
constexpr int64_t kMinRetryPauseMs = 50;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One DNS cache shared by all clients (share handles need locks when used from several threads).
struct DnsShare {
  CURLSH* share = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;

  DnsShare() {
    share = curl_share_init();
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &DnsShare::lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &DnsShare::unlock);
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
  }
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<DnsShare*>(self)->locks[static_cast<size_t>(data)].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<DnsShare*>(self)->locks[static_cast<size_t>(data)].unlock();
  }
};

CURLSH* dns_share() {
  static DnsShare* share = new DnsShare();  // lives for the process: clients may outlive statics
  return share->share;
}

// A local server must never be reached through a proxy set for the internet.
std::string no_proxy_list() {
  const char* env = std::getenv("no_proxy");
  if (env == nullptr) env = std::getenv("NO_PROXY");
  std::string list = env != nullptr ? env : "";
  if (list == "*") return list;
  if (!list.empty()) list += ",";
  return list + "localhost,127.0.0.1,::1";
}

bool retryable(CURLcode code) {
  return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST ||
         code == CURLE_COULDNT_RESOLVE_PROXY;
}

std::optional<int64_t> info_time_ns(CURL* easy, CURLINFO what) {
  curl_off_t us = 0;
  if (curl_easy_getinfo(easy, what, &us) != CURLE_OK || us <= 0) return std::nullopt;
  return static_cast<int64_t>(us) * 1000;
}

}  // namespace

struct HttpClient::Impl {
  CURLM* multi = nullptr;
  CURL* easy = nullptr;
  char error_buffer[CURL_ERROR_SIZE] = {};

  // Per-call state, touched by the callbacks.
  HttpResponse* response = nullptr;
  const OnBodyBytes* on_body = nullptr;
  const HttpCallOptions* options = nullptr;
  int64_t last_activity_ns = 0;
  bool stopped_by_callback = false;
  bool encoded_body = false;    // an encoding we did not ask for: the bytes are not the format
  bool body_too_large = false;  // a collected body passed options->max_body_bytes

  static size_t on_header(char* data, size_t size, size_t count, void* self_ptr) {
    auto* self = static_cast<Impl*>(self_ptr);
    int64_t now = monotonic_ns();
    HttpResponse& response = *self->response;
    if (response.t_first_byte_ns == 0) response.t_first_byte_ns = now;
    self->last_activity_ns = now;
    std::string_view line(data, size * count);
    if (starts_with(line, "HTTP/")) {  // a new status line (after a 1xx): its own headers follow
      response.content_type.clear();
      response.content_encoding.clear();
      response.location.clear();
      response.retry_after.clear();
      return line.size();
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return line.size();
    std::string name = to_lower(trim(line.substr(0, colon)));
    std::string value(trim(line.substr(colon + 1)));
    if (name == "content-type") response.content_type = value;
    if (name == "content-encoding" && to_lower(value) != "identity") {
      response.content_encoding = value;
    }
    if (name == "location") response.location = value;
    if (name == "retry-after") response.retry_after = value;
    return line.size();
  }

  static size_t on_write(char* data, size_t size, size_t count, void* self_ptr) {
    auto* self = static_cast<Impl*>(self_ptr);
    int64_t now = monotonic_ns();
    self->last_activity_ns = now;
    HttpResponse& response = *self->response;
    if (response.t_first_byte_ns == 0) response.t_first_byte_ns = now;
    if (response.http_status == 0)
      curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &response.http_status);
    response.any_body_byte = true;
    std::string_view bytes(data, size * count);
    response.body_bytes += static_cast<int64_t>(bytes.size());
    bool success = response.http_status >= 200 && response.http_status < 300;
    if (success && !response.content_encoding.empty()) {
      self->encoded_body = true;  // we send no Accept-Encoding: these bytes are not our format
      return 0;
    }
    if (self->on_body == nullptr || !success) {
      if (response.body.size() + bytes.size() > self->options->max_body_bytes) {
        self->body_too_large = true;
        return 0;
      }
    }
    if (self->on_body != nullptr && success) {
      if (!(*self->on_body)(bytes, now)) {
        self->stopped_by_callback = true;
        return 0;  // makes libcurl abort the transfer with CURLE_WRITE_ERROR
      }
    } else {
      response.body.append(bytes);
    }
    return bytes.size();
  }
};

HttpClient::HttpClient(std::string base_url, std::string unreachable_hint,
                       std::vector<std::string> extra_headers)
    : base_url_(std::move(base_url)),
      unreachable_hint_(std::move(unreachable_hint)),
      extra_headers_(std::move(extra_headers)),
      impl_(std::make_unique<Impl>()) {
  global_init();
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  impl_->multi = curl_multi_init();
  impl_->easy = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (impl_->easy != nullptr) curl_easy_cleanup(impl_->easy);
  if (impl_->multi != nullptr) curl_multi_cleanup(impl_->multi);
}

HttpResponse HttpClient::get(std::string_view path, const HttpCallOptions& options) {
  return perform("GET", path, {}, nullptr, options);
}

HttpResponse HttpClient::post_json(std::string_view path, std::string_view json_body,
                                   const HttpCallOptions& options) {
  return perform("POST", path, json_body, nullptr, options);
}

HttpResponse HttpClient::post_stream(std::string_view path, std::string_view json_body,
                                     const OnBodyBytes& on_body, const HttpCallOptions& options) {
  return perform("POST", path, json_body, &on_body, options);
}

namespace {

// Pauses in short slices so a cancel is seen promptly. False when cancelled.
bool pause_ms(int64_t ms, const HttpCallOptions& options) {
  int64_t resume_at = monotonic_ns() + ms * 1'000'000;
  while (monotonic_ns() < resume_at) {
    if (options.cancelled && options.cancelled()) return false;
    int64_t left_ms = (resume_at - monotonic_ns()) / 1'000'000;
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::clamp<int64_t>(left_ms, 1, kPollIntervalMs)));
  }
  return true;
}

}  // namespace

HttpResponse HttpClient::perform(std::string_view method, std::string_view path,
                                 std::string_view body, const OnBodyBytes* on_body,
                                 const HttpCallOptions& options) {
  Impl& impl = *impl_;
  const std::string url = base_url_ + std::string(path);
  const std::string no_proxy = no_proxy_list();
  HttpResponse response;
  if (impl.easy == nullptr || impl.multi == nullptr) {
    response.status = Status(ErrorCode::kInternal, "libcurl could not create a handle");
    return response;
  }

  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Accept: " + options.accept).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip before the body
  if (method == "POST") headers = curl_slist_append(headers, "Content-Type: application/json");
  for (const std::string& header : extra_headers_)
    headers = curl_slist_append(headers, header.c_str());

  const int max_attempts = std::max(1, options.max_attempts);
  int64_t backoff_ms = std::max<int64_t>(1, options.retry_backoff_ms);
  CURLcode result = CURLE_OK;
  Status aborted;  // set when we stop the transfer ourselves (timeout, cancel)
  int attempt = 0;
  // "Not now" answers waited for: they are not connection attempts and have their own budget.
  int retries = 0;
  int64_t retry_wait_ns = 0, first_not_now_ns = 0;
  std::vector<std::string> retry_reasons;
  for (attempt = 1; attempt <= max_attempts; ++attempt) {
    response = HttpResponse();
    aborted = Status::ok();
    result = CURLE_OK;
    impl.response = &response;
    impl.on_body = on_body;
    impl.options = &options;
    impl.stopped_by_callback = false;
    impl.encoded_body = false;
    impl.body_too_large = false;
    impl.error_buffer[0] = '\0';

    CURL* easy = impl.easy;
    curl_easy_reset(easy);  // keeps the live connections of the multi handle
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_SHARE, dns_share());
    curl_easy_setopt(easy, CURLOPT_NOPROXY, no_proxy.c_str());
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options.connect_timeout_ms));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, impl.error_buffer);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &impl);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Impl::on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &impl);
    if (method == "POST") {
      curl_easy_setopt(easy, CURLOPT_POST, 1L);
      // Never a null pointer: libcurl would then read the body from stdin.
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }

    response.t_start_ns = monotonic_ns();
    impl.last_activity_ns = response.t_start_ns;
    int64_t connected_at_ns = 0;
    curl_multi_add_handle(impl.multi, easy);
    bool finished = false;
    while (!finished) {
      int running = 0;
      CURLMcode code = curl_multi_perform(impl.multi, &running);
      if (code != CURLM_OK) {
        aborted =
            make_error(ErrorCode::kInternal, "libcurl multi error: {}", curl_multi_strerror(code));
        break;
      }
      int left = 0;
      while (CURLMsg* message = curl_multi_info_read(impl.multi, &left)) {
        if (message->msg == CURLMSG_DONE && message->easy_handle == easy) {
          result = message->data.result;
          finished = true;
        }
      }
      if (finished) break;
      int64_t now = monotonic_ns();
      if (options.cancelled && options.cancelled()) {
        aborted = make_error(ErrorCode::kCancelled, "{}: cancelled by the caller", url);
        break;
      }
      if (connected_at_ns == 0) {
        // The read timeout counts from when the request could go out: a reused connection has no
        // connect time, but every transfer has a pre-transfer time. Past the connect timeout,
        // libcurl would have failed had it not connected.
        curl_off_t ready_us = 0;
        curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &ready_us);
        if (ready_us > 0 || now - response.t_start_ns > options.connect_timeout_ms * 1'000'000) {
          connected_at_ns = now;
        }
      }
      if (connected_at_ns != 0) {
        int64_t silent_ns = now - std::max(impl.last_activity_ns, connected_at_ns);
        if (silent_ns > options.read_timeout_ms * 1'000'000) {
          aborted =
              make_error(ErrorCode::kTimeout,
                         "{}: no data for {:.1f} s after {} body bytes (read timeout {} ms); "
                         "the server is stalled or overloaded, or raise the read timeout",
                         url, ns_to_s(silent_ns), response.body_bytes, options.read_timeout_ms);
          break;
        }
      }
      curl_multi_poll(impl.multi, nullptr, 0, kPollIntervalMs, nullptr);
    }
    response.t_done_ns = monotonic_ns();
    response.timings.dns_ns = info_time_ns(easy, CURLINFO_NAMELOOKUP_TIME_T);
    response.timings.connect_ns = info_time_ns(easy, CURLINFO_CONNECT_TIME_T);
    response.timings.first_byte_ns = info_time_ns(easy, CURLINFO_STARTTRANSFER_TIME_T);
    long new_connections = 0;
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &new_connections);
    response.timings.connection_reused = new_connections == 0 && finished && result == CURLE_OK;
    if (response.http_status == 0)
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.http_status);
    curl_multi_remove_handle(impl.multi, easy);

    if (!aborted.is_ok()) {
      response.status = aborted;
      break;
    }
    if (result == CURLE_OK) {
      // A complete "not now" answer: no generation ran, so asking again is safe.
      std::optional<int64_t> wait_ms = retry_wait_ms(response, retries);
      if (!wait_ms) break;
      // The budget counts the whole time since the first "not now", requests included, and every
      // pause is at least kMinRetryPauseMs: "Retry-After: 0" forever cannot spin or hang.
      if (first_not_now_ns == 0) first_not_now_ns = response.t_start_ns;
      *wait_ms = std::max(*wait_ms, kMinRetryPauseMs);
      const int64_t spent_ms = (monotonic_ns() - first_not_now_ns) / 1'000'000;
      if (options.retry_budget_ms <= 0 || spent_ms + *wait_ms > options.retry_budget_ms) {
        break;  // the answer stands; its message says why
      }
      std::string why = fmt::format(
          "HTTP {}{} on {}, waited {:.2f} s{}", response.http_status,
          response.http_status == 503 && response.retry_after.empty() ? " (loading the model)" : "",
          path, static_cast<double>(*wait_ms) / 1e3,
          response.retry_after.empty() ? "" : " (Retry-After)");
      log::debug("{}: {}, retrying", url, why);
      const int64_t paused_at = monotonic_ns();
      const bool resumed = pause_ms(*wait_ms, options);
      retry_wait_ns += monotonic_ns() - paused_at;
      if (!resumed) {
        response.status = make_error(ErrorCode::kCancelled, "{}: cancelled by the caller", url);
        break;
      }
      ++retries;
      retry_reasons.push_back(std::move(why));
      --attempt;  // not a connection attempt
      continue;
    }
    bool nothing_received = response.t_first_byte_ns == 0;
    if (retryable(result) && nothing_received && attempt < max_attempts) {
      log::debug("{}: {} (attempt {} of {}), retrying in {} ms", url, impl.error_buffer, attempt,
                 max_attempts, backoff_ms);
      if (!pause_ms(backoff_ms, options)) break;
      backoff_ms *= 2;
      continue;
    }
    break;
  }
  response.timings.attempts = std::min(attempt, max_attempts);
  response.timings.retries = retries;
  response.timings.retry_wait_ns = retry_wait_ns;
  response.timings.retry_reasons = retry_reasons;
  retry_log_.retries += retries;
  retry_log_.wait_ns += retry_wait_ns;
  for (std::string& why : retry_reasons) retry_log_.reasons.push_back(std::move(why));
  curl_slist_free_all(headers);
  impl.response = nullptr;
  impl.on_body = nullptr;
  impl.options = nullptr;
  if (!response.status.is_ok() || result == CURLE_OK) return response;

  std::string detail =
      impl.error_buffer[0] != '\0' ? impl.error_buffer : curl_easy_strerror(result);
  const int attempts = response.timings.attempts;
  std::string tries = attempts > 1 ? fmt::format(", {} attempts", attempts) : "";
  switch (result) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      response.status = make_error(ErrorCode::kUnavailable, "cannot connect to {} ({}{}); {}", url,
                                   detail, tries, unreachable_hint_);
      break;
    case CURLE_OPERATION_TIMEDOUT:
      response.status = response.t_first_byte_ns == 0 && !response.timings.connect_ns
                            ? make_error(ErrorCode::kUnavailable,
                                         "cannot connect to {} (no answer within {} ms); {}", url,
                                         options.connect_timeout_ms, unreachable_hint_)
                            : make_error(ErrorCode::kTimeout, "{}: timed out ({})", url, detail);
      break;
    case CURLE_WRITE_ERROR:
      if (impl.stopped_by_callback) {
        response.status = make_error(ErrorCode::kCancelled, "{}: cancelled by the caller", url);
        break;
      }
      if (impl.encoded_body) {
        response.status = make_error(
            ErrorCode::kParseError,
            "{}: the server sent its body encoded (Content-Encoding: {}) although none was asked "
            "for; the bytes are not the expected format (a proxy compressing responses?)",
            url, response.content_encoding);
        break;
      }
      if (impl.body_too_large) {
        response.status = make_error(ErrorCode::kOutOfRange,
                                     "{}: the response body is larger than {} bytes (HTTP {}); "
                                     "it was not read further",
                                     url, options.max_body_bytes, response.http_status);
        break;
      }
      [[fallthrough]];
    default:
      response.status =
          make_error(ErrorCode::kUnavailable, "{}: the connection failed {} ({})", url,
                     response.t_first_byte_ns == 0
                         ? std::string("before any response")
                         : fmt::format("after {} body bytes, before the response was complete",
                                       response.body_bytes),
                     detail);
      break;
  }
  return response;
}

RetryLog HttpClient::take_retries() { return std::exchange(retry_log_, RetryLog{}); }

HttpClientPool::HttpClientPool(std::string base_url, std::string unreachable_hint,
                               std::vector<std::string> extra_headers)
    : base_url_(std::move(base_url)),
      unreachable_hint_(std::move(unreachable_hint)),
      extra_headers_(std::move(extra_headers)) {}

HttpClientPool::~HttpClientPool() = default;

HttpClientPool::Lease::~Lease() {
  if (client_ == nullptr || pool_ == nullptr) return;
  std::lock_guard<std::mutex> lock(pool_->mutex_);
  pool_->idle_.push_back(std::move(client_));
}

HttpClientPool::Lease HttpClientPool::acquire() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<HttpClient> client = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(client));
    }
  }
  return Lease(this, std::make_unique<HttpClient>(base_url_, unreachable_hint_, extra_headers_));
}

}  // namespace chimera::llm
