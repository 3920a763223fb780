// `chimera tune` against `chimera serve` through the Ollama API: options that make a server reload
// (num_ctx, num_thread) are run as one block per distinct load, so the server loads once per
// distinct load-affecting configuration, whatever the sampling options around them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/server_test_support.h"
#include "support/test_support.h"

namespace chimera::testing {
namespace {

TEST(TuneLoads, OneLoadPerDistinctLoadAffectingConfiguration) {
  server::ServerConfig config = tiny_config();  // context 512, one thread
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  const std::string labels = "model=\"tiny\",reason=\"context\"";
  const double before = metric_value(scrape_metrics(*server), "chimera_model_loads_total", labels);
  TempDir dir;
  // 2 num_ctx x 2 num_thread x 2 temperature = 8 configurations, 4 distinct loads; neither context
  // is the server's 512, so each of the 4 is a reload.
  auto r = run_chimera({"tune", "-b", "ollama://127.0.0.1:" + std::to_string(server->port()) + "/tiny",
                        "--param", "num_ctx=128,256", "--param", "num_thread=1,2", "--param",
                        "temperature=0.2,0.8", "-p", "hi", "--num-predict", "4", "--repeat", "2",
                        "--out", dir.path(), "--db", dir.file("results.db"), "--no-hwmon", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const double after = metric_value(scrape_metrics(*server), "chimera_model_loads_total", labels);
  EXPECT_EQ((std::isnan(after) ? 0 : after) - (std::isnan(before) ? 0 : before), 4.0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["configurations"].size(), 8u);
  EXPECT_EQ(j["calls"]["warmup"], 4) << "one warm-up per load, excluded from the statistics";
  EXPECT_EQ(j["calls"]["measured"], 16);
  for (const auto& c : j["configurations"]) {
    // Each load's time is the block's own metric, never folded into a measured call.
    EXPECT_TRUE(c["load_ms"].is_number()) << c.dump();
    EXPECT_GT(c["load_ms"].get<double>(), 0.0);
  }
}

}  // namespace
}  // namespace chimera::testing
