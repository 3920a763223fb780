// Context: many sequences sharing one model, one KV pool and one thread pool, advanced together by
// decode(batch) — one pass over the weights for every token in the batch. With a prompt cache, it
// also keeps each sequence's tokens, stores the blocks each step completes and restores prefixes.
#include <fmt/format.h>

#include <algorithm>

#include "engine/engine.h"
#include "engine/model/forward.h"
#include "engine/model/model_config.h"
#include "engine/runtime/kv_cache.h"
#include "engine/runtime/prompt_cache.h"
#include "engine/runtime/thread_pool.h"

namespace chimera::engine {
namespace {

class ContextImpl final : public Context {
 public:
  ContextImpl(std::shared_ptr<const Model> model, const ContextOptions& options,
              std::unique_ptr<KvCache> cache)
      : model_(std::move(model)),
        options_(options),
        pool_(options.num_thread),
        cache_(std::move(cache)),
        forward_(model_, *cache_, pool_, options.n_batch),
        next_pos_(static_cast<size_t>(options.n_seq_max)),
        prompt_cache_(static_cast<PromptCacheImpl*>(options.prompt_cache.get())) {
    options_.num_thread = pool_.size();
    if (prompt_cache_ != nullptr) seqs_.resize(static_cast<size_t>(options.n_seq_max));
  }

  // What the sequences still hold goes to the cache as clear_sequence() would send it (a context
  // is rebuilt for another num_ctx with the same cache).
  ~ContextImpl() override {
    for (size_t seq = 0; seq < seqs_.size(); ++seq) clear_sequence(static_cast<int32_t>(seq));
  }

  Status decode(std::span<const BatchToken> batch, float* logits) override {
    if (batch.empty()) return Status::ok();
    CHIMERA_RETURN_IF_ERROR(validate(batch, logits));
    if (prompt_cache_ == nullptr) {
      forward_.run(batch, logits);
      for (const BatchToken& t : batch) cache_->set_length(t.seq, t.pos + 1);
      return Status::ok();
    }
    // A step that throws leaves its sequences' K/V half written: they store nothing more.
    for (const BatchToken& t : batch) seqs_[static_cast<size_t>(t.seq)].kv_valid = false;
    forward_.run(batch, logits);
    for (const BatchToken& t : batch) {
      cache_->set_length(t.seq, t.pos + 1);
      SeqState& s = seqs_[static_cast<size_t>(t.seq)];
      s.tokens.push_back(t.token);
      s.kv_valid = true;
    }
    for (const BatchToken& t : batch) {
      SeqState& s = seqs_[static_cast<size_t>(t.seq)];
      if (static_cast<int32_t>(s.tokens.size()) == t.pos + 1) {  // once per sequence: its last token
        prompt_cache_->store(*cache_, t.seq, s.tokens, /*finished=*/false, s.cursor);
      }
    }
    return Status::ok();
  }

  void clear_sequence(int32_t seq) override {
    if (seq < 0 || seq >= options_.n_seq_max) return;
    if (prompt_cache_ != nullptr) {
      SeqState& s = seqs_[static_cast<size_t>(seq)];
      if (s.kv_valid) prompt_cache_->store(*cache_, seq, s.tokens, /*finished=*/true, s.cursor);
      prompt_cache_->release(s.cursor);
      s.tokens.clear();
      s.kv_valid = true;
    }
    cache_->set_length(seq, 0);
  }

  int32_t restore_prefix(int32_t seq, std::span<const int32_t> tokens) override {
    if (prompt_cache_ == nullptr || seq < 0 || seq >= options_.n_seq_max || tokens.empty()) return 0;
    clear_sequence(seq);
    // The last token is always decoded: its logits are the ones the caller samples from.
    const int32_t limit = std::min<int32_t>(static_cast<int32_t>(tokens.size()) - 1,
                                            options_.n_ctx_per_seq - 1);
    SeqState& s = seqs_[static_cast<size_t>(seq)];
    const int32_t restored = prompt_cache_->restore(*cache_, seq, tokens, limit, s.cursor);
    s.tokens.assign(tokens.begin(), tokens.begin() + restored);
    cache_->set_length(seq, restored);
    return restored;
  }
  const ContextOptions& options() const override { return options_; }
  const Model& model() const override { return *model_; }
  int64_t kv_bytes() const override { return cache_->bytes(); }
  ThreadPool& pool() override { return pool_; }

