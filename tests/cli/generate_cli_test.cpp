// `chimera generate` and `chimera bench engine` run as a user runs them, on tiny dummy-weight
// models made with `chimera model synth`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace chimera::testing {
namespace {

using ::testing::HasSubstr;

class GenerateCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    for (const char* arch : {"gemma3", "llama"}) {
      std::string path = dir_->file(std::string(arch) + ".gguf");
      CommandResult r = run_chimera(
          {"model", "synth", "--arch", arch, "--size", "tiny", "--type", "q8_0", "-o", path});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string model(const char* arch = "gemma3") {
    return dir_->file(std::string(arch) + ".gguf");
  }
  // Greedy unless `extra` names a temperature.
  static nlohmann::json generate_json(std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "-m", model(), "--json"};
    if (std::find(extra.begin(), extra.end(), "--temperature") == extra.end()) {
      args.insert(args.end(), {"--temperature", "0"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = run_chimera(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);  // stdout holds exactly one JSON object
  }
  static inline TempDir* dir_ = nullptr;
};

TEST_F(GenerateCliTest, StreamsTextAndSaysTheWeightsAreDummy) {
  for (const char* arch : {"gemma3", "llama"}) {
    CommandResult r = run_chimera(
        {"generate", "-m", model(arch), "-p", "hello world", "--num-predict", "8", "--seed", "3"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("dummy weights"));
  }
}

TEST_F(GenerateCliTest, JsonCarriesTextTokensAndOllamaTimings) {
  nlohmann::json j = generate_json({"-p", "hello world", "--num-predict", "6"});
  for (const char* key :
       {"text", "tokens", "done_reason", "load_duration", "prompt_eval_count",
        "prompt_eval_duration", "eval_count", "eval_duration", "total_duration", "options"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["synthetic"], true);
  EXPECT_LE(j["eval_count"].get<int>(), 6);
  EXPECT_EQ(j["tokens"].size(), j["eval_count"].get<size_t>());
  EXPECT_EQ(j["prompt_eval_count"], j["prompt_tokens"]);
  EXPECT_GT(j["prompt_eval_duration"].get<int64_t>(), 0);
  EXPECT_GE(j["total_duration"].get<int64_t>(), j["prompt_eval_duration"].get<int64_t>());
  EXPECT_EQ(j["options"]["num_predict"], 6);
  EXPECT_EQ(j["options"]["top_p"], 0.9);
}

TEST_F(GenerateCliTest, VerbosePrintsTimingsLikeOllama) {
  CommandResult r =
      run_chimera({"generate", "-m", model(), "-p", "hi", "--num-predict", "4", "--verbose"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* line :
       {"total duration:", "load duration:", "prompt eval count:", "prompt eval duration:",
        "prompt eval rate:", "eval count:", "eval duration:", "eval rate:"}) {
    EXPECT_THAT(r.err, HasSubstr(line));
  }
}

TEST_F(GenerateCliTest, SameSeedSameText) {
  std::vector<std::string> args = {"-p",
                                   "the quick brown fox",
                                   "--num-predict",
                                   "10",
                                   "--temperature",
                                   "1",
                                   "--seed",
                                   "11",
                                   "--top-k",
                                   "0"};
  EXPECT_EQ(generate_json(args)["tokens"], generate_json(args)["tokens"]);
}

TEST_F(GenerateCliTest, DumpLogitsWritesEveryPromptPosition) {
  const std::string file = dir_->file("logits.f32");
  nlohmann::json j = generate_json(
      {"--prompt-tokens", "2,40,41,42,43", "--num-predict", "1", "--dump-logits", file});
  const size_t n_vocab = 512;  // the tiny preset's vocabulary
  ASSERT_EQ(std::filesystem::file_size(file), 5 * n_vocab * sizeof(float));
  std::vector<float> logits(5 * n_vocab);
  std::ifstream(file, std::ios::binary)
      .read(reinterpret_cast<char*>(logits.data()),
            static_cast<std::streamsize>(logits.size() * sizeof(float)));
  // Greedy: the first generated token is the argmax of the last position's row.
  auto last = logits.begin() + static_cast<ptrdiff_t>(4 * n_vocab);
  EXPECT_EQ(std::max_element(last, logits.end()) - last, j["tokens"][0].get<int>());
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
}

TEST_F(GenerateCliTest, AStopStringCutsTheText) {
  // Hot sampling with a fixed seed makes the dummy model ramble through its word pieces.
  const std::vector<std::string> args = {"-p",
                                         "the quick brown fox jumps over the lazy dog",
                                         "--num-predict",
                                         "24",
                                         "--temperature",
                                         "1.5",
                                         "--top-k",
                                         "0",
                                         "--top-p",
                                         "1",
                                         "--seed",
                                         "3"};
  const std::string text = generate_json(args)["text"];
  // The stop string: the first two ASCII letters in a row in the second half of the text.
  size_t at = text.size() / 2;
  while (at + 1 < text.size() && !(std::isalpha(static_cast<unsigned char>(text[at])) &&
                                   std::isalpha(static_cast<unsigned char>(text[at + 1])))) {
    ++at;
  }
  ASSERT_LT(at + 1, text.size()) << "no letters in: " << text;
  const std::string stop = text.substr(at, 2);
  std::vector<std::string> with_stop = args;
  with_stop.insert(with_stop.end(), {"--stop", stop});
  nlohmann::json cut = generate_json(with_stop);
  EXPECT_EQ(cut["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(cut["done_reason"], "stop");
}

TEST_F(GenerateCliTest, ATooLongPromptFailsUnlessTruncationIsAsked) {
  std::string ids = "2";
  for (int i = 0; i < 40; ++i) ids += "," + std::to_string(40 + i);
  CommandResult refused =
      run_chimera({"generate", "-m", model(), "--prompt-tokens", ids, "--num-ctx", "16"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("num_ctx is 16"));
  CommandResult truncated = run_chimera({"generate", "-m", model(), "--prompt-tokens", ids,
                                         "--num-ctx", "16", "--num-predict", "2", "--truncate"});
  EXPECT_EQ(truncated.exit_code, 0) << truncated.err;
  EXPECT_THAT(truncated.err, HasSubstr("tokens were dropped"));
}

// Files holding Q4_1 / Q5_1 tensors run: what llama-quantize writes for Q4_1 and Q5_1, and for
// Q5_K_M wherever a row is not a multiple of 256 (every 896-wide row of Qwen2.5 0.5B; every
// 128-wide row of the tiny shape).
TEST_F(GenerateCliTest, FilesWithQ4_1AndQ5_1TensorsGenerate) {
  for (auto [type, tensor_type] :
       {std::pair{"q4_1", "Q4_1"}, std::pair{"q5_1", "Q5_1"}, std::pair{"q5_k_m", "Q5_1"}}) {
    const std::string path = dir_->file(std::string("qwen2-") + type + ".gguf");
    CommandResult synth = run_chimera({"model", "synth", "--arch", "qwen2", "--size", "tiny",
                                       "--type", type, "--vocab", "synthetic:600", "-o", path});
    ASSERT_EQ(synth.exit_code, 0) << synth.err;
    CommandResult info = run_chimera({"model", "info", path, "--json"});
    ASSERT_EQ(info.exit_code, 0) << info.err;
    EXPECT_TRUE(nlohmann::json::parse(info.out)["bytes_by_type"].contains(tensor_type))
        << type << info.out;
    CommandResult r = run_chimera({"generate", "-m", path, "-p", "hello world", "--num-predict",
                                   "6", "--temperature", "0", "--json"});
    ASSERT_EQ(r.exit_code, 0) << type << ": " << r.err;
    const int eval_count = nlohmann::json::parse(r.out)["eval_count"].get<int>();
    EXPECT_GE(eval_count, 1) << type << r.out;  // fewer than 6 only if the model ends the text
    EXPECT_LE(eval_count, 6) << type << r.out;
  }
}

TEST_F(GenerateCliTest, BadArgumentsAreUsageErrorsAndMissingModelsFailures) {
  EXPECT_EQ(run_chimera({"generate", "-m", model()}).exit_code, 2);  // no prompt
  EXPECT_EQ(run_chimera({"generate", "-m", model(), "--prompt-tokens", "1,x"}).exit_code, 2);
  CommandResult missing = run_chimera({"generate", "-m", dir_->file("absent.gguf"), "-p", "hi"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("absent.gguf"));
}

TEST_F(GenerateCliTest, BenchEngineReportsSelfDescribingRows) {
  CommandResult r = run_chimera({"bench", "engine", "-m", model("llama"), "-p", "16", "-n", "4",
                                 "-t", "1", "-r", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["test"], "pp16");
  EXPECT_EQ(rows[1]["test"], "tg4");
  for (const auto& row : rows) {
    for (const char* key :
         {"build_commit", "cpu_info",     "model_type",   "model_size", "model_n_params",
          "n_threads",    "n_prompt",     "n_gen",        "avg_ns",     "stddev_ns",
          "avg_ts",       "stddev_ts",    "samples_ns",   "samples_ts", "test_time",
          "kernel_path",  "roofline_tps", "roofline_pct", "mem_bw_gbs", "mem_bw_median_gbs",
          "mem_bw_best_window_gbs", "peak_rss_bytes"}) {
      EXPECT_TRUE(row.contains(key)) << key;
    }
    EXPECT_EQ(row["samples_ts"].size(), 2u);
    EXPECT_GT(row["avg_ts"].get<double>(), 0.0);
    EXPECT_GT(row["mem_bw_gbs"].get<double>(), 0.0);
    // The roofline's bandwidth is a whole pass: never above the best window, the peak.
    EXPECT_LE(row["mem_bw_gbs"].get<double>(), row["mem_bw_best_window_gbs"].get<double>() * (1 + 1e-9));
    EXPECT_GE(row["mem_bw_best_window_gbs"].get<double>(), row["mem_bw_median_gbs"].get<double>());
    EXPECT_EQ(row["mem_bw_probe"], "512 MiB buffer after all tests");
    EXPECT_EQ(row["n_threads"], 1);
    EXPECT_THAT(row["model_type"].get<std::string>(), HasSubstr("llama"));
  }
  EXPECT_TRUE(rows[0]["roofline_tps"].is_null());  // prefill is compute-bound: no roofline
  EXPECT_GT(rows[1]["roofline_tps"].get<double>(), 0.0);

  CommandResult md = run_chimera(
      {"bench", "engine", "-m", model("llama"), "-p", "8", "-n", "4", "-t", "1", "-r", "1"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_THAT(md.out, HasSubstr("| pp8 |"));
  // A tiny model's weights are too small to probe (far from larger than a cache): a buffer of the
  // probe's own is read, after the tests, and the footer says so.
  EXPECT_THAT(md.out, HasSubstr("memory read bandwidth (measured, best full pass, a 512 MiB buffer "
                                "read after all tests): 1 thread "));
  EXPECT_THAT(md.out, HasSubstr("decode against the best window instead (a peak that no full pass kept "
                                "up): tg4 1 thread "));
  // Its decode may beat the memory roofline (the caches hold it): a row above 100 % is explained, and
  // only then.
  const size_t row = md.out.find("| tg4 |");
  ASSERT_NE(row, std::string::npos);
  const std::string line = md.out.substr(row, md.out.find('\n', row) - row);
  const size_t pct_end = line.rfind(" %");
  ASSERT_NE(pct_end, std::string::npos) << line;
  const double pct = std::stod(line.substr(line.rfind("| ", pct_end) + 2));
  const bool explained = md.out.find("note: a row above 100 % has weights small enough for the caches") !=
                         std::string::npos;
  EXPECT_EQ(explained, pct > 100.0) << md.out;
}

// `chimera bench prefix`: the second call computes only its tail with the prompt cache, the whole
// prompt without, and the first token is the same both ways.
TEST_F(GenerateCliTest, BenchPrefixTimesTheSecondCallWithAndWithoutThePromptCache) {
  CommandResult r = run_chimera({"bench", "prefix", "-m", model(), "--prefix", "120", "--tail", "9",
                                 "-t", "1", "-r", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prompt_eval_count_without_cache"], 129);
  EXPECT_EQ(j["prompt_eval_count_with_cache"], 9);
  EXPECT_EQ(j["cached_tokens"], 120);
  EXPECT_EQ(j["same_first_token"], true);
  EXPECT_EQ(j["dummy_weights"], true);
  EXPECT_EQ(j["provenance"], "synthetic") << "timings of a dummy-weight model are labelled synthetic";
  EXPECT_GT(j["ttft_ms_without_cache"].get<double>(), 0.0);
  EXPECT_GT(j["ttft_ms_with_cache"].get<double>(), 0.0);

  CommandResult md = run_chimera({"bench", "prefix", "-m", model(), "--prefix", "40", "--tail", "4",
                                  "-t", "1", "-r", "1"});
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_THAT(md.out, HasSubstr("(dummy weights)"));
  EXPECT_THAT(md.out, HasSubstr("first token identical both ways"));
  EXPECT_THAT(md.err, ::testing::Not(HasSubstr("bench needs a backend"))) << "no other bench ran";
  EXPECT_EQ(run_chimera({"bench", "prefix", "-m", model(), "--tail", "0"}).exit_code, 2);
}

}  // namespace
}  // namespace chimera::testing
