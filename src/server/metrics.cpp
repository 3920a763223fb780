#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace chimera::server {
namespace {

// Latency buckets (seconds) cover a tiny test model (sub-ms tokens) up to a large model on a CPU.
const std::vector<double> kTtftBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
const std::vector<double> kItlBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
// Queue waits: none at all (a free slot) up to minutes behind long generations.
const std::vector<double> kQueueWaitBounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,     2.5,  5,     10,   30,  60};
const std::vector<double> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048};

// Prometheus wants plain decimal numbers; "+Inf" only for the last bucket.
std::string number(double value) { return fmt::format("{}", value); }

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string prometheus_escape(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(bounds_.size(), 0) {}

void Histogram::observe(double value) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);  // first bound >= value ("le")
  if (it != bounds_.end()) ++buckets_[static_cast<size_t>(it - bounds_.begin())];
  ++count_;
  sum_ += value;
}

uint64_t Histogram::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return count_;
}

void Histogram::render(const std::string& name, std::string& out) const {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, number(bounds_[i]), cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, count_);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, number(sum_), name, count_);
}

Metrics::Metrics()
    : ttft_(kTtftBounds),
      itl_(kItlBounds),
      queue_wait_(kQueueWaitBounds),
      batch_size_(kBatchBounds) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{endpoint, status}];
}

void Metrics::count_tokens(const std::string& model, int64_t prompt_tokens, int64_t generated_tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& [prompt, generated] = tokens_[model];
  prompt += prompt_tokens;
  generated += generated_tokens;
}

void Metrics::count_prompt_cache(const std::string& model, int64_t cached_tokens, int64_t computed_tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& [cached, computed] = prompt_cache_tokens_[model];
  cached += cached_tokens;
  computed += computed_tokens;
}

void Metrics::count_prompt_cache_evictions(int64_t blocks) {
  if (blocks > 0) prompt_cache_evictions_.fetch_add(blocks, std::memory_order_relaxed);
}

void Metrics::count_sequence(const std::string& outcome) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++sequences_[outcome];
}

void Metrics::count_step(int64_t batch_tokens) {
  steps_.fetch_add(1, std::memory_order_relaxed);
  step_tokens_.fetch_add(static_cast<uint64_t>(batch_tokens), std::memory_order_relaxed);
  batch_size_.observe(static_cast<double>(batch_tokens));
}

void Metrics::count_rejected(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++rejected_[reason];
}

void Metrics::count_model_load(const std::string& model, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++model_loads_[{model, reason}];
}

uint64_t Metrics::model_loads(const std::string& model, const std::string& reason) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = model_loads_.find({model, reason});
  return it == model_loads_.end() ? 0 : it->second;
}

void Metrics::count_connection_refused(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++connections_refused_[reason];
}

uint64_t Metrics::connections_refused(const std::string& reason) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = connections_refused_.find(reason);
  return it == connections_refused_.end() ? 0 : it->second;
}

void Metrics::set_gauge_source(std::function<SchedulerGauges()> source) {
  std::lock_guard<std::mutex> lock(mutex_);
  gauge_source_ = std::move(source);
}

uint64_t Metrics::requests(const std::string& endpoint, int status) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = requests_.find({endpoint, status});
  return it == requests_.end() ? 0 : it->second;
}

uint64_t Metrics::sequences(const std::string& outcome) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sequences_.find(outcome);
  return it == sequences_.end() ? 0 : it->second;
}

