// `chimera tune` finds what is really faster on this machine: the embedded engine with 1 and 2 threads
// and two temperatures. Timing comparisons need the cores to themselves, so this executable runs
// serially (RUN_SERIAL in tests/CMakeLists.txt): no other test shares the machine while it runs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace chimera {
namespace {

using testing::run_chimera;
using testing::TempDir;

TEST(TuneAcceptance, RaceRanksTwoThreadsFirstAndFindsNoTemperatureEffect) {
  TempDir dir;
  // Big enough (550 MB of Q8_0 weights, read once per token) that a token's work dwarfs the
  // threads' handoffs: with a model of a few MB, a step is microseconds and waking a second thread
  // costs more than it brings, so one thread would rightly win.
  const std::string model = dir.file("wide.gguf");
  auto synth = run_chimera({"model", "synth", "--arch", "gemma3", "--size", "tiny", "--layers", "8",
                            "--embd", "2048", "--ff", "8192", "--heads", "8", "--kv-heads", "4",
                            "--head-dim", "256", "--vocab", "synthetic:8192", "--ctx", "2048",
                            "--type", "q8_0", "-o", model});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  auto r = run_chimera({"tune", "-b", "embedded:" + model, "--param", "num_thread=1,2", "--param",
                        "temperature=0.2,0.8", "--strategy", "race", "-p",
                        "Explain what a KV cache is.", "--num-predict", "24", "--repeat", "8",
                        "--out", dir.file("out"), "--db", dir.file("results.db"), "--no-hwmon",
                        "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  const auto& configs = j["configurations"];
  ASSERT_EQ(configs.size(), 4u);
  // Ranked first: a two-thread configuration, whose CI lies above every one-thread configuration's
  // mean. (A configuration the race dropped after 2 samples keeps the wide CI of 2 samples: the race
  // dropped it on the pooled test, which is the point of racing; its own CI is not the evidence.)
  const auto& best = configs[0];
  EXPECT_EQ(best["rank"], 1);
  EXPECT_EQ(best["options"]["num_thread"], 2) << r.out;
  const double best_lower = best["objectives"][0]["ci95"][0].get<double>();
  for (const auto& c : configs) {
    if (c["options"]["num_thread"] == 2) {
      EXPECT_TRUE(c["status"] == "best" || c["status"] == "tied for best") << c.dump();
      continue;
    }
    EXPECT_TRUE(c["status"] == "eliminated" || c["status"] == "worse") << c.dump();
    EXPECT_LT(c["objectives"][0]["mean"].get<double>(), best_lower)
        << "the best's CI must lie above every one-thread configuration: " << c.dump();
  }
  // Option effects on decode_tps: num_thread measurable, with a CI of 2 vs 1 that excludes 0;
  // temperature not measurable.
  const auto& options = j["effects"][0]["options"];
  ASSERT_EQ(options.size(), 2u);
  EXPECT_EQ(options[0]["option"], "num_thread");
  EXPECT_TRUE(options[0]["measurable"].get<bool>()) << options.dump();
  const auto& two_vs_one = options[0]["levels"][0];
  EXPECT_GT(two_vs_one["ci95"][0].get<double>(), 0.0) << options.dump();
  EXPECT_EQ(options[1]["option"], "temperature");
  EXPECT_FALSE(options[1]["measurable"].get<bool>()) << options.dump();
  EXPECT_GT(options[1]["detectable_difference"].get<double>(), 0.0);
  // The Markdown report says it in words.
  auto md = testing::run_chimera({"tune", "--resume", std::to_string(j["study_id"].get<int>()), "--db",
                                  dir.file("results.db"), "--out", dir.file("out"), "--no-hwmon"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("temperature: 0.8 vs 0.2"), std::string::npos) << md.out;
  EXPECT_NE(md.out.find("no measurable effect at this sample size"), std::string::npos) << md.out;
}

}  // namespace
}  // namespace chimera
