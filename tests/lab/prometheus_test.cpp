// Prometheus text parsing on excerpts in the shape vLLM, llama.cpp's server and chimera serve
// export, and the scraper against a real loopback HTTP server.
#include "lab/prometheus.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "util/clock.h"

#include "llm/support/protocol_server.h"

namespace chimera::lab {
namespace {

TEST(Prometheus, ParsesNamesLabelsValuesAndTimestamps) {
  auto samples = parse_prometheus_text(
      "# HELP x_total A counter.\n"
      "# TYPE x_total counter\n"
      "x_total 12\n"
      "y{a=\"1\",b=\"say \\\"hi\\\"\\n\"} 0.5 1700000000000\n"
      "\n"
      "z NaN\n"
      "w{le=\"+Inf\"} +Inf\n");
  ASSERT_TRUE(samples.ok()) << samples.status().message();
  ASSERT_EQ(samples->size(), 4u);
  EXPECT_EQ((*samples)[0].name, "x_total");
  EXPECT_DOUBLE_EQ((*samples)[0].value, 12);
  EXPECT_EQ((*samples)[1].labels.at("a"), "1");
  EXPECT_EQ((*samples)[1].labels.at("b"), "say \"hi\"\n");
  EXPECT_DOUBLE_EQ((*samples)[1].value, 0.5);
  EXPECT_TRUE(std::isnan((*samples)[2].value));
  EXPECT_TRUE(std::isinf((*samples)[3].value));
}

TEST(Prometheus, MalformedLineNamesItsNumber) {
  auto samples = parse_prometheus_text("ok 1\nbad{a=1} 2\n");
  ASSERT_FALSE(samples.ok());
  EXPECT_NE(samples.status().message().find("line 2"), std::string::npos)
      << samples.status().message();
  EXPECT_FALSE(parse_prometheus_text("x abc\n").ok());
}

TEST(Prometheus, VllmLoadIsSummedOverModelLabels) {
  auto samples = parse_prometheus_text(
      "vllm:num_requests_running{model_name=\"a\"} 3.0\n"
      "vllm:num_requests_running{model_name=\"b\"} 1.0\n"
      "vllm:num_requests_waiting{model_name=\"a\"} 2.0\n"
      "vllm:gpu_cache_usage_perc{model_name=\"a\"} 0.25\n");
  ASSERT_TRUE(samples.ok());
  auto load = server_load(*samples);
  ASSERT_TRUE(load.has_value());
  EXPECT_EQ(load->dialect, "vllm");
  EXPECT_DOUBLE_EQ(*load->running, 4.0);
  EXPECT_DOUBLE_EQ(*load->waiting, 2.0);
  EXPECT_DOUBLE_EQ(*load->kv_usage_ratio, 0.25);
}

TEST(Prometheus, LlamaCppAndChimeraDialects) {
  auto llama = parse_prometheus_text(
      "# HELP llamacpp:requests_processing Number of requests processing.\n"
      "llamacpp:requests_processing 1\nllamacpp:requests_deferred 3\n");
  ASSERT_TRUE(llama.ok());
  auto l = server_load(*llama);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->dialect, "llama.cpp");
  EXPECT_DOUBLE_EQ(*l->waiting, 3);
  EXPECT_FALSE(l->kv_usage_ratio.has_value());  // not exported: unset, never 0

  auto chimera = parse_prometheus_text(
      "chimera_active_sequences 2\nchimera_queue_depth 0\nchimera_kv_cache_usage_ratio 0.125\n");
  ASSERT_TRUE(chimera.ok());
  auto c = server_load(*chimera);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->dialect, "chimera");
  EXPECT_DOUBLE_EQ(*c->running, 2);
  EXPECT_DOUBLE_EQ(*c->kv_usage_ratio, 0.125);

  auto other = parse_prometheus_text("process_cpu_seconds_total 4\n");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(server_load(*other).has_value());
}

TEST(MetricsScraper, ScrapesARealEndpointOnTheCallClock) {
  chimera::testing::ProtocolServer server;
  int scrapes = 0;
  server.route("GET", "/metrics", [&](const chimera::testing::Received&) {
    ++scrapes;
    chimera::testing::Reply r = chimera::testing::Reply::json(
        "chimera_active_sequences " + std::to_string(scrapes) + "\nchimera_queue_depth 1\n");
    r.content_type = "text/plain; version=0.0.4";
    return r;
  });
  MetricsScraper scraper(server.base_url(), 20);
  int64_t before = monotonic_ns();
  ASSERT_TRUE(scraper.scrape_once());
  ASSERT_TRUE(scraper.scrape_once());
  EndpointScrapes r = scraper.result();
  ASSERT_EQ(r.samples.size(), 2u);
  EXPECT_GE(r.samples[0].t_ns, before);
  EXPECT_DOUBLE_EQ(*r.samples[1].load.running, 2.0);
  EXPECT_NE(r.status.find("chimera metrics, scraped 2 times"), std::string::npos) << r.status;

  // The thread keeps scraping until stopped.
  scraper.start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (scraper.result().samples.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  scraper.stop();
  EXPECT_GE(scraper.result().samples.size(), 4u);
}

TEST(MetricsScraper, AnEndpointWithoutMetricsIsSaidSoAndNotRetried) {
  chimera::testing::ProtocolServer server;  // every path answers 404
  MetricsScraper scraper(server.base_url(), 20);
  EXPECT_FALSE(scraper.scrape_once());
  EXPECT_FALSE(scraper.scrape_once());
  EXPECT_EQ(server.received("/metrics").size(), 1u);
  EndpointScrapes r = scraper.result();
  EXPECT_TRUE(r.samples.empty());
  EXPECT_NE(r.status.find("HTTP 404"), std::string::npos) << r.status;
}

}  // namespace
}  // namespace chimera::lab
