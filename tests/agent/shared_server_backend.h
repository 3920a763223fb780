// Test backends of known concurrent behaviour, for the speedup statistics of `chimera agents`.
//
// Every request needs `ms_per_token * num_predict` ms of service. The server has one unit of
// capacity:
// - kShared: the capacity is shared equally by the requests in flight (processor sharing). The
//   server does one request's worth of work per unit of time whatever the load, as a server that
//   serialises generation does: two requests at once each take twice as long. Running agents
//   concurrently cannot finish sooner than running them one after another (speedup 1), yet each
//   agent is busy for the whole concurrent wall (the prior "balance ratio" reads about 2).
// - kParallel: every request is served at full rate whatever the load (perfect parallelism:
//   speedup N).
// Like a real server's, service times vary: each request's work is scaled by a factor drawn
// uniformly from [1 - jitter, 1 + jitter], seeded by the request's index, so the draws are the same
// on every run (and a CI has real variance to cover, as it would against a real server).
// The service is simulated on the real clock: a request waits (timed waits on a condition
// variable, recomputed whenever a request arrives or leaves) until its remaining work is done.
// `fail_after` makes every request from that index on fail as a dead server's would.
// `cached_work`, when set, is the share of the work a request costs when the server has seen its
// prompt before (a server's prompt cache: chimera serve, Ollama and llama.cpp's server keep one).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "lab/stats.h"
#include "llm/backend.h"
#include "util/clock.h"

namespace chimera::agent::testing {

class SharedServerBackend : public llm::Backend {
 public:
  enum class Mode { kShared, kParallel };

  explicit SharedServerBackend(Mode mode, double ms_per_token = 2.0, std::string name = "test")
      : mode_(mode), ms_per_token_(ms_per_token), name_("fake://" + std::move(name)) {}

  std::optional<int64_t> fail_after;  // request index from which every call fails
  double jitter = 0.1;
  std::optional<double> cached_work;  // share of the work of a prompt seen before

  std::string name() const override { return name_; }
  llm::BackendCapabilities capabilities() const override { return {true, true, true, true}; }
  Result<std::vector<llm::ModelEntry>> list_models() override {
    return std::vector<llm::ModelEntry>{};
  }
  Result<llm::ModelDescription> describe(const std::string&) override {
    return llm::ModelDescription{};
  }
  int64_t requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  llm::CallRecord generate(const llm::Request& request, const llm::OnText& = {}) override {
    llm::CallRecord r;
    r.backend = name_;
    r.model = request.model;
    r.endpoint = "/api/chat";
    r.options_requested = request.options;
    r.wall_start_unix_ms = unix_time_ms();
    r.t_request_ns = monotonic_ns();
    int64_t index;
    {
      std::lock_guard lock(mutex_);
      index = requests_++;
    }
    if (fail_after && index >= *fail_after) {
      r.t_done_ns = monotonic_ns();
      r.error_code = ErrorCode::kUnavailable;
      r.error = "cannot reach " + name_ + ": connection refused";
      return r;
    }
    const int64_t tokens = std::max<int64_t>(2, request.options.num_predict.value_or(16));
    lab::SeededRng rng(0x5eed + static_cast<uint64_t>(index));
    double factor = 1 + jitter * (2 * rng.uniform_open_closed() - 1);
    if (cached_work) {
      std::string key = request.prompt;
      for (const auto& m : request.messages) key += "\x1f" + m.role + "\x1e" + m.content;
      std::lock_guard lock(mutex_);
      if (!seen_prompts_.insert(std::move(key)).second) factor *= *cached_work;
    }
    serve(static_cast<double>(tokens) * ms_per_token_ * 1e6 * factor);
    r.t_done_ns = monotonic_ns();
    int64_t span = r.t_done_ns - r.t_request_ns;
    r.t_first_byte_ns = r.t_first_token_ns = r.t_request_ns + span / tokens;
    for (int64_t i = 0; i < tokens; ++i) {
      r.chunk_times_ns.push_back(r.t_first_token_ns +
                                 (r.t_done_ns - r.t_first_token_ns) * i / (tokens - 1));
      r.chunk_token_counts.push_back(1);
    }
    r.text = "## Data Inventory\n\nThe folder was read.\n";
    r.token_count = tokens;
    r.chunk_count = tokens;
    r.token_count_source = llm::TokenCountSource::kServer;
    r.server.eval_count = tokens;
    r.server.eval_ns = r.t_done_ns - r.t_first_token_ns;
    r.done_reason = "length";
    r.ok = true;
    return r;
  }

 private:
  struct Job {
    double remaining_ns;
  };

  // Processor sharing: every job in flight progresses at 1 / n of the server's rate.
  void advance_locked(int64_t now) {
    if (!jobs_.empty() && now > last_ns_) {
      double share = static_cast<double>(now - last_ns_) / static_cast<double>(jobs_.size());
      for (Job& j : jobs_) j.remaining_ns -= share;
    }
    last_ns_ = now;
  }

  void serve(double work_ns) {
    std::unique_lock lock(mutex_);
    if (mode_ == Mode::kParallel) {
      auto until = std::chrono::steady_clock::now() +
                   std::chrono::nanoseconds(static_cast<int64_t>(work_ns));
      cv_.wait_until(lock, until, [&] { return std::chrono::steady_clock::now() >= until; });
      return;
    }
    advance_locked(monotonic_ns());
    auto me = jobs_.insert(jobs_.end(), Job{work_ns});
    cv_.notify_all();  // the others now progress more slowly
    for (;;) {
      advance_locked(monotonic_ns());
      if (me->remaining_ns <= 1000) break;  // within a microsecond
      auto finish = std::chrono::nanoseconds(
          static_cast<int64_t>(me->remaining_ns * static_cast<double>(jobs_.size())));
      cv_.wait_for(lock, finish);
    }
    jobs_.erase(me);
    cv_.notify_all();  // the others now progress faster
  }

  Mode mode_;
  double ms_per_token_;
  std::string name_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::list<Job> jobs_;
  std::set<std::string> seen_prompts_;
  int64_t last_ns_ = 0;
  int64_t requests_ = 0;
};

}  // namespace chimera::agent::testing
