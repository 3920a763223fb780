// chimera bench prefix: what the prompt cache buys an agent. Two calls share a long prefix (a system
// prompt, a data summary) and differ in a short tail; the second call's time to first token is
// measured without the cache (it computes its whole prompt) and with it (it computes only what
// follows the cached prefix), over -r repetitions, each from a fresh session and cache. The first
// token of both ways is compared: the cache must not change the answer.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/command.h"
#include "engine/engine.h"
#include "engine/model/model_config.h"
#include "engine/model/model_store.h"
#include "util/clock.h"
#include "util/cpu.h"
#include "util/json_text.h"
#include "util/strings.h"

namespace chimera::cli {
namespace {

struct BenchPrefixArgs {
  std::string model;
  int prefix = 2000;
  int tail = 100;
  int threads = 0;
  int repetitions = 3;
  int num_batch = 512;
  bool json = false;
};

struct Call {
  int64_t ttft_ns = 0;  // generate() called -> first token sampled
  int32_t computed = 0;
  int32_t cached = 0;
  int32_t first_token = -1;
};

Result<Call> timed_call(engine::Session& session, std::vector<int32_t> prompt) {
  engine::GenerateRequest request;
  request.prompt_tokens = std::move(prompt);
  request.sampling.temperature = 0.0f;
  request.num_predict = 1;
  request.ignore_eos = true;
  Call call;
  const int64_t start = monotonic_ns();
  CHIMERA_ASSIGN_OR_RETURN(engine::GenerateResult result,
                           session.generate(request, [&](const engine::TokenEvent& e) {
                             if (e.index == 0) call.ttft_ns = e.time_ns - start;
                             return true;
                           }));
  if (result.tokens.empty()) {
    return make_error(ErrorCode::kInternal, "the call generated no token ({})", result.done_reason);
  }
  call.first_token = result.tokens.front();
  call.computed = result.timings.prompt_eval_count;
  call.cached = result.prompt_cached_tokens;
  return call;
}

std::pair<double, double> mean_sd_ms(const std::vector<Call>& calls) {
  double mean = 0.0;
  for (const Call& c : calls) mean += static_cast<double>(c.ttft_ns) / 1e6;
  mean /= static_cast<double>(calls.size());
  double var = 0.0;
  for (const Call& c : calls) {
    const double d = static_cast<double>(c.ttft_ns) / 1e6 - mean;
    var += d * d;
  }
  return {mean, calls.size() > 1 ? std::sqrt(var / static_cast<double>(calls.size() - 1)) : 0.0};
}

int run_bench_prefix(const BenchPrefixArgs& args) {
  if (args.prefix < 1 || args.tail < 1 || args.repetitions < 1 || args.num_batch < 1) {
    return report_error(Status(ErrorCode::kInvalidArgument,
                               fmt::format("--prefix {}, --tail {}, -r {} and -b {} must be at least 1",
                                           args.prefix, args.tail, args.repetitions, args.num_batch)));
  }
  auto path = engine::resolve_model_path(args.model, engine::ModelStore());
  if (!path.ok()) return report_error(path.status());
  auto model = engine::Model::load(*path);
  if (!model.ok()) return report_error(model.status().with_context(args.model));
  const int32_t n_vocab = (*model)->config().n_vocab;
  engine::SessionOptions options;
  options.num_ctx = args.prefix + args.tail + 8;
  options.num_batch = args.num_batch;
  options.num_thread = args.threads;
  auto per_token = engine::PromptCache::bytes_per_token(**model, options.kv_type);
  if (!per_token.ok()) return report_error(per_token.status());

  // Token ids drawn at random (as llama-bench's prompts): the prefix, and two different tails.
  std::mt19937 rng(2000);
  auto draw = [&](int n) {
    std::vector<int32_t> out(static_cast<size_t>(n));
    for (auto& t : out) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(n_vocab));
    return out;
  };
  const std::vector<int32_t> prefix = draw(args.prefix);
  std::vector<int32_t> first = prefix, second = prefix;
  for (int32_t t : draw(args.tail)) first.push_back(t);
  for (int32_t t : draw(args.tail)) second.push_back(t);

