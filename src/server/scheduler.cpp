#include "server/scheduler.h"

#include <fmt/format.h>

#include <algorithm>
#include <new>
#include <optional>
#include <thread>

#include "engine/grammar/grammar_mask.h"
#include "engine/model/model_config.h"
#include "engine/runtime/thread_pool.h"
#include "server/metrics.h"
#include "util/clock.h"
#include "util/cpu.h"
#include "util/log.h"

namespace chimera::server {

struct Scheduler::Active {
  Pending pending;
  int32_t slot = 0;
  int32_t n_ctx = 0;          // this sequence's context limit
  int32_t chunk = 0;          // most prompt tokens per step
  int64_t reserved = 0;       // KV cells counted against the budget
  int32_t n_prefilled = 0;    // prompt tokens in the KV
  int32_t pos = 0;            // next position to write
  int32_t next_token = -1;    // sampled, decoded at the next step
  bool decoding = false;
  bool finished = false;
  int32_t limit = 0;          // most tokens to generate
  std::optional<engine::Sampler> sampler;
  std::optional<engine::TextStreamer> streamer;
  std::unique_ptr<engine::GrammarConstraint> constraint;  // structured output; null: free text
  std::vector<int32_t> history;  // prompt + generated, for the repeat penalty
  SequenceOutcome outcome;
  int64_t prefill_start_ns = 0;
  int64_t last_token_ns = 0;
};

namespace {

// The KV pool is one allocation per layer: a client asking for a huge num_ctx must get an error, not
// take the server down with std::bad_alloc.
Result<std::unique_ptr<engine::Context>> create_context(const std::shared_ptr<const engine::Model>& model,
                                                        const engine::ContextOptions& options) {
  try {
    return engine::Context::create(model, options);
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kResourceExhausted,
                      "not enough memory for a KV cache of {} sequences x {} tokens; lower num_ctx or --parallel",
                      options.n_seq_max, options.n_ctx_per_seq);
  }
}

int32_t hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int32_t>(n);
}

// The prompt cache for these options: null when off (budget 0, or an auto budget the KV type cannot
// have); an explicit budget the KV type cannot have is an error.
Result<std::shared_ptr<engine::PromptCache>> create_prompt_cache(
    const std::shared_ptr<const engine::Model>& model, const SchedulerOptions& options) {
  const bool automatic = options.prompt_cache_bytes == SchedulerOptions::kPromptCacheAuto;
  const int64_t bytes = automatic ? auto_prompt_cache_bytes(*model, options) : options.prompt_cache_bytes;
  if (bytes < 0) {
    return make_error(ErrorCode::kInvalidArgument, "--cache-ram {} bytes: give 0 (off), a size or auto",
                      options.prompt_cache_bytes);
  }
  if (bytes == 0) return std::shared_ptr<engine::PromptCache>();
  engine::PromptCacheOptions cache_options;
  cache_options.max_bytes = bytes;
  auto cache = engine::PromptCache::create(model, options.kv_type, cache_options);
  if (!cache.ok()) return cache.status().with_context("--cache-ram (the prompt cache; 0 turns it off)");
  return *cache;
}

}  // namespace

int64_t auto_prompt_cache_bytes(const engine::Model& model, const SchedulerOptions& options) {
  auto per_token = engine::PromptCache::bytes_per_token(model, options.kv_type);
  if (!per_token.ok()) return 0;
  const int64_t slots = *per_token * options.n_seq * options.n_ctx;
  const int64_t memory = physical_memory_bytes();
  return memory > 0 ? std::min(slots, memory / 4) : slots;
}

