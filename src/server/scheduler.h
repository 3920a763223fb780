// Continuous batching over one model: every active sequence advances in the same forward pass (one
// read of the weights for all of them). Each step carries one decode token per generating sequence
// plus prompt chunks of sequences still prefilling, so a long prompt is prefilled a chunk at a time
// between decode steps instead of stalling everyone else. Each sequence owns a slot of the shared KV
// pool (engine::Context); admission is first come, first served, bounded by the free slots (--parallel)
// and by the KV cells the admitted sequences may still fill. A request whose options need a different
// context (another num_ctx, another num_thread) waits at the head of the queue until the running
// sequences finish, then the context is rebuilt, as Ollama reloads its runner. With a prompt cache
// (engine.h: PromptCache, kept across rebuilds), every sequence's K/V blocks are stored as they
// complete, and an admitted request starts from the longest prefix of its prompt that is cached:
// only the rest is prefilled, and only the rest is reported as evaluated.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "server/sequence.h"
#include "util/status.h"

namespace chimera::server {

class Metrics;

struct SchedulerOptions {
  std::string model_name;       // for metrics labels and messages
  int32_t n_seq = 4;            // sequences decoded together (--parallel)
  int32_t n_ctx = 4096;         // default context per sequence (--ctx)
  int32_t n_batch = 512;        // most tokens per forward step
  int32_t prefill_chunk = 128;  // most prompt tokens per step while other sequences are decoding
  int32_t num_thread = 0;       // <= 0: physical cores
  int32_t max_queue = 64;       // requests that may wait for a slot; more get kResourceExhausted
  int64_t kv_cells = 0;         // admission budget in KV cells; 0: n_seq * n_ctx
  engine::GgmlType kv_type = engine::GgmlType::kF16;
  // Prompt cache budget (--cache-ram): kPromptCacheAuto, 0 (off) or bytes.
  int64_t prompt_cache_bytes = kPromptCacheAuto;
  // The auto budget: the K/V of n_seq x n_ctx positions (what Ollama keeps, each of its --parallel
  // slots holding its last sequence), at most a quarter of the machine's memory.
  static constexpr int64_t kPromptCacheAuto = -1;
};

// The budget kPromptCacheAuto stands for, for this model and these options (0 when it cannot be
// had: an unsupported KV type).
int64_t auto_prompt_cache_bytes(const engine::Model& model, const SchedulerOptions& options);

struct SchedulerStats {
  int64_t queued = 0;
  int64_t active = 0;
  int64_t kv_used_cells = 0;      // positions written in the KV pool now
  int64_t kv_reserved_cells = 0;  // what admitted sequences may fill
  int64_t kv_capacity_cells = 0;
  int64_t kv_bytes = 0;
  int32_t n_ctx_per_seq = 0;
  int32_t num_thread = 0;
  engine::PromptCacheStats prompt_cache;  // all zero when the cache is off
};

class Scheduler {
 public:
  static Result<std::unique_ptr<Scheduler>> create(std::shared_ptr<const engine::Model> model,
                                                   const SchedulerOptions& options, Metrics* metrics);
  ~Scheduler();  // shutdown()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. kResourceExhausted when the queue is full, kUnavailable after shutdown(),
  // kInvalidArgument when the request can never fit (prompt longer than its context).
  Result<std::shared_ptr<SequenceStream>> submit(SequenceRequest request);
  SchedulerStats stats() const;
  bool idle() const;  // nothing queued, nothing running
  // Ends every queued and running sequence (status kUnavailable) and stops the thread.
  void shutdown();
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Pending {
    SequenceRequest request;
    std::shared_ptr<SequenceStream> stream;
    int32_t slot = -1;  // taken at admission
    int64_t submitted_ns = 0;  // monotonic clock when it entered the queue
  };
  struct Active;

  Scheduler(std::shared_ptr<const engine::Model> model, const SchedulerOptions& options, Metrics* metrics,
            std::unique_ptr<engine::Context> context);
  void loop();
  // Under mutex_: moves admissible requests from the queue into `admitted` and cancelled ones into
  // `dropped`. Sets `rebuild` (popped) when the head of the queue needs a context rebuild first and
  // nothing runs.
  void admit_locked(std::vector<Pending>& admitted, std::vector<Pending>& dropped,
                    std::optional<Pending>& rebuild);
  void start(Pending pending, int64_t load_ns);
  Status rebuild_context(const SequenceRequest& request);
  bool needs_rebuild(const SequenceRequest& request) const;
  int32_t context_of(const SequenceRequest& request) const;
  int64_t reserve_of(const SequenceRequest& request) const;
  void step();
  void sample(Active& seq, int32_t token);
  void finish(Active& seq, std::string done_reason, Status status = Status::ok());
  void drop_finished();
  void fail_all(const Status& status);
  void publish_stats();
  void report_evictions();  // the prompt cache's evictions since the last call, into metrics_

  std::shared_ptr<const engine::Model> model_;
  SchedulerOptions options_;
  Metrics* metrics_;
  std::unique_ptr<engine::Context> context_;  // scheduler thread only (after construction)
  std::shared_ptr<engine::PromptCache> prompt_cache_;  // null: off; outlives context rebuilds
  int32_t n_vocab_ = 0;
  int32_t n_sample_ = 0;  // vocabulary the sampler draws from (model and tokenizer agree)

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::vector<int32_t> free_slots_;
  int64_t reserved_cells_ = 0;
  int64_t kv_budget_cells_ = 0;
  bool stopping_ = false;
  bool wake_ = false;  // a cancel or submit arrived

  // Scheduler thread only.
  std::vector<std::unique_ptr<Active>> active_;
  std::vector<engine::BatchToken> batch_;
  std::vector<Active*> row_owner_;   // per logits row
  std::vector<int32_t> sampled_;     // per logits row: the token drawn from it (-1: none)
  std::vector<float> logits_;        // n_seq x n_vocab

  // Published for stats() without taking the scheduler thread's data.
  std::atomic<int64_t> active_count_{0};
  std::atomic<int64_t> kv_used_cells_{0};
  std::atomic<int64_t> kv_bytes_{0};
  std::atomic<int32_t> ctx_per_seq_{0};
  std::atomic<int32_t> threads_{0};
  int64_t evicted_reported_ = 0;  // prompt cache evictions already counted in metrics_ (scheduler thread)

  std::thread thread_;
};

}  // namespace chimera::server
