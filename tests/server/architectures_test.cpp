// Every Qwen architecture and gpt-oss end to end as a user meets it, offline, on tiny dummy-weight
// shapes: `chimera model synth` -> `model info` -> `tokenize` -> `generate` -> `chimera serve`'s
// Ollama and OpenAI chat endpoints. The prompt the engine counts must be the ChatML rendering of
// the chat, tokenized by the file's own vocabulary (Qwen2.5 with its default system turn, Qwen3
// without).
#include <gtest/gtest.h>

#include <ctime>

#include <nlohmann/json.hpp>

#include "server/server_test_support.h"
#include "support/test_support.h"

namespace chimera::testing {
namespace {

struct ArchCase {
  std::string arch;
  std::string tensor;  // a tensor only this architecture's files have
  std::string system_prefix;
};

std::string case_name(const ::testing::TestParamInfo<ArchCase>& info) { return info.param.arch; }

class ArchitectureEndToEnd : public ::testing::TestWithParam<ArchCase> {};

Json run_json(const std::vector<std::string>& args) {
  CommandResult r = run_chimera(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

// The same greedy chat through Ollama's /api/chat and OpenAI's /v1/chat/completions: the two
// replies, parsed.
std::pair<Json, Json> chat_both_apis(httplib::Client& client, const std::string& model) {
  const Json options = {{"temperature", 0}, {"num_predict", 8}, {"seed", 1}};
  const Json messages = Json::array({{{"role", "user"}, {"content", "hello"}}});
  auto ollama = client.Post(
      "/api/chat", json_headers(),
      Json{{"model", model}, {"messages", messages}, {"options", options}, {"stream", false}}
          .dump(),
      "application/json");
  EXPECT_TRUE(ollama && ollama->status == 200) << (ollama ? ollama->body : "no reply");
  auto openai = client.Post(
      "/v1/chat/completions", json_headers(),
      Json{{"model", model}, {"messages", messages}, {"max_tokens", 8}, {"temperature", 0}}.dump(),
      "application/json");
  EXPECT_TRUE(openai && openai->status == 200) << (openai ? openai->body : "no reply");
  return {Json::parse(ollama ? ollama->body : "{}", nullptr, false),
          Json::parse(openai ? openai->body : "{}", nullptr, false)};
}

TEST_P(ArchitectureEndToEnd, SynthInfoTokenizeGenerateServe) {
  const ArchCase& c = GetParam();
  TempDir dir;
  const std::string path = dir.file(c.arch + ".gguf");
  CommandResult synth = run_chimera(
      {"model", "synth", "--arch", c.arch, "--size", "tiny", "--type", "q4_k_m", "-o", path});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  EXPECT_NE(synth.out.find("dummy weights"), std::string::npos) << synth.out;

  Json info = run_json({"model", "info", path, "--json"});
  EXPECT_EQ(info["architecture"], c.arch);
  EXPECT_EQ(info["provenance"], "synthetic");
  bool found = false;
  for (const Json& t : info["tensors"]) found |= t["name"] == c.tensor;
  EXPECT_TRUE(found) << c.tensor;

  // The Qwen pre-tokenizer: every digit a token, no BOS prepended.
  Json digits = run_json({"tokenize", "-m", path, "--json", "12345"});
  EXPECT_EQ(digits["pieces"], Json({"1", "2", "3", "4", "5"}));
  const std::string chat =
      c.system_prefix + "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n";
  Json rendered = run_json({"tokenize", "-m", path, "--json", chat});
  const size_t prompt_tokens = rendered["ids"].size();

  Json generated = run_json(
      {"generate", "-m", path, "-p", "hello", "--num-predict", "6", "--seed", "3", "--json"});
  EXPECT_EQ(generated["architecture"], c.arch);
  EXPECT_EQ(generated["synthetic"], true);
  EXPECT_EQ(generated["prompt_eval_count"], prompt_tokens);
  EXPECT_EQ(generated["eval_count"], 6);

  server::ServerConfig config = tiny_config();
  config.models = {c.arch + "=" + path};
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  httplib::Client client = client_for(*server);
  auto [reply, completion] = chat_both_apis(client, c.arch);
  EXPECT_EQ(reply["message"]["role"], "assistant");
  EXPECT_EQ(reply["prompt_eval_count"], prompt_tokens);
  EXPECT_EQ(reply["eval_count"], 8);
  EXPECT_EQ(completion["usage"]["prompt_tokens"], prompt_tokens);
  EXPECT_EQ(completion["usage"]["completion_tokens"], 8);
  // Greedy: both APIs ran the same prompt through the same model.
  EXPECT_EQ(completion["choices"][0]["message"]["content"], reply["message"]["content"]);
}

INSTANTIATE_TEST_SUITE_P(
    Qwen, ArchitectureEndToEnd,
    ::testing::Values(
        ArchCase{"qwen2", "blk.0.attn_q.bias",
                 "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                 "assistant.<|im_end|>\n"},
        ArchCase{"qwen3", "blk.0.attn_q_norm.weight", ""},
        ArchCase{"qwen3moe", "blk.1.ffn_down_exps.weight", ""}),
    case_name);

// gpt-oss: MXFP4 experts by default, the harmony prompt (system block with today's date, the user
// turn, the generation prompt) counted as the engine renders it, both APIs agreeing. The replies
// are split by channel (tests/server/harmony_channels_test.cpp; dummy weights write no markup).
TEST(ArchitectureEndToEndGptOss, SynthInfoTokenizeGenerateServe) {
  TempDir dir;
  const std::string path = dir.file("gpt-oss.gguf");
  CommandResult synth =
      run_chimera({"model", "synth", "--arch", "gpt-oss", "--size", "tiny", "-o", path});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  EXPECT_NE(synth.out.find("dummy weights"), std::string::npos) << synth.out;
  EXPECT_NE(synth.out.find("MXFP4_MOE"), std::string::npos) << synth.out;

  Json info = run_json({"model", "info", path, "--json"});
  EXPECT_EQ(info["architecture"], "gpt-oss");
  EXPECT_EQ(info["provenance"], "synthetic");
  bool sinks = false, mxfp4 = false;
  for (const Json& t : info["tensors"]) {
    sinks |= t["name"] == "blk.0.attn_sinks.weight";
    mxfp4 |= t["name"] == "blk.1.ffn_down_exps.weight" && t["type"] == "MXFP4";
  }
  EXPECT_TRUE(sinks);
  EXPECT_TRUE(mxfp4) << info["tensors"].dump();

  char date[16];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
  const std::string chat =
      std::string(
          "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
          "OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: ") +
      date +
      "\n\nReasoning: medium\n\n# Valid channels: analysis, commentary, final. Channel must "
      "be included for every message.<|end|><|start|>user<|message|>hello<|end|><|start|>"
      "assistant";
  Json rendered = run_json({"tokenize", "-m", path, "--json", chat});
  const size_t prompt_tokens = rendered["ids"].size();
  Json start = run_json({"tokenize", "-m", path, "--json", "<|start|>"});
  EXPECT_EQ(start["ids"].size(), 1u);

  Json generated = run_json(
      {"generate", "-m", path, "-p", "hello", "--num-predict", "6", "--seed", "3", "--json"});
  EXPECT_EQ(generated["architecture"], "gpt-oss");
  EXPECT_TRUE(generated.contains("thinking")) << generated.dump();  // the analysis channel
  EXPECT_EQ(generated["synthetic"], true);
  EXPECT_EQ(generated["prompt_eval_count"], prompt_tokens);

  server::ServerConfig config = tiny_config();
  config.models = {"gpt-oss=" + path};
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  httplib::Client client = client_for(*server);
  auto [reply, completion] = chat_both_apis(client, "gpt-oss");
  EXPECT_EQ(reply["prompt_eval_count"], prompt_tokens);
  EXPECT_EQ(completion["usage"]["prompt_tokens"], prompt_tokens);
  EXPECT_EQ(completion["usage"]["completion_tokens"], reply["eval_count"]);
  EXPECT_EQ(completion["choices"][0]["message"]["content"], reply["message"]["content"]);
}

}  // namespace
}  // namespace chimera::testing