Result<std::unique_ptr<Scheduler>> Scheduler::create(std::shared_ptr<const engine::Model> model,
                                                     const SchedulerOptions& options, Metrics* metrics) {
  if (!model) return make_error(ErrorCode::kInvalidArgument, "scheduler: no model");
  if (options.n_seq <= 0 || options.n_ctx <= 1 || options.n_batch <= 0 || options.prefill_chunk <= 0 ||
      options.max_queue < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "scheduler for {}: --parallel {}, --ctx {}, --batch {} and --prefill-chunk {} must be "
                      "positive (ctx at least 2) and --max-queue {} not negative",
                      options.model_name, options.n_seq, options.n_ctx, options.n_batch, options.prefill_chunk,
                      options.max_queue);
  }
  if (options.kv_cells != 0 && options.kv_cells < options.n_ctx) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--kv-cells {} is smaller than one sequence's context (--ctx {}); no request could "
                      "be admitted. Raise --kv-cells or lower --ctx", options.kv_cells, options.n_ctx);
  }
  engine::ContextOptions context_options;
  context_options.n_seq_max = options.n_seq;
  context_options.n_ctx_per_seq = options.n_ctx;
  // Every active sequence may need a decode row in the same step.
  context_options.n_batch = std::max(options.n_batch, options.n_seq);
  context_options.num_thread = options.num_thread > 0 ? std::min(options.num_thread, hardware_threads()) : 0;
  context_options.kv_type = options.kv_type;
  CHIMERA_ASSIGN_OR_RETURN(context_options.prompt_cache, create_prompt_cache(model, options));
  CHIMERA_ASSIGN_OR_RETURN(auto context, create_context(model, context_options));
  return std::unique_ptr<Scheduler>(new Scheduler(std::move(model), options, metrics, std::move(context)));
}

Scheduler::Scheduler(std::shared_ptr<const engine::Model> model, const SchedulerOptions& options,
                     Metrics* metrics, std::unique_ptr<engine::Context> context)
    : model_(std::move(model)),
      options_(options),
      metrics_(metrics),
      context_(std::move(context)),
      prompt_cache_(context_->options().prompt_cache) {
  n_vocab_ = model_->config().n_vocab;
  n_sample_ = std::min(n_vocab_, model_->tokenizer().n_vocab());
  for (int32_t s = options_.n_seq - 1; s >= 0; --s) free_slots_.push_back(s);
  kv_budget_cells_ = options_.kv_cells > 0 ? options_.kv_cells : int64_t{options_.n_seq} * options_.n_ctx;
  logits_.resize(static_cast<size_t>(options_.n_seq) * static_cast<size_t>(n_vocab_));
  batch_.reserve(static_cast<size_t>(context_->options().n_batch));
  row_owner_.reserve(static_cast<size_t>(options_.n_seq));
  active_.reserve(static_cast<size_t>(options_.n_seq));
  publish_stats();
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int32_t Scheduler::context_of(const SequenceRequest& request) const {
  return request.num_ctx > 0 ? request.num_ctx : options_.n_ctx;
}

int64_t Scheduler::reserve_of(const SequenceRequest& request) const {
  const int64_t n_ctx = context_of(request);
  const int64_t generate = request.num_predict >= 0 ? request.num_predict : n_ctx;
  return std::min<int64_t>(n_ctx, static_cast<int64_t>(request.prompt.size()) + generate);
}

Result<std::shared_ptr<SequenceStream>> Scheduler::submit(SequenceRequest request) {
  const int32_t n_ctx = context_of(request);
  if (request.prompt.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "the prompt is empty (no tokens)");
  }
  if (static_cast<int64_t>(request.prompt.size()) >= n_ctx) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the prompt has {} tokens but num_ctx is {}; it must leave room for at least one "
                      "generated token: raise num_ctx or shorten the prompt", request.prompt.size(), n_ctx);
  }
  for (int32_t id : request.prompt) {
    if (id < 0 || id >= n_vocab_) {
      return make_error(ErrorCode::kInvalidArgument, "prompt token {} is outside the vocabulary (0..{})", id,
                        n_vocab_ - 1);
    }
  }
  auto stream = std::make_shared<SequenceStream>();
  stream->set_cancel_listener([this] {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      wake_ = true;
    }
    cv_.notify_all();
  });
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return make_error(ErrorCode::kUnavailable, "model {} is being unloaded", options_.model_name);
    // Requests that will take a free slot at once do not count as waiting.
    const size_t bound = static_cast<size_t>(options_.max_queue) + free_slots_.size();
    if (queue_.size() >= bound) {
      return make_error(ErrorCode::kResourceExhausted,
                        "server busy: {} requests are waiting for {} (--max-queue {}); retry later",
                        queue_.size(), options_.model_name, options_.max_queue);
    }
    queue_.push_back(Pending{std::move(request), stream, -1, monotonic_ns()});
    wake_ = true;
  }
  cv_.notify_all();
  return stream;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    s.queued = static_cast<int64_t>(queue_.size());
    s.kv_reserved_cells = reserved_cells_;
    s.kv_capacity_cells = kv_budget_cells_;
  }
  s.active = active_count_.load(std::memory_order_relaxed);
  s.kv_used_cells = kv_used_cells_.load(std::memory_order_relaxed);
  s.kv_bytes = kv_bytes_.load(std::memory_order_relaxed);
  s.n_ctx_per_seq = ctx_per_seq_.load(std::memory_order_relaxed);
  s.num_thread = threads_.load(std::memory_order_relaxed);
  if (prompt_cache_ != nullptr) s.prompt_cache = prompt_cache_->stats();
  return s;
}

