// The prompt cache in `chimera serve`: a request that starts like an earlier one computes only the
// rest (prompt_eval_count counts only that, as Ollama; OpenAI's usage names the cached tokens), the
// answer is the one computed without the cache, /metrics counts cached and computed prompt tokens,
// --cache-ram off turns it off, and the budget holds over 200 requests with random prefixes.
#include <gtest/gtest.h>

#include <random>

#include "engine/engine.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/server_test_support.h"
#include "support/test_support.h"

namespace chimera::testing {
namespace {

const Json kGreedy = {{"temperature", 0}, {"num_predict", 8}, {"ignore_eos", true}};

// A raw prompt of about 3 tokens a word: long enough to span several cache blocks.
std::string long_prompt(int words, const std::string& tail) {
  std::string text;
  for (int i = 0; i < words; ++i) text += "word" + std::to_string(i % 37) + " ";
  return text + tail;
}

Json generate(httplib::Client& client, const std::string& prompt) {
  Json body = {{"model", "tiny"}, {"prompt", prompt}, {"raw", true}, {"stream", false},
               {"options", kGreedy}};
  auto res = client.Post("/api/generate", body.dump(), "application/json");
  if (!res || res->status != 200) {
    ADD_FAILURE() << "POST /api/generate: " << (res ? res->body : "no response");
    return Json::object();
  }
  return Json::parse(res->body);
}

TEST(PromptCacheServerTest, ASharedPrefixIsComputedOnceAndTheAnswerIsUnchanged) {
  auto server = start_server(tiny_config());  // --cache-ram auto
  ASSERT_NE(server, nullptr);
  server::ServerConfig off_config = tiny_config();
  off_config.cache_ram_bytes = 0;
  auto uncached = start_server(off_config);
  ASSERT_NE(uncached, nullptr);
  auto client = client_for(*server);
  auto plain = client_for(*uncached);

  const std::string prefix = long_prompt(60, "");
  const Json first = generate(client, prefix + "alpha beta");
  const Json second = generate(client, prefix + "gamma delta epsilon");
  const Json reference = generate(plain, prefix + "gamma delta epsilon");
  ASSERT_TRUE(first.contains("prompt_eval_count") && second.contains("prompt_eval_count"));
  ASSERT_TRUE(reference.contains("prompt_eval_count"));

  // Without the cache every prompt token is evaluated; with it only what follows the shared prefix
  // (block-granular: at most one block more than the tail).
  const int total = reference["prompt_eval_count"].get<int>();
  const int computed = second["prompt_eval_count"].get<int>();
  EXPECT_GT(total, 150);
  EXPECT_LT(computed, total / 2) << second.dump();
  EXPECT_GT(computed, 0);
  EXPECT_EQ(first["prompt_eval_count"].get<int>(), static_cast<int>(generate(plain, prefix + "alpha beta")
                                                                        ["prompt_eval_count"]
                                                                            .get<int>()))
      << "the first request finds nothing cached";
  // The tiny model's greedy answer is the same bits either way.
  EXPECT_EQ(second["response"], reference["response"]);

  // /metrics: the cached and computed prompt tokens add up to the prompt tokens.
  const std::string metrics = scrape_metrics(*server);
  const double cached = metric_value(metrics, "chimera_prompt_cached_tokens_total", "model=\"tiny\"");
  const double computed_total = metric_value(metrics, "chimera_prompt_computed_tokens_total", "model=\"tiny\"");
  const double prompt_total = metric_value(metrics, "chimera_prompt_tokens_total", "model=\"tiny\"");
  EXPECT_EQ(cached, total - computed);
  EXPECT_EQ(computed_total, first["prompt_eval_count"].get<int>() + computed);
  EXPECT_EQ(cached + computed_total, prompt_total);
  EXPECT_GT(metric_value(metrics, "chimera_prompt_cache_bytes"), 0);
  EXPECT_LE(metric_value(metrics, "chimera_prompt_cache_bytes"),
            metric_value(metrics, "chimera_prompt_cache_max_bytes"));
  // The server without a cache holds nothing and counts nothing cached.
  const std::string off_metrics = scrape_metrics(*uncached);
  EXPECT_EQ(metric_value(off_metrics, "chimera_prompt_cache_max_bytes"), 0);
  EXPECT_EQ(metric_value(off_metrics, "chimera_prompt_cached_tokens_total", "model=\"tiny\""), 0);
}

TEST(PromptCacheServerTest, OpenAiUsageNamesTheCachedPromptTokens) {
  auto server = start_server(tiny_config());
  ASSERT_NE(server, nullptr);
  auto client = client_for(*server);
  Json body = {{"model", "tiny"}, {"prompt", long_prompt(50, "one")}, {"max_tokens", 4}, {"temperature", 0}};
  auto first = client.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(first && first->status == 200) << (first ? first->body : "no response");
  body["prompt"] = long_prompt(50, "two");
  auto second = client.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(second && second->status == 200) << (second ? second->body : "no response");
  const Json a = Json::parse(first->body)["usage"];
  const Json b = Json::parse(second->body)["usage"];
  EXPECT_EQ(a["prompt_tokens_details"]["cached_tokens"], 0);
  // prompt_tokens still counts the whole prompt, as OpenAI's usage does.
  EXPECT_EQ(b["prompt_tokens"], a["prompt_tokens"]);
  EXPECT_GT(b["prompt_tokens_details"]["cached_tokens"].get<int>(), b["prompt_tokens"].get<int>() / 2);
  EXPECT_LT(b["prompt_tokens_details"]["cached_tokens"].get<int>(), b["prompt_tokens"].get<int>());
}

server::SequenceOutcome wait_outcome(server::SequenceStream& stream) {
  std::vector<std::string> pieces;
  while (!stream.wait(pieces, std::chrono::milliseconds(100))) {
  }
  return stream.outcome();
}

// 200 requests, four at a time, whose prompts take one of a few prefixes or none and random tails,
// against a cache of a few blocks: it keeps evicting, never holds more than its budget, and the
// requests that hit it give what the same prompt gives without it.
TEST(PromptCacheServerTest, TheBudgetHoldsOverTwoHundredRequestsWithRandomPrefixes) {
  auto loaded = engine::Model::load(tiny_gemma_path());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  std::shared_ptr<const engine::Model> model = *loaded;
  server::SchedulerOptions options;
  options.model_name = "tiny";
  options.n_seq = 4;
  options.n_ctx = 256;
  options.num_thread = 1;
  options.prefill_chunk = 16;
  auto per_token = engine::PromptCache::bytes_per_token(*model, options.kv_type);
  ASSERT_TRUE(per_token.ok());
  options.prompt_cache_bytes = 400 * *per_token;  // a few blocks: less than the prompts of a round
  server::Metrics metrics;
  auto scheduler = server::Scheduler::create(model, options, &metrics);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status().message();
  options.prompt_cache_bytes = 0;
  options.n_seq = 1;
  auto reference = server::Scheduler::create(model, options, nullptr);
  ASSERT_TRUE(reference.ok());

  std::mt19937 rng(19);
  std::vector<std::vector<int32_t>> prefixes;
  for (int i = 0; i < 5; ++i) {
    std::vector<int32_t> p = {2};
    for (int k = 0; k < 20 + 30 * i; ++k) p.push_back(10 + static_cast<int32_t>(rng() % 400));
    prefixes.push_back(p);
  }
  int64_t cached_tokens = 0;
  for (int round = 0; round < 50; ++round) {
    std::vector<server::SequenceRequest> requests(4);
    std::vector<std::shared_ptr<server::SequenceStream>> streams;
    for (auto& request : requests) {
      const size_t pick = rng() % (prefixes.size() + 1);  // one in six: no shared prefix
      request.prompt = pick < prefixes.size() ? prefixes[pick] : std::vector<int32_t>{2};
      const int tail = 1 + static_cast<int>(rng() % 40);
      for (int k = 0; k < tail; ++k) request.prompt.push_back(10 + static_cast<int32_t>(rng() % 400));
      request.sampling.temperature = 0.0f;
      request.num_predict = 4;
      request.ignore_eos = true;
      auto stream = (*scheduler)->submit(request);
      ASSERT_TRUE(stream.ok()) << stream.status().message();
      streams.push_back(*stream);
    }
    for (size_t i = 0; i < streams.size(); ++i) {
      const server::SequenceOutcome out = wait_outcome(*streams[i]);
      ASSERT_TRUE(out.status.is_ok()) << out.status.message();
      cached_tokens += out.prompt_cached_tokens;
      if (round % 10 == 0 && out.prompt_cached_tokens > 0) {
        auto again = (*reference)->submit(requests[i]);
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(wait_outcome(**again).tokens, out.tokens) << "round " << round;
      }
    }
    const engine::PromptCacheStats s = (*scheduler)->stats().prompt_cache;
    ASSERT_LE(s.bytes, s.max_bytes) << "round " << round;
  }
  const engine::PromptCacheStats s = (*scheduler)->stats().prompt_cache;
  EXPECT_LE(s.peak_bytes, s.max_bytes);
  EXPECT_GT(s.evicted_blocks, 0) << "the budget was small enough to evict";
  EXPECT_GT(cached_tokens, 1000) << "shared prefixes were reused";
  const std::string text = metrics.render();
  EXPECT_EQ(metric_value(text, "chimera_prompt_cached_tokens_total", "model=\"tiny\""), cached_tokens);
  EXPECT_EQ(metric_value(text, "chimera_prompt_cache_evicted_blocks_total"), s.evicted_blocks);
}

TEST(PromptCacheServerTest, CacheRamIsAFlagAndABadValueIsRefused) {
  CommandResult help = run_chimera({"serve", "--help"});
  EXPECT_NE(help.out.find("--cache-ram"), std::string::npos);
  CommandResult bad = run_chimera({"serve", "-m", tiny_gemma_path(), "--cache-ram", "lots", "--port", "0"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--cache-ram 'lots'"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace chimera::testing