  std::vector<Call> cold, warm;
  int threads_used = 0;
  for (int r = 0; r < args.repetitions; ++r) {
    for (bool cached : {false, true}) {
      engine::SessionOptions o = options;
      if (cached) {
        engine::PromptCacheOptions cache_options;
        cache_options.max_bytes = *per_token * options.num_ctx * 2;
        auto cache = engine::PromptCache::create(*model, options.kv_type, cache_options);
        if (!cache.ok()) return report_error(cache.status());
        o.prompt_cache = *cache;
      }
      auto session = engine::Session::create(*model, o);
      if (!session.ok()) return report_error(session.status());
      threads_used = (*session)->options().num_thread;
      auto a = timed_call(**session, first);
      if (!a.ok()) return report_error(a.status().with_context("the first call"));
      auto b = timed_call(**session, second);
      if (!b.ok()) return report_error(b.status().with_context("the second call"));
      (cached ? warm : cold).push_back(*b);
    }
  }
  const auto [cold_ms, cold_sd] = mean_sd_ms(cold);
  const auto [warm_ms, warm_sd] = mean_sd_ms(warm);
  bool same_token = true;
  for (size_t i = 0; i < cold.size(); ++i) same_token &= cold[i].first_token == warm[i].first_token;
  const std::string label = (*model)->info().synthetic ? " (dummy weights)" : "";
  if (args.json) {
    nlohmann::json out = {
        {"model", args.model},
        {"dummy_weights", (*model)->info().synthetic},
        {"cpu", cpu_model_name()},
        {"threads", threads_used},
        {"prefix_tokens", args.prefix},
        {"tail_tokens", args.tail},
        {"repetitions", args.repetitions},
        {"ttft_ms_without_cache", cold_ms},
        {"ttft_ms_without_cache_sd", cold_sd},
        {"ttft_ms_with_cache", warm_ms},
        {"ttft_ms_with_cache_sd", warm_sd},
        {"speedup", cold_ms / warm_ms},
        {"prompt_eval_count_without_cache", cold.front().computed},
        {"prompt_eval_count_with_cache", warm.front().computed},
        {"cached_tokens", warm.front().cached},
        {"same_first_token", same_token},
        {"provenance", (*model)->info().synthetic ? "synthetic" : "measured"}};
    std::printf("%s\n", json_text(out, 2).c_str());
  } else {
    std::printf("model: %s%s, %d threads, %s\n", args.model.c_str(), label.c_str(), threads_used,
                cpu_model_name().c_str());
    std::printf("two calls sharing a %d-token prefix, tails of %d tokens; second call's TTFT over %d "
                "repetitions (%s):\n",
                args.prefix, args.tail, args.repetitions,
                (*model)->info().synthetic ? "synthetic: dummy weights, timings real" : "measured");
    std::printf("| cache | prompt tokens computed | cached | TTFT ms (mean ± sd) |\n");
    std::printf("| ----- | ---------------------: | -----: | ------------------: |\n");
    std::printf("| off   | %22d | %6d | %10.1f ± %6.1f |\n", cold.front().computed, cold.front().cached,
                cold_ms, cold_sd);
    std::printf("| on    | %22d | %6d | %10.1f ± %6.1f |\n", warm.front().computed, warm.front().cached,
                warm_ms, warm_sd);
    std::printf("speedup: %.1fx lower TTFT with the cache; first token %s\n", cold_ms / warm_ms,
                same_token ? "identical both ways" : "DIFFERS (the cache changed the answer)");
  }
  return same_token ? kExitOk : kExitFailure;
}

}  // namespace

void register_bench_prefix(CLI::App& bench) {
  auto args = std::make_shared<BenchPrefixArgs>();
  auto* sub = bench.add_subcommand(
      "prefix",
      "time to first token of a call that shares a long prefix with the previous one, with and "
      "without the embedded engine's prompt cache");
  sub->add_option("-m,--model", args->model, "PATH.gguf or ollama:NAME[:TAG]")->required();
  sub->add_option("--prefix", args->prefix, "tokens both calls share")->capture_default_str();
  sub->add_option("--tail", args->tail, "tokens after the prefix, different in each call")
      ->capture_default_str();
  sub->add_option("-t,--threads", args->threads, "engine threads (0: physical cores)")
      ->capture_default_str();
  sub->add_option("-r,--repetitions", args->repetitions, "repetitions (a fresh session each)")
      ->capture_default_str();
  sub->add_option("-b,--num-batch", args->num_batch, "prompt tokens per forward pass")
      ->capture_default_str();
  sub->add_flag("--json", args->json, "the figures as JSON");
  sub->callback([args] { set_exit_code(run_bench_prefix(*args)); });
}

}  // namespace chimera::cli