bool Scheduler::idle() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.empty() && active_count_.load(std::memory_order_relaxed) == 0;
}

void Scheduler::publish_stats() {
  int64_t used = 0;
  for (const auto& a : active_) used += a->pos;
  active_count_.store(static_cast<int64_t>(active_.size()), std::memory_order_relaxed);
  kv_used_cells_.store(used, std::memory_order_relaxed);
  kv_bytes_.store(context_->kv_bytes(), std::memory_order_relaxed);
  ctx_per_seq_.store(context_->options().n_ctx_per_seq, std::memory_order_relaxed);
  threads_.store(context_->options().num_thread, std::memory_order_relaxed);
  report_evictions();
}

void Scheduler::report_evictions() {
  if (prompt_cache_ == nullptr || metrics_ == nullptr) return;
  const int64_t evicted = prompt_cache_->stats().evicted_blocks;
  metrics_->count_prompt_cache_evictions(evicted - evicted_reported_);
  evicted_reported_ = evicted;
}

bool Scheduler::needs_rebuild(const SequenceRequest& request) const {
  const engine::ContextOptions& current = context_->options();
  // Any other num_ctx rebuilds, smaller too, as Ollama reloads its runner for it: the context a
  // client asked for is the one it measures (its KV pool size and memory), not a larger leftover.
  if (context_of(request) != current.n_ctx_per_seq) return true;
  if (request.num_thread > 0 && std::min(request.num_thread, hardware_threads()) != current.num_thread) return true;
  return false;
}

Status Scheduler::rebuild_context(const SequenceRequest& request) {
  engine::ContextOptions next = context_->options();
  next.n_ctx_per_seq = context_of(request);
  if (request.num_thread > 0) next.num_thread = std::min(request.num_thread, hardware_threads());
  next.n_batch = std::max(options_.n_batch, options_.n_seq);
  log::info("{}: rebuilding the context for num_ctx {} and {} threads (was {} and {})", options_.model_name,
            next.n_ctx_per_seq, next.num_thread, context_->options().n_ctx_per_seq, context_->options().num_thread);
  // Built before the old one goes, so a failure leaves the server as it was. KV pages are touched only
  // when written, so the two pools do not both occupy memory.
  auto rebuilt = create_context(model_, next);
  if (!rebuilt.ok()) return rebuilt.status();
  context_ = std::move(*rebuilt);
  std::lock_guard<std::mutex> lock(mutex_);
  if (options_.kv_cells == 0) {
    kv_budget_cells_ = int64_t{options_.n_seq} * context_->options().n_ctx_per_seq;
  } else {
    kv_budget_cells_ = std::max<int64_t>(options_.kv_cells, context_->options().n_ctx_per_seq);
  }
  return Status::ok();
}

void Scheduler::admit_locked(std::vector<Pending>& admitted, std::vector<Pending>& dropped,
                             std::optional<Pending>& rebuild) {
  // Requests whose client left while waiting go at once (finished by the caller, outside the lock).
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->stream->cancelled()) {
      dropped.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  while (!queue_.empty() && !free_slots_.empty()) {
    Pending& head = queue_.front();
    if (needs_rebuild(head.request)) {
      // First come, first served: nothing behind it is admitted until the context is rebuilt.
      if (!active_.empty() || !admitted.empty()) return;
      rebuild = std::move(head);
      queue_.pop_front();
      rebuild->slot = free_slots_.back();
      free_slots_.pop_back();
      return;
    }
    const int64_t reserve = reserve_of(head.request);
    if (reserved_cells_ + reserve > kv_budget_cells_) break;
    reserved_cells_ += reserve;
    head.slot = free_slots_.back();
    free_slots_.pop_back();
    admitted.push_back(std::move(head));
    queue_.pop_front();
  }
}

