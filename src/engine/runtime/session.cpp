// Session: one sequence over a Context. Renders and tokenizes the prompt, checks it against
// num_ctx, restores the longest prefix the prompt cache holds (when it has one), prefills the rest
// in num_batch chunks, then samples and decodes one token at a time, streaming safe text.
#include <fmt/format.h>

#include <algorithm>

#include "engine/engine.h"
#include "engine/grammar/grammar_mask.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer/reasoning.h"
#include "util/clock.h"

namespace chimera::engine {
namespace {

class SessionImpl final : public Session {
 public:
  SessionImpl(std::shared_ptr<const Model> model, const SessionOptions& options,
              std::unique_ptr<Context> context, int64_t setup_ns)
      : model_(std::move(model)),
        options_(options),
        context_(std::move(context)),
        pending_load_ns_(model_->load_ns() + setup_ns) {
    options_.num_thread = context_->options().num_thread;
    options_.num_batch = context_->options().n_batch;
    logits_.resize(static_cast<size_t>(model_->config().n_vocab));
    batch_.reserve(static_cast<size_t>(options_.num_batch));
  }

  const SessionOptions& options() const override { return options_; }

  Result<std::vector<int32_t>> render_prompt(const GenerateRequest& request) const override {
    const Tokenizer& tok = model_->tokenizer();
    int sources =
        !request.messages.empty() + !request.prompt.empty() + !request.prompt_tokens.empty();
    if (sources > 1) {
      return make_error(ErrorCode::kInvalidArgument,
                        "generate: give exactly one of messages, prompt or prompt_tokens (got {})",
                        sources);
    }
    if (sources == 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "generate: the request has no prompt, messages or prompt_tokens");
    }
    if (!request.prompt_tokens.empty()) {
      for (int32_t id : request.prompt_tokens) {
        if (id < 0 || id >= model_->config().n_vocab) {
          return make_error(ErrorCode::kInvalidArgument,
                            "prompt token {} is outside the vocabulary (0..{})", id,
                            model_->config().n_vocab - 1);
        }
      }
      return request.prompt_tokens;
    }
    if (request.raw)
      return tok.encode(request.prompt, /*add_special=*/true, /*parse_special=*/true);
    std::vector<ChatMessage> messages;
    if (!request.system.empty()) messages.push_back({"system", request.system});
    if (!request.messages.empty()) {
      messages.insert(messages.end(), request.messages.begin(), request.messages.end());
    } else {
      messages.push_back({"user", request.prompt});
    }
    CHIMERA_RETURN_IF_ERROR(check_think(model_->chat_family(), request.think,
                                        model_->info().architecture,
                                        fmt::format("think {}", think_name(request.think))));
    std::string text = render_chat(model_->chat_family(), messages, /*add_generation_prompt=*/true,
                                   /*date=*/{}, request.think);
    return tok.encode(text, /*add_special=*/true, /*parse_special=*/true);
  }

  Result<GenerateResult> generate(const GenerateRequest& request,
                                  const OnToken& on_token) override {
    const int64_t start_ns = monotonic_ns();
    GenerateResult result;
    result.timings.load_ns = pending_load_ns_;
    CHIMERA_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, render_prompt(request));
    if (prompt.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "generate: the prompt is empty (no tokens)");
    }
    CHIMERA_RETURN_IF_ERROR(fit_context(request, prompt, result));
    pending_load_ns_ = 0;  // only the first call of a session pays the load

