// Pieces of the server checked on their own: durations, option checks, JSON output of arbitrary
// bytes, prompt fitting, and the Prometheus text.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "server/generation.h"
#include "server/json_util.h"
#include "server/metrics.h"
#include "server/server_test_support.h"

namespace chimera::testing {
namespace {

using server::parse_duration_ns;

TEST(KeepAliveTest, GoDurationsAndSeconds) {
  EXPECT_EQ(*parse_duration_ns("5m"), 300'000'000'000);
  EXPECT_EQ(*parse_duration_ns("1h30m"), 5'400'000'000'000);
  EXPECT_EQ(*parse_duration_ns("300ms"), 300'000'000);
  EXPECT_EQ(*parse_duration_ns("1.5s"), 1'500'000'000);
  EXPECT_EQ(*parse_duration_ns("0"), 0);
  EXPECT_EQ(*parse_duration_ns("42"), 42'000'000'000);
  EXPECT_LT(*parse_duration_ns("-1"), 0);
  EXPECT_LT(*parse_duration_ns("-5m"), 0);
  EXPECT_FALSE(parse_duration_ns("soon").ok());
  EXPECT_FALSE(parse_duration_ns("5 parsecs").ok());
  EXPECT_FALSE(parse_duration_ns("").ok());
  EXPECT_EQ(*server::parse_keep_alive(server::Json(0)), 0);
  EXPECT_EQ(*server::parse_keep_alive(server::Json(2.5)), 2'500'000'000);
  EXPECT_LT(*server::parse_keep_alive(server::Json(-1)), 0);
  EXPECT_FALSE(server::parse_keep_alive(server::Json(true)).ok());
}

TEST(OptionsTest, OllamaTypesAreChecked) {
  llm::Options options;
  bool ignore_eos = false;
  std::vector<std::string> ignored;
  auto parse = [&](const char* text) {
    options = llm::Options();
    ignored.clear();
    return server::parse_ollama_options(server::Json::parse(text), "options", options, ignore_eos, ignored);
  };
  ASSERT_TRUE(parse(R"({"num_ctx": 2048.0, "temperature": 0, "stop": "\n", "ignore_eos": true, "whatever": 1})").is_ok());
  EXPECT_EQ(options.num_ctx, 2048);
  EXPECT_EQ(options.temperature, 0.0);
  EXPECT_EQ(options.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(ignore_eos);
  EXPECT_TRUE(ignored.empty());
  EXPECT_FALSE(parse(R"({"top_k": "40"})").is_ok());
  EXPECT_FALSE(parse(R"({"stop": [1]})").is_ok());
  EXPECT_FALSE(parse(R"({"use_mmap": "yes"})").is_ok());
  ASSERT_TRUE(parse(R"({"presence_penalty": 0, "typical_p": 0.5, "frequency_penalty": 1})").is_ok());
  EXPECT_EQ(ignored, (std::vector<std::string>{"typical_p", "frequency_penalty"}));
}

TEST(OptionsTest, RangesAreChecked) {
  llm::Options o;
  EXPECT_TRUE(server::validate_options(o).is_ok());
  o.num_predict = -2;  // Ollama: fill the context
  EXPECT_TRUE(server::validate_options(o).is_ok());
  o.num_ctx = -5;
  Status s = server::validate_options(o);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("num_ctx is -5"), std::string::npos) << s.message();
}

TEST(JsonOutputTest, InvalidUtf8IsReplacedNotThrown) {
  std::string out;
  server::append_json_string(out, std::string("ok \xC3\xA9 \xFF \xE2\x82 \"q\" \n\x01"));
  server::Json parsed = server::Json::parse(out);  // must be valid JSON
  EXPECT_EQ(parsed.get<std::string>(), "ok \xC3\xA9 \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD \"q\" \n\x01");
  server::Json object = {{"text", std::string("\xC0", 1)}};
  EXPECT_NO_THROW(server::dump_json(object));
  EXPECT_EQ(server::rfc3339_utc(1'700'000'000'123'456'789), "2023-11-14T22:13:20.123456789Z");
}

TEST(PromptFitTest, OllamaKeepsTheEndAndOpenAIRefuses) {
  auto model = engine::Model::load(tiny_gemma_path());
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> prompt = {2};
  for (int i = 0; i < 299; ++i) prompt.push_back(100 + i % 50);
  server::GenerationRequest request;
  request.options.num_ctx = 100;
  request.options.num_predict = 10;
  server::GenerationDefaults defaults;
  auto fitted = server::prepare_sequence(**model, request, prompt, llm::Options(), defaults, 0);
  ASSERT_TRUE(fitted.ok()) << fitted.status().message();
  EXPECT_TRUE(fitted->prompt_truncated);
  // Room for the 10 tokens asked for: 90 kept, BOS first, then the last 89.
  ASSERT_EQ(fitted->request.prompt.size(), 90u);
  EXPECT_EQ(fitted->request.prompt[0], 2);
  EXPECT_TRUE(std::equal(fitted->request.prompt.begin() + 1, fitted->request.prompt.end(), prompt.end() - 89));
  request.truncate = false;
  auto refused = server::prepare_sequence(**model, request, prompt, llm::Options(), defaults, 0);
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kOutOfRange);
  // num_ctx beyond the trained context (4096) is lowered to it, as Ollama does.
  request.options.num_ctx = 100000;
  auto clamped = server::prepare_sequence(**model, request, {2, 3}, llm::Options(), defaults, 0);
  ASSERT_TRUE(clamped.ok());
  EXPECT_EQ(clamped->num_ctx, 4096);
  // Model defaults apply under the request's own options.
  llm::Options model_defaults;
  model_defaults.temperature = 0.1;
  model_defaults.top_k = 7;
  request.options.top_k = 3;
  auto merged = server::prepare_sequence(**model, request, {2, 3}, model_defaults, defaults, 0);
  ASSERT_TRUE(merged.ok());
  EXPECT_FLOAT_EQ(merged->request.sampling.temperature, 0.1f);
  EXPECT_EQ(merged->request.sampling.top_k, 3);
}

TEST(MetricsTest, PrometheusTextHasCumulativeBuckets) {
  server::Histogram h({0.1, 1.0});
  h.observe(0.05);
  h.observe(0.1);  // "le" is inclusive
  h.observe(0.5);
  h.observe(7.0);
  std::string out;
  h.render("x_seconds", out);
  EXPECT_EQ(metric_value(out, "x_seconds_bucket", "le=\"0.1\""), 2);
  EXPECT_EQ(metric_value(out, "x_seconds_bucket", "le=\"1\""), 3);
  EXPECT_EQ(metric_value(out, "x_seconds_bucket", "le=\"+Inf\""), 4);
  EXPECT_EQ(metric_value(out, "x_seconds_count"), 4);
  EXPECT_DOUBLE_EQ(metric_value(out, "x_seconds_sum"), 7.65);

  server::Metrics metrics;
  metrics.count_request("/api/chat", 200);
  metrics.count_request("/api/chat", 200);
  metrics.count_request("/api/chat", 400);
  metrics.count_tokens("m\"1", 10, 3);
  metrics.set_gauge_source([] {
    server::SchedulerGauges g;
    g.active = 2;
    g.kv_used_cells = 50;
    g.kv_capacity_cells = 200;
    return g;
  });
  std::string text = metrics.render();
  EXPECT_EQ(metric_value(text, "chimera_http_requests_total", "endpoint=\"/api/chat\",status=\"200\""), 2);
  EXPECT_EQ(metric_value(text, "chimera_http_requests_total", "endpoint=\"/api/chat\",status=\"400\""), 1);
  EXPECT_EQ(metric_value(text, "chimera_generated_tokens_total", "model=\"m\\\"1\""), 3);
  EXPECT_EQ(metric_value(text, "chimera_active_sequences"), 2);
  EXPECT_DOUBLE_EQ(metric_value(text, "chimera_kv_cache_usage_ratio"), 0.25);
  EXPECT_NE(text.find("# TYPE chimera_time_to_first_token_seconds histogram"), std::string::npos);
}

}  // namespace
}  // namespace chimera::testing
