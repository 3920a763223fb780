// Server metrics in Prometheus text format (exposition format 0.0.4): HTTP requests by endpoint and
// status, tokens in and out, server-side TTFT and inter-token latency histograms, and the scheduler's
// gauges (queue depth, active sequences, KV cache use) read live when /metrics is scraped.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace chimera::server {

// Cumulative histogram with fixed upper bounds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Appends the _bucket/_sum/_count lines for metric `name`.
  void render(const std::string& name, std::string& out) const;
  uint64_t count() const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> bounds_;
  std::vector<uint64_t> buckets_;  // per bound, not cumulative; values above all bounds only count
  uint64_t count_ = 0;
  double sum_ = 0.0;
};

// Live values read at scrape time from every loaded model's scheduler.
struct SchedulerGauges {
  int64_t queued = 0;
  int64_t active = 0;
  int64_t kv_used_cells = 0;
  int64_t kv_capacity_cells = 0;
  int64_t kv_bytes = 0;
  int64_t models_loaded = 0;
  // The prompt caches of the loaded models (scheduler.h): bytes held, their budgets, blocks.
  int64_t prompt_cache_bytes = 0;
  int64_t prompt_cache_max_bytes = 0;
  int64_t prompt_cache_blocks = 0;
};

class Metrics {
 public:
  Metrics();

  void count_request(const std::string& endpoint, int status);
  void count_tokens(const std::string& model, int64_t prompt_tokens, int64_t generated_tokens);
  // A finished sequence's prompt positions restored from the prompt cache and computed.
  void count_prompt_cache(const std::string& model, int64_t cached_tokens, int64_t computed_tokens);
  void count_prompt_cache_evictions(int64_t blocks);
  // outcome: "stop", "length", "cancelled", "error"
  void count_sequence(const std::string& outcome);
  void observe_ttft_ns(int64_t ns) { ttft_.observe(static_cast<double>(ns) / 1e9); }
  void observe_itl_ns(int64_t ns) { itl_.observe(static_cast<double>(ns) / 1e9); }
  // Time a request waited in the queue for a batch slot (context rebuilds excluded).
  void observe_queue_wait_ns(int64_t ns) { queue_wait_.observe(static_cast<double>(ns) / 1e9); }
  void count_step(int64_t batch_tokens);
  void count_rejected(const std::string& reason);  // "queue_full", "draining"
  // reason: "file" (weights loaded), "context" (rebuilt for another num_ctx or num_thread): each is a
  // reload in Ollama's sense, whose time a request pays as load_duration.
  void count_model_load(const std::string& model, const std::string& reason);
  uint64_t model_loads(const std::string& model, const std::string& reason) const;
  // The connection front (http_front.h): connections refused with 503 ("per_client", "total",
  // "memory"), requests closed with 408 for not arriving whole in time, connections open now.
  void count_connection_refused(const std::string& reason);
  void count_request_timeout() { request_timeouts_.fetch_add(1, std::memory_order_relaxed); }
  void set_open_connections(int64_t n) { open_connections_.store(n, std::memory_order_relaxed); }
  uint64_t connections_refused(const std::string& reason) const;
  uint64_t request_timeouts() const { return request_timeouts_.load(); }

  // Gauges come from this callback at render time.
  void set_gauge_source(std::function<SchedulerGauges()> source);

  std::string render() const;

  // For tests and the drain log.
  uint64_t requests(const std::string& endpoint, int status) const;
  uint64_t sequences(const std::string& outcome) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, std::pair<int64_t, int64_t>> tokens_;  // model -> (prompt, generated)
  std::map<std::string, std::pair<int64_t, int64_t>> prompt_cache_tokens_;  // model -> (cached, computed)
  std::atomic<int64_t> prompt_cache_evictions_{0};
  std::map<std::string, uint64_t> sequences_;
  std::map<std::string, uint64_t> rejected_;
  std::map<std::pair<std::string, std::string>, uint64_t> model_loads_;  // (model, reason)
  std::map<std::string, uint64_t> connections_refused_;
  std::atomic<uint64_t> request_timeouts_{0};
  std::atomic<int64_t> open_connections_{0};
  std::function<SchedulerGauges()> gauge_source_;
  std::atomic<uint64_t> steps_{0};
  std::atomic<uint64_t> step_tokens_{0};
  Histogram ttft_;
  Histogram itl_;
  Histogram queue_wait_;
  Histogram batch_size_;
};

// Prometheus label value escaping: backslash, double quote and newline.
std::string prometheus_escape(const std::string& value);

}  // namespace chimera::server