void Scheduler::start(Pending pending, int64_t load_ns) {
  auto seq = std::make_unique<Active>();
  seq->pending = std::move(pending);
  const SequenceRequest& request = seq->pending.request;
  seq->slot = seq->pending.slot;
  seq->n_ctx = std::min(context_of(request), context_->options().n_ctx_per_seq);
  seq->reserved = reserve_of(request);
  const int32_t n_batch = context_->options().n_batch;
  seq->chunk = request.num_batch > 0 ? std::min(request.num_batch, n_batch) : n_batch;
  seq->limit = request.num_predict >= 0 ? request.num_predict : INT32_MAX;
  seq->sampler.emplace(request.sampling, n_sample_);
  seq->streamer.emplace(model_->tokenizer(), request.stop);
  seq->history.reserve(request.prompt.size() + 256);
  seq->history = request.prompt;
  seq->outcome.prompt_tokens = static_cast<int32_t>(request.prompt.size());
  // Time in the queue for a slot (and KV budget), less any context rebuild it waited for.
  seq->outcome.slot_wait_ns =
      std::max<int64_t>(0, monotonic_ns() - seq->pending.submitted_ns - load_ns);
  if (metrics_) metrics_->observe_queue_wait_ns(seq->outcome.slot_wait_ns);
  seq->outcome.load_ns = load_ns;
  seq->outcome.queued_ns = monotonic_ns() - request.received_ns;
  Status constrained;
  if (request.grammar) {
    auto constraint = engine::GrammarConstraint::create(request.grammar, model_->grammar_vocabulary());
    if (constraint.ok()) {
      seq->constraint = std::move(*constraint);
    } else {
      constrained = constraint.status();
    }
  }
  context_->clear_sequence(seq->slot);
  // The longest cached prefix of the prompt is copied in; prefill starts after it.
  seq->prefill_start_ns = monotonic_ns();
  const int32_t cached = context_->restore_prefix(seq->slot, request.prompt);
  seq->n_prefilled = cached;
  seq->pos = cached;
  seq->outcome.prompt_cached_tokens = cached;
  active_.push_back(std::move(seq));
  active_count_.fetch_add(1, std::memory_order_relaxed);
  if (!constrained.is_ok()) finish(*active_.back(), "error", constrained);
}

void Scheduler::loop() {
  std::vector<Pending> admitted, dropped;
  for (;;) {
    std::optional<Pending> rebuild;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Admission comes before sleeping: a sequence that just finished may have freed what the head
      // of the queue was waiting for.
      for (;;) {
        if (stopping_) break;
        admitted.clear();
        dropped.clear();
        wake_ = false;
        admit_locked(admitted, dropped, rebuild);
        if (!active_.empty() || !admitted.empty() || !dropped.empty() || rebuild) break;
        cv_.wait(lock, [&] { return stopping_ || wake_; });
      }
      if (stopping_) break;
    }
    for (Pending& p : dropped) {
      SequenceOutcome outcome;
      outcome.done_reason = "cancelled";
      outcome.done_ns = monotonic_ns();
      p.stream->finish(std::move(outcome));
      if (metrics_ != nullptr) metrics_->count_sequence("cancelled");
    }
    if (rebuild) {
      const int64_t t0 = monotonic_ns();
      Status rebuilt = rebuild_context(rebuild->request);
      if (!rebuilt.is_ok()) {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          free_slots_.push_back(rebuild->slot);
        }
        SequenceOutcome outcome;
        outcome.status = rebuilt.with_context("rebuilding the context for this request's options");
        outcome.done_ns = monotonic_ns();
        rebuild->stream->finish(std::move(outcome));
        if (metrics_ != nullptr) metrics_->count_sequence("error");
      } else {
        {
          std::lock_guard<std::mutex> lock(mutex_);
          reserved_cells_ += reserve_of(rebuild->request);
        }
        if (metrics_ != nullptr) metrics_->count_model_load(options_.model_name, "context");
        start(std::move(*rebuild), monotonic_ns() - t0);
      }
      publish_stats();
      continue;
    }
    for (Pending& p : admitted) start(std::move(p), 0);
    for (auto& seq : active_) {
      if (!seq->finished && seq->pending.stream->cancelled()) finish(*seq, "cancelled");
    }
    drop_finished();
    if (!active_.empty()) {
      // The scheduler thread must outlive anything the engine throws (std::bad_alloc from a scratch
      // buffer): the sequences of that step fail, the server goes on.
      try {
        step();
      } catch (const std::exception& e) {
        Status failure(ErrorCode::kInternal, fmt::format("the forward step failed: {}", e.what()));
        log::error("{}: {}", options_.model_name, failure.message());
        for (auto& seq : active_) finish(*seq, "error", failure);
      }
    }
    drop_finished();
    publish_stats();
  }
  fail_all(Status(ErrorCode::kUnavailable,
                  fmt::format("the server stopped before the answer was complete ({} was unloaded)",
                              options_.model_name)));
}