    // Prefill in num_batch chunks; logits only for the last prompt token unless all are wanted.
    // The cached prefix is copied in first (its time counts as prefill); a caller that wants every
    // position's logits gets them computed.
    const int64_t prefill_start_ns = monotonic_ns();
    context_->clear_sequence(0);
    const int32_t n_prompt = static_cast<int32_t>(prompt.size());
    const int32_t n_vocab = model_->config().n_vocab;
    if (request.prompt_logits != nullptr) {
      request.prompt_logits->assign(static_cast<size_t>(n_prompt) * static_cast<size_t>(n_vocab),
                                    0.0f);
    }
    const int32_t cached = request.prompt_logits == nullptr ? context_->restore_prefix(0, prompt) : 0;
    result.prompt_cached_tokens = cached;
    for (int32_t begin = cached; begin < n_prompt; begin += options_.num_batch) {
      if (request.cancelled && request.cancelled())
        return finish_cancelled(std::move(result), start_ns);
      int32_t end = std::min(n_prompt, begin + options_.num_batch);
      batch_.clear();
      for (int32_t p = begin; p < end; ++p) {
        bool want = request.prompt_logits != nullptr || p == n_prompt - 1;
        batch_.push_back({prompt[static_cast<size_t>(p)], 0, p, want});
      }
      float* out = request.prompt_logits != nullptr
                       ? request.prompt_logits->data() +
                             static_cast<size_t>(begin) * static_cast<size_t>(n_vocab)
                       : logits_.data();
      CHIMERA_RETURN_IF_ERROR(context_->decode(batch_, out));
    }
    if (request.prompt_logits != nullptr) {
      std::copy_n(request.prompt_logits->data() +
                      static_cast<size_t>(n_prompt - 1) * static_cast<size_t>(n_vocab),
                  n_vocab, logits_.data());
    }
    const int64_t prefill_end_ns = monotonic_ns();
    result.timings.prompt_eval_ns = prefill_end_ns - prefill_start_ns;
    result.timings.prompt_eval_count = n_prompt - cached;

