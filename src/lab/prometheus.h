// Prometheus /metrics of model servers, scraped while a run goes on, so the report can draw what
// the server saw (requests running and waiting, KV-cache use) on the same clock as the calls.
//
// Dialects recognised by their metric names (the rest of the text is kept out):
//   chimera serve    chimera_active_sequences, chimera_queue_depth, chimera_kv_cache_usage_ratio
//   vLLM             vllm:num_requests_running, vllm:num_requests_waiting,
//                    vllm:kv_cache_usage_perc (V1) or vllm:gpu_cache_usage_perc (V0), both 0-1
//   llama.cpp server llamacpp:requests_processing, llamacpp:requests_deferred,
//   (--metrics)      llamacpp:kv_cache_usage_ratio (older builds)
// Samples with labels (vLLM's model_name) are summed over their label sets.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "util/status.h"

namespace chimera::lab {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Text exposition format 0.0.4: comments and blank lines skipped, label values unescaped, "NaN",
// "+Inf" and "-Inf" understood. A malformed line is an error naming its number.
Result<std::vector<PromSample>> parse_prometheus_text(std::string_view text);

// The server load figures of one scrape; unset when the server does not export them.
struct ServerLoad {
  std::string dialect;  // "chimera", "vllm", "llama.cpp"
  std::optional<double> running, waiting;
  std::optional<double> kv_usage_ratio;  // 0-1
};
// nullopt when none of the known metrics is present.
std::optional<ServerLoad> server_load(const std::vector<PromSample>& samples);

struct LoadSample {
  int64_t t_ns = 0;  // monotonic, comparable with CallRecord clocks
  ServerLoad load;
};

// One endpoint's scrapes over a run.
struct EndpointScrapes {
  std::string endpoint;  // "http://127.0.0.1:11434"
  std::string status;    // "scraped N times", or why not ("GET /metrics: HTTP 404: ...")
  std::vector<LoadSample> samples;
};

// Scrapes base_url + "/metrics" every period_ms on its own thread. The first failure that is not a
// transient one (404, no known metrics) ends the scraping of that endpoint with its status set; a
// server that went away later keeps its samples so far.
class MetricsScraper {
 public:
  MetricsScraper(std::string base_url, int period_ms = 250);
  ~MetricsScraper();
  MetricsScraper(const MetricsScraper&) = delete;
  MetricsScraper& operator=(const MetricsScraper&) = delete;

  void start();
  void stop();  // joins; idempotent
  EndpointScrapes result() const;
  // One scrape now (also used by the thread); false once the endpoint is known not to export.
  bool scrape_once();

 private:
  void run(std::stop_token stop);

  std::string base_url_;
  int period_ms_;
  mutable std::mutex mutex_;
  EndpointScrapes result_;
  int consecutive_failures_ = 0;
  bool given_up_ = false;
  std::jthread thread_;
};

}  // namespace chimera::lab
