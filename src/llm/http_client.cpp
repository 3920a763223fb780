#include "llm/http_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "llm/ndjson.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strings.h"

namespace chimera::llm {
namespace {

// How often a running transfer checks the caller's `cancelled` and the read timeout. Socket
// activity wakes the loop at once, so this adds nothing to latency.
constexpr int kPollIntervalMs = 25;

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
  int64_t last_activity_ns = 0;
  bool stopped_by_callback = false;

  static size_t on_header(char* data, size_t size, size_t count, void* self_ptr) {
    auto* self = static_cast<Impl*>(self_ptr);
    int64_t now = monotonic_ns();
    if (self->response->t_first_byte_ns == 0) self->response->t_first_byte_ns = now;
    self->last_activity_ns = now;
    std::string_view line(data, size * count);
    if (starts_with(to_lower(line.substr(0, 13)), "content-type:")) {
      self->response->content_type = std::string(trim(line.substr(13)));
    }
    return size * count;
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
    bool success = response.http_status >= 200 && response.http_status < 300;
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
  for (attempt = 1; attempt <= max_attempts; ++attempt) {
    response = HttpResponse();
    aborted = Status::ok();
    result = CURLE_OK;
    impl.response = &response;
    impl.on_body = on_body;
    impl.stopped_by_callback = false;
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
                         "{}: no data for {:.1f} s (read timeout {} ms); the server is stalled "
                         "or overloaded, or raise the read timeout",
                         url, ns_to_s(silent_ns), options.read_timeout_ms);
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
    response.timings.attempts = attempt;

    if (!aborted.is_ok()) {
      response.status = aborted;
      break;
    }
    if (result == CURLE_OK) break;
    bool nothing_received = response.t_first_byte_ns == 0;
    if (retryable(result) && nothing_received && attempt < max_attempts) {
      log::debug("{}: {} (attempt {} of {}), retrying in {} ms", url, impl.error_buffer, attempt,
                 max_attempts, backoff_ms);
      // Pause in short slices so a cancel is seen promptly.
      int64_t resume_at = monotonic_ns() + backoff_ms * 1'000'000;
      while (monotonic_ns() < resume_at && !(options.cancelled && options.cancelled())) {
        std::this_thread::sleep_for(std::chrono::milliseconds(kPollIntervalMs));
      }
      backoff_ms *= 2;
      continue;
    }
    break;
  }
  curl_slist_free_all(headers);
  impl.response = nullptr;
  impl.on_body = nullptr;
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
      [[fallthrough]];
    default:
      response.status =
          make_error(ErrorCode::kUnavailable, "{}: the connection failed {} ({})", url,
                     response.t_first_byte_ns == 0 ? "before any response"
                                                   : "before the response was complete",
                     detail);
      break;
  }
  return response;
}

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

std::string error_message_from_body(std::string_view body) {
  if (trim(body).empty()) return "";
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    auto error = parsed.find("error");
    if (error != parsed.end()) {
      if (error->is_string()) return error->get<std::string>();
      if (error->is_object()) {
        auto message = error->find("message");
        if (message != error->end() && message->is_string()) return message->get<std::string>();
        return error->dump();
      }
    }
    auto message = parsed.find("message");
    if (message != parsed.end() && message->is_string()) return message->get<std::string>();
    auto detail = parsed.find("detail");
    if (detail != parsed.end()) {
      if (detail->is_string()) return detail->get<std::string>();
      if (detail->is_array() && !detail->empty() && (*detail)[0].is_object() &&
          (*detail)[0].contains("msg") && (*detail)[0]["msg"].is_string()) {
        return (*detail)[0]["msg"].get<std::string>();
      }
      return detail->dump();
    }
  }
  return excerpt(trim(body), 200);
}

Status http_error_status(const HttpResponse& response, std::string_view url) {
  std::string message = error_message_from_body(response.body);
  if (message.empty()) message = "(no error message in the body)";
  ErrorCode code = response.http_status == 404   ? ErrorCode::kNotFound
                   : response.http_status == 503 ? ErrorCode::kUnavailable
                                                 : ErrorCode::kRemoteError;
  return make_error(code, "HTTP {} from {}: {}", response.http_status, url, message);
}

}  // namespace chimera::llm
