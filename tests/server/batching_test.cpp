// Continuous batching: sequences stepped together give what each gives alone, every sampling option
// reaches the sampler, long prompts are prefilled in chunks between decode steps, admission respects
// --parallel and the KV budget, and a client that leaves frees its sequence at once.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "engine/engine.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/server_test_support.h"
#include "util/clock.h"

namespace chimera::testing {
namespace {

std::shared_ptr<const engine::Model> load(const std::string& path) {
  auto model = engine::Model::load(path);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? *model : nullptr;
}

std::vector<int32_t> prompt_of(int seed, int length) {
  std::vector<int32_t> prompt = {2};  // BOS of the synthetic vocabulary
  for (int i = 1; i < length; ++i) prompt.push_back(10 + (seed * 37 + i * 11) % 400);
  return prompt;
}

// The engine's single-sequence path, independent of the scheduler.
std::vector<int32_t> generate_alone(const std::shared_ptr<const engine::Model>& model,
                                    const std::vector<int32_t>& prompt, const engine::SamplingOptions& sampling,
                                    int num_predict) {
  engine::SessionOptions options;
  options.num_ctx = 512;
  options.num_thread = 1;
  auto session = engine::Session::create(model, options);
  EXPECT_TRUE(session.ok());
  engine::GenerateRequest request;
  request.prompt_tokens = prompt;
  request.sampling = sampling;
  request.num_predict = num_predict;
  request.ignore_eos = true;
  auto result = (*session)->generate(request, {});
  EXPECT_TRUE(result.ok()) << result.status().message();
  return result.ok() ? result->tokens : std::vector<int32_t>();
}

server::SequenceOutcome wait_outcome(server::SequenceStream& stream) {
  std::vector<std::string> pieces;
  while (!stream.wait(pieces, std::chrono::milliseconds(100))) {
  }
  return stream.outcome();
}

TEST(SchedulerTest, BatchedSequencesMatchTheSingleSequencePathForEverySamplingOption) {
  auto model = load(tiny_gemma_path());
  ASSERT_NE(model, nullptr);
  std::vector<engine::SamplingOptions> samplings(4);
  samplings[0].temperature = 0.0f;  // greedy
  samplings[1].temperature = 0.9f;
  samplings[1].seed = 11;
  samplings[1].top_k = 20;
  samplings[2].temperature = 1.2f;
  samplings[2].seed = 5;
  samplings[2].top_p = 0.7f;
  samplings[2].min_p = 0.05f;
  samplings[3].temperature = 0.0f;
  samplings[3].repeat_penalty = 1.5f;
  samplings[3].repeat_last_n = 16;

  server::SchedulerOptions options;
  options.model_name = "tiny";
  options.n_seq = 4;
  options.n_ctx = 512;
  options.num_thread = 1;
  options.prefill_chunk = 7;  // prompts of 40 tokens arrive in several chunks, mixed with decode rows
  auto scheduler = server::Scheduler::create(model, options, nullptr);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status().message();
  std::vector<std::shared_ptr<server::SequenceStream>> streams;
  for (int i = 0; i < 4; ++i) {
    server::SequenceRequest request;
    request.prompt = prompt_of(i, 20 + 10 * i);
    request.sampling = samplings[static_cast<size_t>(i)];
    request.num_predict = 24;
    request.ignore_eos = true;
    request.received_ns = monotonic_ns();
    auto stream = (*scheduler)->submit(request);
    ASSERT_TRUE(stream.ok()) << stream.status().message();
    streams.push_back(*stream);
  }
  for (int i = 0; i < 4; ++i) {
    server::SequenceOutcome outcome = wait_outcome(*streams[static_cast<size_t>(i)]);
    ASSERT_TRUE(outcome.status.is_ok()) << outcome.status.message();
    EXPECT_EQ(outcome.done_reason, "length");
    EXPECT_EQ(outcome.eval_count, 24);
    std::vector<int32_t> alone = generate_alone(model, prompt_of(i, 20 + 10 * i), samplings[static_cast<size_t>(i)], 24);
    EXPECT_EQ(outcome.tokens, alone) << "sequence " << i << " differs from the same request run alone";
  }
}

TEST(SchedulerTest, KvBudgetBoundsAdmission) {
  auto model = load(slow_gemma_path());
  ASSERT_NE(model, nullptr);
  server::SchedulerOptions options;
  options.model_name = "slow";
  options.n_seq = 4;
  options.n_ctx = 256;
  options.kv_cells = 256;  // three requests of 20 + 60 cells fit, a fourth does not
  options.num_thread = 1;
  auto scheduler = server::Scheduler::create(model, options, nullptr);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status().message();
  std::vector<std::shared_ptr<server::SequenceStream>> streams;
  for (int i = 0; i < 4; ++i) {
    server::SequenceRequest request;
    request.prompt = prompt_of(i, 20);
    request.sampling.temperature = 0.0f;
    request.num_predict = 60;
    request.ignore_eos = true;
    auto stream = (*scheduler)->submit(request);
    ASSERT_TRUE(stream.ok());
    streams.push_back(*stream);
  }
  EXPECT_TRUE(wait_until(
      [&] {
        server::SchedulerStats s = (*scheduler)->stats();
        return s.active == 3 && s.queued == 1 && s.kv_reserved_cells == 240;
      },
      std::chrono::seconds(20)))
      << "expected 3 running and 1 waiting for KV cells";
  for (auto& stream : streams) EXPECT_EQ(wait_outcome(*stream).eval_count, 60);
  server::SchedulerStats s = (*scheduler)->stats();
  EXPECT_EQ(s.active, 0);
  EXPECT_EQ(s.kv_reserved_cells, 0);
}

// N concurrent greedy requests over HTTP return what the same requests return one at a time.
TEST(BatchingHttpTest, ConcurrentGreedyRequestsMatchSequentialOnes) {
  server::ServerConfig config = tiny_config();
  config.models = {"slow=" + slow_gemma_path()};  // long enough per request that they overlap
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  const std::vector<std::string> prompts = {"the first prompt", "a second, longer prompt about things",
                                            "three", "number four is here", "five five five", "six"};
  auto ask = [&](const std::string& prompt) {
    auto client = client_for(*server);
    Json body = {{"model", "slow"}, {"prompt", prompt}, {"stream", true},
                 {"options", {{"temperature", 0}, {"num_predict", 40}, {"ignore_eos", true}}}};
    auto res = client.Post("/api/generate", body.dump(), "application/json");
    EXPECT_TRUE(res && res->status == 200);
    std::string text;
    if (!res) return text;
    for (const Json& line : parse_ndjson(res->body)) text += line.value("response", "");
    return text;
  };
  std::vector<std::string> sequential;
  for (const std::string& p : prompts) sequential.push_back(ask(p));
  const double steps_sequential = metric_value(scrape_metrics(*server), "chimera_decode_steps_total");
  std::vector<std::future<std::string>> futures;
  for (const std::string& p : prompts) futures.push_back(std::async(std::launch::async, ask, p));
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(futures[i].get(), sequential[i]) << "prompt " << i;
    EXPECT_FALSE(sequential[i].empty());
  }
  // They really ran together: the same work took fewer forward steps.
  const double steps_concurrent =
      metric_value(scrape_metrics(*server), "chimera_decode_steps_total") - steps_sequential;
  EXPECT_LT(steps_concurrent, steps_sequential * 0.75);
}

TEST(BatchingHttpTest, LongPromptIsPrefilledInChunksBetweenDecodeSteps) {
  server::ServerConfig config = tiny_config();
  config.ctx = 4096;
  config.prefill_chunk = 8;
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  // A: a long generation. Once it streams, B arrives with a 600-token prompt.
  RawClient a(server->port());
  Json a_body = {{"model", "tiny"}, {"prompt", "a"}, {"raw", true},
                 {"options", {{"temperature", 0}, {"num_predict", 3000}, {"ignore_eos", true}}}};
  ASSERT_TRUE(a.send_all(http_post("/api/generate", a_body.dump())));
  ASSERT_TRUE(a.read_until("\"done\":false", std::chrono::seconds(20)));

  std::vector<int> b_prompt(600, 7);
  b_prompt[0] = 2;
  auto client = client_for(*server);
  Json b_body = {{"model", "tiny"}, {"prompt", b_prompt}, {"max_tokens", 2}, {"temperature", 0}};
  auto b = client.Post("/v1/completions", b_body.dump(), "application/json");
  ASSERT_TRUE(b);
  ASSERT_EQ(b->status, 200) << b->body;
  std::string metrics = scrape_metrics(*server);
  a.close();
  // Every step while A was decoding carried at most 8 prompt tokens + 1 decode token: B's prompt was
  // split into 75 chunks instead of stalling A for one 600-token step.
  const double steps = metric_value(metrics, "chimera_batch_tokens_count");
  EXPECT_GT(steps, 75);
  EXPECT_EQ(metric_value(metrics, "chimera_batch_tokens_bucket", "le=\"16\""), steps)
      << "a forward step carried more than 16 tokens:\n" << metrics;
}

TEST(BatchingHttpTest, MoreRequestsThanSlotsAllComplete) {
  server::ServerConfig config = tiny_config();
  config.parallel = 2;
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  std::vector<std::future<int>> futures;
  for (int i = 0; i < 6; ++i) {
    futures.push_back(std::async(std::launch::async, [&, i] {
      auto client = client_for(*server);
      Json body = {{"model", "tiny"}, {"prompt", "p" + std::to_string(i)}, {"stream", false},
                   {"options", {{"num_predict", 30}, {"ignore_eos", true}, {"seed", i}}}};
      auto res = client.Post("/api/generate", body.dump(), "application/json");
      if (!res || res->status != 200) return -1;
      return Json::parse(res->body)["eval_count"].get<int>();
    }));
  }
  for (auto& f : futures) EXPECT_EQ(f.get(), 30);
}

TEST(BatchingHttpTest, ClientThatLeavesFreesItsSequenceAtOnce) {
  server::ServerConfig config = tiny_config();
  config.models = {"slow=" + slow_gemma_path()};
  config.parallel = 1;
  config.ctx = 8192;
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  Json body = {{"model", "slow"}, {"prompt", "go"},
               {"options", {{"num_predict", 8000}, {"ignore_eos", true}, {"temperature", 0}}}};
  {
    RawClient a(server->port());
    ASSERT_TRUE(a.send_all(http_post("/api/generate", body.dump())));
    ASSERT_TRUE(a.read_until("\"done\":false", std::chrono::seconds(30)));
    // B waits for the only slot; it leaves before getting it.
    RawClient b(server->port());
    ASSERT_TRUE(b.send_all(http_post("/api/generate", body.dump())));
    EXPECT_TRUE(wait_until([&] { return metric_value(scrape_metrics(*server), "chimera_queue_depth") == 1; },
                           std::chrono::seconds(10)));
    b.close();
    EXPECT_TRUE(wait_until([&] { return metric_value(scrape_metrics(*server), "chimera_queue_depth") == 0; },
                           std::chrono::seconds(10)))
        << "a client that left while queued still holds its place";
    EXPECT_EQ(metric_value(scrape_metrics(*server), "chimera_active_sequences"), 1);
  }  // A leaves mid-stream (8000 tokens would take many seconds)
  EXPECT_TRUE(wait_until(
      [&] {
        std::string m = scrape_metrics(*server);
        return metric_value(m, "chimera_active_sequences") == 0 && metric_value(m, "chimera_kv_cache_used_cells") == 0;
      },
      std::chrono::seconds(5)))
      << "the sequence of a client that left was not freed";
  std::string metrics = scrape_metrics(*server);
  EXPECT_EQ(metric_value(metrics, "chimera_sequences_total", "outcome=\"cancelled\""), 2);
  // The slot is free again: a new request runs to completion.
  auto client = client_for(*server);
  Json quick = {{"model", "slow"}, {"prompt", "again"}, {"stream", false}, {"options", {{"num_predict", 3}}}};
  auto res = client.Post("/api/generate", quick.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

}  // namespace
}  // namespace chimera::testing

namespace chimera::testing {
namespace {

// chimera serve says how long a request waited for a batch slot: in its final Ollama stats object
// (queue_duration, ns, beside Ollama's own fields) and in /metrics (chimera_queue_wait_seconds).
TEST(BatchingHttpTest, QueueWaitForASlotIsReportedInFinalStatsAndMetrics) {
  server::ServerConfig config = tiny_config();
  config.models = {"slow=" + slow_gemma_path()};
  config.parallel = 1;
  config.ctx = 4096;
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  Json long_body = {{"model", "slow"},
                    {"prompt", "first"},
                    {"options", {{"num_predict", 300}, {"ignore_eos", true}, {"temperature", 0}}}};
  RawClient a(server->port());
  ASSERT_TRUE(a.send_all(http_post("/api/generate", long_body.dump())));
  ASSERT_TRUE(a.read_until("\"done\":false", std::chrono::seconds(30)));
  // B arrives while A holds the only slot: it waits until A is done.
  auto client = client_for(*server);
  client.set_read_timeout(120, 0);
  Json short_body = {{"model", "slow"},
                     {"prompt", "second"},
                     {"stream", false},
                     {"options", {{"num_predict", 3}}}};
  int64_t b_sent = monotonic_ns();
  auto b = client.Post("/api/generate", short_body.dump(), "application/json");
  int64_t b_done = monotonic_ns();
  ASSERT_TRUE(b);
  ASSERT_EQ(b->status, 200) << b->body;
  Json b_final = Json::parse(b->body);
  ASSERT_TRUE(b_final.contains("queue_duration")) << b->body;
  int64_t b_queue = b_final["queue_duration"].get<int64_t>();
  EXPECT_GT(b_queue, 0);
  EXPECT_LE(b_queue, b_final["total_duration"].get<int64_t>());
  EXPECT_LE(b_queue, b_done - b_sent);
  a.read_until("\"done\":true", std::chrono::seconds(60));
  std::string a_text = a.received();
  size_t done_at = a_text.find("\"done\":true");
  ASSERT_NE(done_at, std::string::npos);
  size_t line_start = a_text.rfind('\n', done_at) + 1;
  Json a_final = Json::parse(a_text.substr(line_start, a_text.find('\n', done_at) - line_start));
  // A found the slot free: it did not wait behind anyone, so far less than B did.
  EXPECT_LT(a_final["queue_duration"].get<int64_t>(), b_queue);
  std::string metrics = scrape_metrics(*server);
  EXPECT_EQ(metric_value(metrics, "chimera_queue_wait_seconds_count"), 2) << metrics;
  EXPECT_GE(metric_value(metrics, "chimera_queue_wait_seconds_sum"),
            static_cast<double>(b_queue) / 1e9);
}

}  // namespace
}  // namespace chimera::testing