std::string Metrics::render() const {
  std::string out;
  std::function<SchedulerGauges()> source;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    source = gauge_source_;
    header(out, "chimera_http_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
    for (const auto& [key, count] : requests_) {
      out += fmt::format("chimera_http_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n",
                         prometheus_escape(key.first), key.second, count);
    }
    header(out, "chimera_rejected_requests_total", "counter",
           "Generation requests refused before admission (queue full, server draining).");
    for (const auto& [reason, count] : rejected_) {
      out += fmt::format("chimera_rejected_requests_total{{reason=\"{}\"}} {}\n", prometheus_escape(reason), count);
    }
    header(out, "chimera_model_loads_total", "counter",
           "Model loads by model and reason: file (weights read) or context (rebuilt for another "
           "num_ctx or num_thread, a reload in Ollama's sense).");
    for (const auto& [key, count] : model_loads_) {
      out += fmt::format("chimera_model_loads_total{{model=\"{}\",reason=\"{}\"}} {}\n",
                         prometheus_escape(key.first), prometheus_escape(key.second), count);
    }
    header(out, "chimera_connections_refused_total", "counter",
           "Connections refused with 503 at the connection caps (per client address, in total) or "
           "the memory cap on unfinished requests.");
    for (const auto& [reason, count] : connections_refused_) {
      out += fmt::format("chimera_connections_refused_total{{reason=\"{}\"}} {}\n",
                         prometheus_escape(reason), count);
    }
    header(out, "chimera_request_timeouts_total", "counter",
           "Requests closed with 408: not received whole within the request timeout.");
    out += fmt::format("chimera_request_timeouts_total {}\n", request_timeouts_.load());
    header(out, "chimera_open_connections", "gauge", "Client connections open now.");
    out += fmt::format("chimera_open_connections {}\n", open_connections_.load());
    header(out, "chimera_prompt_tokens_total", "counter",
           "Prompt tokens of sequences, cached and computed, by model.");
    for (const auto& [model, counts] : tokens_) {
      out += fmt::format("chimera_prompt_tokens_total{{model=\"{}\"}} {}\n", prometheus_escape(model), counts.first);
    }
    header(out, "chimera_prompt_cached_tokens_total", "counter",
           "Prompt tokens restored from the prompt cache instead of computed, by model.");
    for (const auto& [model, counts] : prompt_cache_tokens_) {
      out += fmt::format("chimera_prompt_cached_tokens_total{{model=\"{}\"}} {}\n", prometheus_escape(model),
                         counts.first);
    }
    header(out, "chimera_prompt_computed_tokens_total", "counter",
           "Prompt tokens computed by a forward pass (what Ollama's prompt_eval_count counts), by model.");
    for (const auto& [model, counts] : prompt_cache_tokens_) {
      out += fmt::format("chimera_prompt_computed_tokens_total{{model=\"{}\"}} {}\n", prometheus_escape(model),
                         counts.second);
    }
    header(out, "chimera_generated_tokens_total", "counter", "Tokens generated, by model.");
    for (const auto& [model, counts] : tokens_) {
      out += fmt::format("chimera_generated_tokens_total{{model=\"{}\"}} {}\n", prometheus_escape(model),
                         counts.second);
    }
    header(out, "chimera_sequences_total", "counter",
           "Sequences finished, by outcome (stop, length, cancelled, error).");
    for (const auto& [outcome, count] : sequences_) {
      out += fmt::format("chimera_sequences_total{{outcome=\"{}\"}} {}\n", prometheus_escape(outcome), count);
    }
  }
  header(out, "chimera_time_to_first_token_seconds", "histogram",
         "Server-side time from request received to first token sampled.");
  ttft_.render("chimera_time_to_first_token_seconds", out);
  header(out, "chimera_inter_token_latency_seconds", "histogram",
         "Server-side time between consecutive tokens of one sequence.");
  itl_.render("chimera_inter_token_latency_seconds", out);
  header(out, "chimera_queue_wait_seconds", "histogram",
         "Time a request waited in the queue for a batch slot (context rebuilds excluded).");
  queue_wait_.render("chimera_queue_wait_seconds", out);
  header(out, "chimera_batch_tokens", "histogram", "Tokens per batched forward step (decode + prefill).");
  batch_size_.render("chimera_batch_tokens", out);
  header(out, "chimera_decode_steps_total", "counter", "Batched forward steps run.");
  out += fmt::format("chimera_decode_steps_total {}\n", steps_.load(std::memory_order_relaxed));

  SchedulerGauges g = source ? source() : SchedulerGauges{};
  header(out, "chimera_queue_depth", "gauge", "Requests waiting for a sequence slot.");
  out += fmt::format("chimera_queue_depth {}\n", g.queued);
  header(out, "chimera_active_sequences", "gauge", "Sequences being prefilled or decoded.");
  out += fmt::format("chimera_active_sequences {}\n", g.active);
  header(out, "chimera_kv_cache_used_cells", "gauge", "KV cache cells (token positions) in use.");
  out += fmt::format("chimera_kv_cache_used_cells {}\n", g.kv_used_cells);
  header(out, "chimera_kv_cache_capacity_cells", "gauge", "KV cache cells (token positions) in the pool.");
  out += fmt::format("chimera_kv_cache_capacity_cells {}\n", g.kv_capacity_cells);
  header(out, "chimera_kv_cache_usage_ratio", "gauge", "Used over capacity KV cells (0 to 1).");
  double ratio = g.kv_capacity_cells > 0 ? static_cast<double>(g.kv_used_cells) / static_cast<double>(g.kv_capacity_cells)
                                         : 0.0;
  out += fmt::format("chimera_kv_cache_usage_ratio {}\n", number(ratio));
  header(out, "chimera_kv_cache_bytes", "gauge", "Bytes reserved for the KV cache pools.");
  out += fmt::format("chimera_kv_cache_bytes {}\n", g.kv_bytes);
  header(out, "chimera_prompt_cache_bytes", "gauge",
         "Bytes the prompt caches hold (K/V of token prefixes kept for later requests).");
  out += fmt::format("chimera_prompt_cache_bytes {}\n", g.prompt_cache_bytes);
  header(out, "chimera_prompt_cache_max_bytes", "gauge", "The prompt caches' budgets (--cache-ram).");
  out += fmt::format("chimera_prompt_cache_max_bytes {}\n", g.prompt_cache_max_bytes);
  header(out, "chimera_prompt_cache_blocks", "gauge", "Blocks of token positions the prompt caches hold.");
  out += fmt::format("chimera_prompt_cache_blocks {}\n", g.prompt_cache_blocks);
  header(out, "chimera_prompt_cache_evicted_blocks_total", "counter",
         "Prompt cache blocks evicted (least recently used first) to stay within the budget.");
  out += fmt::format("chimera_prompt_cache_evicted_blocks_total {}\n", prompt_cache_evictions_.load());
  header(out, "chimera_models_loaded", "gauge", "Models loaded now.");
  out += fmt::format("chimera_models_loaded {}\n", g.models_loaded);
  return out;
}

}  // namespace chimera::server
