// An in-test llm::Backend that records every request it receives and returns timed CallRecords, so
// the bench runner's ordering, seeds and load modes can be checked on what a backend actually sees.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "lab/stats.h"
#include "llm/backend.h"
#include "util/clock.h"

namespace chimera::lab::testing {

struct FakeTiming {
  double ttft_ms = 100;
  double itl_ms = 10;
  int tokens = 8;
};

class FakeBackend : public llm::Backend {
 public:
  // timing(request, call_index) decides each call's clocks; fail(call_index) makes a call fail.
  std::function<FakeTiming(const llm::Request&, int64_t)> timing = [](const llm::Request&, int64_t) {
    return FakeTiming{};
  };
  std::function<bool(int64_t)> fail = [](int64_t) { return false; };
  int work_ms = 0;  // real time each call takes, so concurrent calls overlap
  llm::BackendCapabilities caps{.server_timings = true, .ignore_eos = true,
                                .exact_token_counts = true, .seed = true};
  bool synthetic = false;

  std::string name() const override { return "fake://test"; }
  llm::BackendCapabilities capabilities() const override { return caps; }

  llm::CallRecord generate(const llm::Request& request, const llm::OnText& = {}) override {
    int64_t index;
    {
      std::lock_guard lock(mutex_);
      index = static_cast<int64_t>(requests_.size());
      requests_.push_back(request);
    }
    int now = ++in_flight_;
    int seen = max_in_flight_.load();
    while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
    }
    if (work_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(work_ms));
    --in_flight_;

    llm::CallRecord r;
    r.backend = name();
    r.model = request.model;
    r.synthetic_model = synthetic;
    r.options_requested = request.options;
    r.wall_start_unix_ms = unix_time_ms();
    if (fail(index)) {
      r.ok = false;
      r.error_code = ErrorCode::kUnavailable;
      r.error = "connection refused";
      return r;
    }
    FakeTiming t = timing(request, index);
    const int64_t ms = 1'000'000;
    r.t_request_ns = monotonic_ns();
    r.t_first_byte_ns = r.t_request_ns + static_cast<int64_t>(t.ttft_ms * ms * 0.9);
    r.t_first_token_ns = r.t_request_ns + static_cast<int64_t>(t.ttft_ms * ms);
    for (int i = 0; i < t.tokens; ++i) {
      r.chunk_times_ns.push_back(r.t_first_token_ns + static_cast<int64_t>(i * t.itl_ms * ms));
      r.chunk_token_counts.push_back(1);
    }
    r.t_done_ns = r.chunk_times_ns.back() + ms;
    r.token_count = t.tokens;
    r.chunk_count = t.tokens;
    r.token_count_source = llm::TokenCountSource::kEngine;
    r.prompt_tokens = 12;
    r.server.prompt_eval_count = 12;
    r.server.prompt_eval_ns = static_cast<int64_t>(t.ttft_ms * ms * 0.8);
    r.server.load_ns = 0;
    r.server.eval_count = t.tokens - 1;
    r.server.eval_ns = static_cast<int64_t>((t.tokens - 1) * t.itl_ms * ms);
    r.text = "x";
    r.done_reason = "length";
    r.ok = true;
    return r;
  }

  Result<std::vector<llm::ModelEntry>> list_models() override {
    return std::vector<llm::ModelEntry>{};
  }
  Result<llm::ModelDescription> describe(const std::string&) override {
    return llm::ModelDescription{};
  }

  std::vector<llm::Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  int max_in_flight() const { return max_in_flight_.load(); }

 private:
  mutable std::mutex mutex_;
  std::vector<llm::Request> requests_;
  std::atomic<int> in_flight_{0}, max_in_flight_{0};
};

// Noise that depends only on the call index (not on the arm): an A/A run draws both arms from one
// distribution.
inline double noise(uint64_t seed, int64_t index) {
  SeededRng rng(seed + static_cast<uint64_t>(index) * 7919);
  return rng.uniform_open_closed() - 0.5;  // in (-0.5, 0.5]
}

}  // namespace chimera::lab::testing