void Scheduler::step() {
  batch_.clear();
  row_owner_.clear();
  const int64_t step_start_ns = monotonic_ns();
  const int32_t n_batch = context_->options().n_batch;
  for (auto& seq : active_) {
    if (!seq->decoding) continue;
    batch_.push_back({seq->next_token, seq->slot, seq->pos, true});
    row_owner_.push_back(seq.get());
  }
  // Prompt chunks fill what the decode rows leave, oldest request first; while others are decoding
  // the chunk is kept small so their next token is not held up by a long prompt.
  int32_t budget = batch_.empty() ? n_batch : std::min(options_.prefill_chunk, n_batch);
  budget = std::min(budget, n_batch - static_cast<int32_t>(batch_.size()));
  for (auto& seq : active_) {
    if (seq->decoding || budget <= 0) continue;
    const std::vector<int32_t>& prompt = seq->pending.request.prompt;
    const int32_t n_prompt = static_cast<int32_t>(prompt.size());
    const int32_t take = std::min({n_prompt - seq->n_prefilled, budget, seq->chunk});
    if (seq->n_prefilled == 0) seq->prefill_start_ns = step_start_ns;  // else set by start()
    for (int32_t i = 0; i < take; ++i) {
      const int32_t p = seq->n_prefilled + i;
      const bool last = p == n_prompt - 1;
      batch_.push_back({prompt[static_cast<size_t>(p)], seq->slot, p, last});
      if (last) row_owner_.push_back(seq.get());
    }
    seq->n_prefilled += take;
    budget -= take;
  }
  if (batch_.empty()) return;

  Status status = context_->decode(batch_, logits_.data());
  if (metrics_ != nullptr) metrics_->count_step(static_cast<int64_t>(batch_.size()));
  if (!status.is_ok()) {
    log::error("{}: forward step of {} tokens failed: {}", options_.model_name, batch_.size(), status.message());
    for (auto& seq : active_) finish(*seq, "error", status);
    return;
  }
  for (auto& seq : active_) seq->pos = seq->decoding ? seq->pos + 1 : seq->n_prefilled;
  const int64_t now_ns = monotonic_ns();
  // Each sequence draws from its own row with its own sampler and history, so the rows are sampled
  // on the engine's threads at once (top-k over 262k logits is ~0.4 ms a row: 3 ms a step at 8
  // sequences when done one by one).
  const auto rows = static_cast<int64_t>(row_owner_.size());
  sampled_.assign(row_owner_.size(), -1);
  std::vector<Status> failed(row_owner_.size());  // constrained sampling can fail (a schema too ambiguous)
  context_->pool().parallel_for(rows, [&](int64_t begin, int64_t end, int) {
    for (int64_t row = begin; row < end; ++row) {
      Active& seq = *row_owner_[static_cast<size_t>(row)];
      if (seq.outcome.eval_count >= seq.limit) continue;  // num_predict 0: nothing is generated
      float* logits_row = logits_.data() + static_cast<size_t>(row) * static_cast<size_t>(n_vocab_);
      if (!seq.constraint) {
        sampled_[static_cast<size_t>(row)] = seq.sampler->sample(logits_row, seq.history);  // may modify the row
        continue;
      }
      // Tokens left, this one included: the limit's and the context's (the token drawn now goes to pos).
      const int64_t left = std::min<int64_t>(int64_t{seq.limit} - seq.outcome.eval_count, int64_t{seq.n_ctx} - seq.pos + 1);
      auto token = engine::sample_constrained(*seq.sampler, *seq.constraint, logits_row, n_sample_, seq.history, left);
      if (token.ok()) {
        sampled_[static_cast<size_t>(row)] = *token;
      } else {
        failed[static_cast<size_t>(row)] = token.status();
      }
    }
  });
  for (size_t row = 0; row < row_owner_.size(); ++row) {
    Active& seq = *row_owner_[row];
    if (!failed[row].is_ok()) {
      finish(seq, "error", failed[row]);
      continue;
    }
    if (!seq.decoding) {  // its prompt is complete: the first token comes from this row
      seq.decoding = true;
      seq.outcome.prompt_eval_ns = now_ns - seq.prefill_start_ns;
    }
    sample(seq, sampled_[row]);
  }
}

