// One generation request as the scheduler sees it (prompt tokens and sampling, already validated),
// and the channel that carries its text from the scheduler thread to the HTTP thread that streams it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/grammar/grammar.h"
#include "util/status.h"

namespace chimera::server {

struct SequenceRequest {
  std::vector<int32_t> prompt;  // rendered and tokenized; fits num_ctx with room for one token
  engine::SamplingOptions sampling;
  int32_t num_predict = -1;     // -1: until end of generation or the context is full
  std::vector<std::string> stop;
  bool ignore_eos = false;
  int32_t num_ctx = 0;          // context for this sequence; 0: the server's default
  int32_t num_batch = 0;        // most prompt tokens per prefill chunk; 0: the server's
  int32_t num_thread = 0;       // 0: whatever the context runs with
  int64_t received_ns = 0;      // monotonic clock when the HTTP request arrived
  std::shared_ptr<const engine::Grammar> grammar;  // structured output; null: free text
};

// What the scheduler reports when a sequence ends.
struct SequenceOutcome {
  Status status;                    // not ok: the sequence failed (engine error, shutdown)
  std::string done_reason;          // "stop", "length", "cancelled"
  std::string text;                 // everything emitted
  std::vector<int32_t> tokens;      // generated tokens (an end-of-generation token included)
  int32_t prompt_tokens = 0;
  int32_t prompt_cached_tokens = 0;  // restored from the prompt cache, not computed (<= prompt_tokens)
  int32_t eval_count = 0;
  int64_t load_ns = 0;              // a context rebuild this request waited for
  int64_t queued_ns = 0;            // received -> admitted
  int64_t slot_wait_ns = 0;         // queued for a batch slot: submitted -> admitted, less load_ns
  int64_t prompt_eval_ns = 0;       // prefix restore (if any) or first prefill step start -> last prefill step end
  int64_t eval_ns = 0;              // first sampled token -> last sampled token
  int64_t first_token_ns = 0;       // monotonic time of the first sampled token (0: none)
  int64_t done_ns = 0;              // monotonic time the sequence ended
};

// Single producer (the scheduler thread), single consumer (the HTTP thread). Text pieces queue up
// until taken; the consumer waits with a timeout so it can check its connection in between.
class SequenceStream {
 public:
  SequenceStream() = default;
  SequenceStream(const SequenceStream&) = delete;
  SequenceStream& operator=(const SequenceStream&) = delete;

  // Consumer. Moves queued text pieces into `pieces` (appending). Returns true once the sequence has
  // ended and every piece has been taken.
  bool wait(std::vector<std::string>& pieces, std::chrono::milliseconds timeout);
  bool ended() const;
  const SequenceOutcome& outcome() const { return outcome_; }  // valid once wait() returned true
  // The client went away or the server is stopping; the scheduler frees the sequence at its next step.
  void cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  // Producer.
  void push(std::string text);
  void finish(SequenceOutcome outcome);
  // Called by cancel() so the scheduler wakes up at once (set once, before the stream is shared; never
  // called after finish()). The scheduler must not hold its own lock while calling push()/finish().
  void set_cancel_listener(std::function<void()> listener) { cancel_listener_ = std::move(listener); }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> pieces_;
  bool ended_ = false;
  SequenceOutcome outcome_;
  std::atomic<bool> cancelled_{false};
  std::function<void()> cancel_listener_;
};

}  // namespace chimera::server