 private:
  // Each sequence's tokens must continue where it stands, in order; nothing is written before the
  // whole batch is known to be valid.
  Status validate(std::span<const BatchToken> batch, const float* logits) {
    if (static_cast<int64_t>(batch.size()) > options_.n_batch) {
      return make_error(ErrorCode::kInvalidArgument,
                        "decode: batch of {} tokens exceeds the context's n_batch {}; split it",
                        batch.size(), options_.n_batch);
    }
    for (int32_t s = 0; s < options_.n_seq_max; ++s)
      next_pos_[static_cast<size_t>(s)] = cache_->length(s);
    const int32_t n_vocab = model_->config().n_vocab;
    for (size_t i = 0; i < batch.size(); ++i) {
      const BatchToken& t = batch[i];
      if (t.seq < 0 || t.seq >= options_.n_seq_max) {
        return make_error(ErrorCode::kInvalidArgument,
                          "decode: token {} names sequence {}; this context "
                          "has sequences 0..{}",
                          i, t.seq, options_.n_seq_max - 1);
      }
      if (t.token < 0 || t.token >= n_vocab) {
        return make_error(ErrorCode::kInvalidArgument,
                          "decode: token id {} at batch index {} is outside "
                          "the vocabulary (0..{})",
                          t.token, i, n_vocab - 1);
      }
      int32_t& expected = next_pos_[static_cast<size_t>(t.seq)];
      if (t.pos != expected) {
        return make_error(ErrorCode::kInvalidArgument,
                          "decode: sequence {} expects position {} next but "
                          "batch index {} has position {}",
                          t.seq, expected, i, t.pos);
      }
      if (t.pos >= options_.n_ctx_per_seq) {
        return make_error(ErrorCode::kResourceExhausted,
                          "decode: sequence {} is full (position {}, "
                          "num_ctx {}); clear it or raise num_ctx",
                          t.seq, t.pos, options_.n_ctx_per_seq);
      }
      ++expected;
      if (t.want_logits && logits == nullptr) {
        return make_error(ErrorCode::kInvalidArgument,
                          "decode: batch index {} wants logits but no "
                          "logits buffer was given",
                          i);
      }
    }
    return Status::ok();
  }

  std::shared_ptr<const Model> model_;
  ContextOptions options_;
  ThreadPool pool_;
  std::unique_ptr<KvCache> cache_;
  ForwardPass forward_;
  std::vector<int32_t> next_pos_;  // per sequence, reused by validate()
  // Prompt caching (null: off): options_ holds the shared_ptr that keeps it alive.
  PromptCacheImpl* prompt_cache_;
  struct SeqState {
    std::vector<int32_t> tokens;  // the token at every position written
    PromptCacheImpl::Cursor cursor;
    bool kv_valid = true;
  };
  std::vector<SeqState> seqs_;
};

}  // namespace

Result<std::unique_ptr<Context>> Context::create(std::shared_ptr<const Model> model,
                                                 const ContextOptions& options) {
  if (!model) return make_error(ErrorCode::kInvalidArgument, "Context::create: no model");
  if (options.n_seq_max <= 0 || options.n_ctx_per_seq <= 0 || options.n_batch <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "context options: n_seq_max {}, num_ctx {} and num_batch {} must be positive",
                      options.n_seq_max, options.n_ctx_per_seq, options.n_batch);
  }
  if (options.prompt_cache != nullptr &&
      (&options.prompt_cache->model() != model.get() || options.prompt_cache->kv_type() != options.kv_type)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "context options: the prompt cache was made for another model or KV type ({}); "
                      "a context needs one for its own model and {} KV",
                      ggml_type_name(options.prompt_cache->kv_type()), ggml_type_name(options.kv_type));
  }
  ContextOptions applied = options;
  applied.n_batch = std::min(options.n_batch, options.n_ctx_per_seq * options.n_seq_max);
  CHIMERA_ASSIGN_OR_RETURN(
      auto cache, KvCache::create(model->config(), applied.n_seq_max, applied.n_ctx_per_seq,
                                  applied.n_batch, applied.kv_type));
  return std::unique_ptr<Context>(new ContextImpl(std::move(model), applied, std::move(cache)));
}

}  // namespace chimera::engine