void Scheduler::sample(Active& seq, int32_t token) {
  if (token < 0) {  // not drawn (step()): num_predict 0, prompt evaluated, nothing generated
    finish(seq, "length");
    return;
  }
  const int64_t t = monotonic_ns();
  if (seq.outcome.eval_count == 0) {
    seq.outcome.first_token_ns = t;
    if (metrics_ != nullptr) metrics_->observe_ttft_ns(t - seq.pending.request.received_ns);
  } else if (metrics_ != nullptr) {
    metrics_->observe_itl_ns(t - seq.last_token_ns);
  }
  seq.last_token_ns = t;
  ++seq.outcome.eval_count;
  seq.history.push_back(token);
  seq.outcome.tokens.push_back(token);

  const SequenceRequest& request = seq.pending.request;
  const bool end_of_generation = !request.ignore_eos && model_->tokenizer().is_end_of_generation(token);
  std::string text = end_of_generation ? std::string() : seq.streamer->push(token);
  // The token sampled now would be written at position pos; a full context cannot take it.
  const bool context_full = seq.pos >= seq.n_ctx;
  const bool stopped = seq.streamer->stopped();
  const bool ending = end_of_generation || stopped || seq.outcome.eval_count >= seq.limit || context_full;
  if (ending && !stopped) text += seq.streamer->finish();
  if (!text.empty()) seq.pending.stream->push(std::move(text));
  if (ending) {
    // A constrained answer closed in time by the budget is a complete document: "stop", not "length".
    const bool complete = seq.constraint && seq.constraint->complete();
    finish(seq, end_of_generation || stopped || complete ? "stop" : "length");
    return;
  }
  seq.next_token = token;
}

void Scheduler::finish(Active& seq, std::string done_reason, Status status) {
  if (seq.finished) return;
  seq.finished = true;
  SequenceOutcome& out = seq.outcome;
  out.status = std::move(status);
  out.done_reason = out.status.is_ok() ? std::move(done_reason) : "error";
  if (seq.streamer) {
    if (out.done_reason == "cancelled") seq.streamer->finish();
    out.text = seq.streamer->text();
  }
  out.eval_ns = out.eval_count > 0 ? seq.last_token_ns - out.first_token_ns : 0;
  out.done_ns = monotonic_ns();
  context_->clear_sequence(seq.slot);  // its last blocks go to the prompt cache
  report_evictions();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    free_slots_.push_back(seq.slot);
    reserved_cells_ -= seq.reserved;
  }
  // Stats say so before the client hears the end.
  active_count_.fetch_sub(1, std::memory_order_relaxed);
  kv_used_cells_.fetch_sub(seq.pos, std::memory_order_relaxed);
  if (metrics_ != nullptr) {
    metrics_->count_sequence(out.done_reason);
    metrics_->count_tokens(options_.model_name, seq.n_prefilled, out.eval_count);
    metrics_->count_prompt_cache(options_.model_name, out.prompt_cached_tokens,
                                 std::max(0, seq.n_prefilled - out.prompt_cached_tokens));
  }
  seq.pending.stream->finish(std::move(out));
}

void Scheduler::drop_finished() {
  std::erase_if(active_, [](const std::unique_ptr<Active>& seq) { return seq->finished; });
}

void Scheduler::fail_all(const Status& status) {
  for (auto& seq : active_) finish(*seq, "error", status);
  active_.clear();
  std::deque<Pending> queued;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued.swap(queue_);
  }
  for (Pending& p : queued) {
    SequenceOutcome outcome;
    outcome.status = status;
    outcome.done_reason = "error";
    outcome.done_ns = monotonic_ns();
    p.stream->finish(std::move(outcome));
    if (metrics_ != nullptr) metrics_->count_sequence("error");
  }
  publish_stats();
}

}  // namespace chimera::server
