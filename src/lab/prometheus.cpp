#include "lab/prometheus.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <condition_variable>

#include "llm/http_client.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera::lab {
namespace {

std::optional<double> parse_value(std::string_view text) {
  if (text == "NaN") return NAN;
  if (text == "+Inf" || text == "Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  return parse_double(text);
}

bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

// Parses `{a="x",b="y"}` starting at text[i] == '{'; leaves i after '}'.
Status parse_labels(std::string_view text, size_t& i, std::map<std::string, std::string>& labels) {
  ++i;
  for (;;) {
    while (i < text.size() && (text[i] == ' ' || text[i] == ',')) ++i;
    if (i < text.size() && text[i] == '}') {
      ++i;
      return Status::ok();
    }
    size_t start = i;
    while (i < text.size() && name_char(text[i], i == start)) ++i;
    std::string key(text.substr(start, i - start));
    if (key.empty() || i + 1 >= text.size() || text[i] != '=' || text[i + 1] != '"') {
      return Status(ErrorCode::kParseError, "a label is not name=\"value\"");
    }
    i += 2;
    std::string value;
    for (;; ++i) {
      if (i >= text.size()) return Status(ErrorCode::kParseError, "a label value is not closed");
      char c = text[i];
      if (c == '"') break;
      if (c == '\\' && i + 1 < text.size()) {
        char e = text[++i];
        value += e == 'n' ? '\n' : e;
        continue;
      }
      value += c;
    }
    ++i;
    labels[key] = value;
  }
}

// The sum over label sets of the first metric name present; nullopt when none is.
std::optional<double> total(const std::vector<PromSample>& samples,
                            std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    std::optional<double> sum;
    for (const auto& s : samples) {
      if (s.name == name && std::isfinite(s.value)) sum = sum.value_or(0) + s.value;
    }
    if (sum) return sum;
  }
  return std::nullopt;
}

// The mean over label sets (a ratio is not additive across models).
std::optional<double> average(const std::vector<PromSample>& samples,
                              std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    double sum = 0;
    int n = 0;
    for (const auto& s : samples) {
      if (s.name == name && std::isfinite(s.value)) {
        sum += s.value;
        ++n;
      }
    }
    if (n > 0) return sum / n;
  }
  return std::nullopt;
}

}  // namespace

Result<std::vector<PromSample>> parse_prometheus_text(std::string_view text) {
  std::vector<PromSample> out;
  size_t line_number = 0;
  for (const std::string& raw : split(text, '\n')) {
    ++line_number;
    std::string_view line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    PromSample s;
    size_t i = 0;
    while (i < line.size() && name_char(line[i], i == 0)) ++i;
    s.name = std::string(line.substr(0, i));
    if (s.name.empty()) {
      return make_error(ErrorCode::kParseError, "/metrics line {}: no metric name in '{}'",
                        line_number, line);
    }
    if (i < line.size() && line[i] == '{') {
      Status st = parse_labels(line, i, s.labels);
      if (!st.is_ok()) {
        return make_error(ErrorCode::kParseError, "/metrics line {}: {} in '{}'", line_number,
                          st.message(), line);
      }
    }
    std::string_view rest = trim(line.substr(i));
    std::string_view value_text = rest.substr(0, rest.find(' '));  // a timestamp may follow
    auto value = parse_value(value_text);
    if (!value) {
      return make_error(ErrorCode::kParseError, "/metrics line {}: value '{}' is not a number",
                        line_number, value_text);
    }
    s.value = *value;
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<ServerLoad> server_load(const std::vector<PromSample>& samples) {
  struct Dialect {
    const char* name;
    std::initializer_list<std::string_view> running, waiting, kv;
  };
  const Dialect dialects[] = {
      {"chimera",
       {"chimera_active_sequences"},
       {"chimera_queue_depth"},
       {"chimera_kv_cache_usage_ratio"}},
      {"vllm",
       {"vllm:num_requests_running"},
       {"vllm:num_requests_waiting"},
       {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}},
      {"llama.cpp",
       {"llamacpp:requests_processing"},
       {"llamacpp:requests_deferred"},
       {"llamacpp:kv_cache_usage_ratio"}},
  };
  for (const Dialect& d : dialects) {
    ServerLoad load;
    load.dialect = d.name;
    load.running = total(samples, d.running);
    load.waiting = total(samples, d.waiting);
    load.kv_usage_ratio = average(samples, d.kv);
    if (load.running || load.waiting || load.kv_usage_ratio) return load;
  }
  return std::nullopt;
}

MetricsScraper::MetricsScraper(std::string base_url, int period_ms)
    : base_url_(std::move(base_url)), period_ms_(std::max(10, period_ms)) {
  result_.endpoint = base_url_;
  result_.status = "not scraped";
}

MetricsScraper::~MetricsScraper() { stop(); }

void MetricsScraper::start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void MetricsScraper::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

EndpointScrapes MetricsScraper::result() const {
  std::lock_guard lock(mutex_);
  return result_;
}

bool MetricsScraper::scrape_once() {
  {
    std::lock_guard lock(mutex_);
    if (given_up_) return false;
  }
  // One client per scrape: the scraper must not hold a connection a one-slot server could need.
  llm::HttpClient client(base_url_, "");
  llm::HttpCallOptions options;
  options.connect_timeout_ms = 1000;
  options.read_timeout_ms = 2000;
  options.max_attempts = 1;
  options.accept = "text/plain";
  llm::HttpResponse response = client.get("/metrics", options);
  int64_t now = monotonic_ns();
  std::lock_guard lock(mutex_);
  auto give_up = [&](std::string why) {
    given_up_ = true;
    result_.status = result_.samples.empty()
                         ? why
                         : fmt::format("scraped {} times, then: {}", result_.samples.size(), why);
    return false;
  };
  if (!response.status.is_ok()) {
    // A server that stops answering (killed, or restarting): keep trying a few times, then stop.
    if (++consecutive_failures_ >= 3) return give_up("GET /metrics: " + response.status.message());
    return true;
  }
  consecutive_failures_ = 0;
  if (!response.ok()) {
    return give_up(
        fmt::format("GET /metrics: HTTP {}: the endpoint does not export Prometheus "
                    "metrics",
                    response.http_status));
  }
  auto samples = parse_prometheus_text(response.body);
  if (!samples.ok()) return give_up(samples.status().message());
  auto load = server_load(*samples);
  if (!load) {
    return give_up(
        "GET /metrics: none of the known running/waiting/KV metrics (chimera_*, "
        "vllm:*, llamacpp:*)");
  }
  result_.samples.push_back({now, *load});
  result_.status =
      fmt::format("{} metrics, scraped {} times", load->dialect, result_.samples.size());
  return true;
}

void MetricsScraper::run(std::stop_token stop) {
  std::mutex wait_mutex;
  std::condition_variable_any cv;
  while (!stop.stop_requested()) {
    if (!scrape_once()) return;
    std::unique_lock lock(wait_mutex);
    cv.wait_for(lock, stop, std::chrono::milliseconds(period_ms_), [] { return false; });
  }
}

}  // namespace chimera::lab