    CHIMERA_RETURN_IF_ERROR(decode_loop(request, on_token, prompt, result));
    const int64_t end_ns = monotonic_ns();
    result.timings.total_ns = end_ns - start_ns + result.timings.load_ns;
    return result;
  }

 private:
  // A prompt that leaves no room for a generated token is an error, or with truncate_prompt keeps
  // its end (and the BOS token) and says how much was dropped. Never silent.
  Status fit_context(const GenerateRequest& request, std::vector<int32_t>& prompt,
                     GenerateResult& result) {
    const int32_t n_ctx = options_.num_ctx;
    const int32_t n = static_cast<int32_t>(prompt.size());
    result.prompt_tokens = n;
    if (n < n_ctx) return Status::ok();
    if (!request.truncate_prompt) {
      return make_error(
          ErrorCode::kOutOfRange,
          "the prompt has {} tokens but num_ctx is {}; it must leave room for at least one "
          "generated token: raise num_ctx or shorten the prompt",
          n, n_ctx);
    }
    // Keep room for what is asked to be generated, up to half the context.
    int32_t room = request.num_predict > 0 ? std::min(request.num_predict, n_ctx / 2) : n_ctx / 2;
    int32_t keep = std::max(1, n_ctx - std::max(1, room));
    const bool has_bos =
        model_->tokenizer().add_bos() && prompt.front() == model_->tokenizer().bos_id();
    std::vector<int32_t> kept;
    kept.reserve(static_cast<size_t>(keep));
    if (has_bos && keep > 1) kept.push_back(prompt.front());
    kept.insert(kept.end(), prompt.end() - (keep - static_cast<int32_t>(kept.size())),
                prompt.end());
    result.prompt_truncated = true;
    result.prompt_tokens_dropped = n - static_cast<int32_t>(kept.size());
    result.prompt_tokens = static_cast<int32_t>(kept.size());
    prompt = std::move(kept);
    return Status::ok();
  }

  Status decode_loop(const GenerateRequest& request, const OnToken& on_token,
                     const std::vector<int32_t>& prompt, GenerateResult& result) {
    const Tokenizer& tok = model_->tokenizer();
    const int32_t n_sample = std::min(model_->config().n_vocab, tok.n_vocab());
    Sampler sampler(request.sampling, n_sample);
    std::unique_ptr<GrammarConstraint> constraint;
    if (request.grammar) {
      CHIMERA_ASSIGN_OR_RETURN(constraint, GrammarConstraint::create(request.grammar, model_->grammar_vocabulary()));
    }
    TextStreamer streamer(tok, request.stop);
    std::vector<int32_t> history = prompt;
    const int32_t limit = request.num_predict >= 0 ? request.num_predict : INT32_MAX;
    history.reserve(prompt.size() + static_cast<size_t>(std::min(limit, options_.num_ctx)));
    int32_t pos = static_cast<int32_t>(prompt.size());
    int64_t first_token_ns = 0, last_token_ns = 0;
    result.done_reason = "length";
    for (int32_t generated = 0; generated < limit;) {
      int32_t token = 0;
      if (constraint) {
        // Tokens left: the limit's and the context's (the token at position num_ctx is still emitted).
        const int64_t left = std::min<int64_t>(int64_t{limit} - generated, int64_t{options_.num_ctx} - pos + 1);
        CHIMERA_ASSIGN_OR_RETURN(token, sample_constrained(sampler, *constraint, logits_.data(), n_sample, history, left));
      } else {
        token = sampler.sample(logits_.data(), history);
      }
      last_token_ns = monotonic_ns();
      if (generated == 0) first_token_ns = last_token_ns;
      ++generated;
      history.push_back(token);
      result.tokens.push_back(token);
      const bool end_of_generation = !request.ignore_eos && tok.is_end_of_generation(token);
      std::string text = end_of_generation ? std::string() : streamer.push(token);
      // The context holds every token but the last: a token at position num_ctx cannot be decoded.
      const bool context_full = pos >= options_.num_ctx;
      const bool ending =
          end_of_generation || streamer.stopped() || generated == limit || context_full;
      if (ending && !streamer.stopped()) text += streamer.finish();
      if (end_of_generation || streamer.stopped()) result.done_reason = "stop";
      if (on_token && !on_token(TokenEvent{token, text, last_token_ns, generated - 1})) {
        result.done_reason = "cancelled";
        break;
      }
      if (ending) break;
      if (request.cancelled && request.cancelled()) {
        result.done_reason = "cancelled";
        break;
      }
      BatchToken next{token, 0, pos, true};
      CHIMERA_RETURN_IF_ERROR(
          context_->decode(std::span<const BatchToken>(&next, 1), logits_.data()));
      ++pos;
    }
    if (result.done_reason == "cancelled") streamer.finish();
    // Closed in time by the budget: a complete document, not a cut one (clients read "length" as
    // truncated output and refuse to parse it).
    if (result.done_reason == "length" && constraint && constraint->complete()) result.done_reason = "stop";
    result.text = streamer.text();
    result.timings.eval_count = static_cast<int32_t>(result.tokens.size());
    result.timings.eval_ns = last_token_ns - first_token_ns;
    return Status::ok();
  }

  Result<GenerateResult> finish_cancelled(GenerateResult result, int64_t start_ns) {
    result.done_reason = "cancelled";
    result.timings.total_ns = monotonic_ns() - start_ns + result.timings.load_ns;
    return result;
  }

  std::shared_ptr<const Model> model_;
  SessionOptions options_;
  std::unique_ptr<Context> context_;
  int64_t pending_load_ns_;
  std::vector<float> logits_;
  std::vector<BatchToken> batch_;
};

}  // namespace

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model,
                                                 const SessionOptions& options) {
  if (!model) return make_error(ErrorCode::kInvalidArgument, "Session::create: no model");
  if (options.num_ctx <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "num_ctx is {}; it must be positive",
                      options.num_ctx);
  }
  if (options.num_batch <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "num_batch is {}; it must be positive",
                      options.num_batch);
  }
  Stopwatch watch;
  ContextOptions context_options;
  context_options.n_seq_max = 1;
  context_options.n_ctx_per_seq = options.num_ctx;
  context_options.n_batch = std::min(options.num_batch, options.num_ctx);
  context_options.num_thread = options.num_thread;
  context_options.kv_type = options.kv_type;
  context_options.prompt_cache = options.prompt_cache;
  CHIMERA_ASSIGN_OR_RETURN(auto context, Context::create(model, context_options));
  return std::unique_ptr<Session>(
      new SessionImpl(std::move(model), options, std::move(context), watch.elapsed_ns()));
}

}  // namespace chimera::engine
