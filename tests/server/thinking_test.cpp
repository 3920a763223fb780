// Thinking mode through `chimera serve` and `chimera generate`, on tiny dummy-weight Qwen 3 and
// gpt-oss files (whose synthetic vocabularies hold the models' special tokens: <|im_start|>,
// <think>, <|start|>...): Ollama's think (true, false, "low" | "medium" | "high") and OpenAI's
// reasoning_effort reach the prompt as the models' own templates write them (checked token for
// token against `chimera tokenize` of the expected prompt text), streamed and collected replies
// split the same way, and bad values or thinking asked of a model without it are 400s that say
// why. Dummy weights write no <think> block or harmony channels, so the split of real reasoning
// is covered on text in tests/engine/think_tags_test.cpp and harmony_channels_test.cpp.
#include <gtest/gtest.h>

#include <ctime>

#include "server/server_test_support.h"
#include "support/test_support.h"

namespace chimera::testing {
namespace {

const std::string& synth(const std::string& arch) {
  static TempDir dir;  // lives for the whole test binary
  static std::map<std::string, std::string> paths;
  auto [it, added] = paths.try_emplace(arch, dir.file(arch + ".gguf"));
  if (added) {
    CommandResult r =
        run_chimera({"model", "synth", "--arch", arch, "--size", "tiny", "-o", it->second});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  return it->second;
}

std::vector<int> token_ids(const std::string& model_path, const std::string& text) {
  CommandResult r = run_chimera({"tokenize", "-m", model_path, "--json", text});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out, nullptr, false);
  return j.is_discarded() ? std::vector<int>{} : j["ids"].get<std::vector<int>>();
}

// Qwen3's template for one user turn "hello"; with enable_thinking=false the generation prompt
// is followed by an empty, closed reasoning block.
std::string qwen3_prompt(bool thinking_off) {
  return std::string("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n") +
         (thinking_off ? "<think>\n\n</think>\n\n" : "");
}

// Ollama's gpt-oss template for one user turn "hello": the level's Reasoning line, none when
// think is false.
std::string harmony_prompt(const std::string& level) {
  char date[16];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
  return std::string(
             "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
             "OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: ") +
         date + (level.empty() ? "" : "\n\nReasoning: " + level) +
         "\n\n# Valid channels: analysis, commentary, final. Channel must be included for every "
         "message.<|end|><|start|>user<|message|>hello<|end|><|start|>assistant";
}

const Json kMessages = Json::array({{{"role", "user"}, {"content", "hello"}}});
const Json kGreedy = {{"temperature", 0}, {"num_predict", 6}, {"seed", 1}};

class ThinkingServe : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerConfig config = tiny_config();
    config.models = {"qwen3=" + synth("qwen3"), "gpt-oss=" + synth("gpt-oss"),
                     "gemma3=" + tiny_gemma_path()};
    // Off, so that prompt_eval_count counts every prompt token of each request.
    config.cache_ram_bytes = 0;
    server_ = start_server(config);
  }

  httplib::Result post(const std::string& path, const Json& body) {
    httplib::Client client = client_for(*server_);
    client.set_read_timeout(60, 0);
    return client.Post(path, json_headers(), body.dump(), "application/json");
  }

  Json post_ok(const std::string& path, const Json& body) {
    auto res = post(path, body);
    EXPECT_TRUE(res && res->status == 200) << body.dump() << " -> " << (res ? res->body : "");
    Json j = Json::parse(res ? res->body : "{}", nullptr, false);
    return j.is_discarded() ? Json::object() : j;
  }

  // The 400's error message (Ollama's {"error": "..."} or OpenAI's {"error": {"message"}}).
  std::string error_400(const std::string& path, const Json& body) {
    auto res = post(path, body);
    EXPECT_TRUE(res && res->status == 400) << body.dump() << " -> " << (res ? res->body : "");
    Json j = Json::parse(res ? res->body : "{}", nullptr, false);
    if (j.is_discarded() || !j.contains("error")) return "";
    return j["error"].is_string() ? j["error"].get<std::string>()
                                  : j["error"].value("message", std::string());
  }

  std::unique_ptr<server::Server> server_;
};

struct ThinkCase {
  Json think;            // null: not sent
  std::string expected;  // the prompt text it must render
};

// /api/generate returns the prompt tokens as the start of "context": each think value must give
// exactly the tokens of the model's own template text.
TEST_F(ThinkingServe, OllamaThinkRendersThePromptAsTheModelsTemplatesDo) {
  ASSERT_NE(server_, nullptr);
  const std::vector<std::pair<std::string, std::vector<ThinkCase>>> models = {
      {"qwen3",
       {{nullptr, qwen3_prompt(false)},
        {true, qwen3_prompt(false)},
        {"high", qwen3_prompt(false)},  // a level on Qwen 3 is thinking on, as in Ollama
        {false, qwen3_prompt(true)}}},
      {"gpt-oss",
       {{nullptr, harmony_prompt("medium")},
        {true, harmony_prompt("medium")},
        {"low", harmony_prompt("low")},
        {"medium", harmony_prompt("medium")},
        {"high", harmony_prompt("high")},
        {"max", harmony_prompt("high")},
        {false, harmony_prompt("")}}}};
  for (const auto& [model, cases] : models) {
    for (const ThinkCase& c : cases) {
      Json body = {{"model", model}, {"prompt", "hello"}, {"stream", false}, {"options", kGreedy}};
      if (!c.think.is_null()) body["think"] = c.think;
      const Json reply = post_ok("/api/generate", body);
      const std::vector<int> expected = token_ids(synth(model), c.expected);
      ASSERT_FALSE(expected.empty());
      ASSERT_TRUE(reply["context"].is_array()) << reply.dump();
      const std::vector<int> context = reply["context"].get<std::vector<int>>();
      ASSERT_GE(context.size(), expected.size()) << model << " think " << c.think.dump();
      EXPECT_EQ(std::vector<int>(context.begin(), context.begin() + expected.size()), expected)
          << model << " think " << c.think.dump();
      EXPECT_EQ(reply["prompt_eval_count"], expected.size()) << model << " " << c.think.dump();
      // Qwen 3 with thinking off: the reply is all answer, no thinking field.
      if (model == "qwen3" && c.think == false) {
        EXPECT_FALSE(reply.contains("thinking"));
      }
    }
  }
}

// The same settings through /api/chat and /v1/chat/completions (reasoning_effort mapped as Ollama
// maps it: none is off, minimal the lowest level).
TEST_F(ThinkingServe, ChatEndpointsRenderThinkAndReasoningEffort) {
  ASSERT_NE(server_, nullptr);
  struct ChatCase {
    std::string model;
    std::string field;  // "think", "reasoning_effort" or "reasoning"
    Json value;
    std::string expected;
  };
  const std::vector<ChatCase> cases = {
      {"qwen3", "think", false, qwen3_prompt(true)},
      {"qwen3", "think", true, qwen3_prompt(false)},
      {"gpt-oss", "think", "low", harmony_prompt("low")},
      {"gpt-oss", "think", false, harmony_prompt("")},
      {"qwen3", "reasoning_effort", "none", qwen3_prompt(true)},
      {"qwen3", "reasoning_effort", "high", qwen3_prompt(false)},
      {"gpt-oss", "reasoning_effort", "minimal", harmony_prompt("low")},
      {"gpt-oss", "reasoning_effort", "high", harmony_prompt("high")},
      {"gpt-oss", "reasoning_effort", "none", harmony_prompt("")},
      {"gpt-oss", "reasoning", {{"effort", "low"}}, harmony_prompt("low")},
      {"gpt-oss", "reasoning_effort", nullptr, harmony_prompt("medium")}};
  for (const ChatCase& c : cases) {
    const size_t expected = token_ids(synth(c.model), c.expected).size();
    ASSERT_GT(expected, 0u);
    if (c.field == "think") {
      Json body = {{"model", c.model},
                   {"messages", kMessages},
                   {"stream", false},
                   {"options", kGreedy},
                   {"think", c.value}};
      const Json reply = post_ok("/api/chat", body);
      EXPECT_EQ(reply["prompt_eval_count"], expected) << body.dump();
      EXPECT_EQ(reply["message"]["role"], "assistant");
    } else {
      Json body = {
          {"model", c.model}, {"messages", kMessages}, {"max_tokens", 6}, {"temperature", 0}};
      if (!c.value.is_null()) body[c.field] = c.value;
      const Json reply = post_ok("/v1/chat/completions", body);
      EXPECT_EQ(reply["usage"]["prompt_tokens"], expected) << body.dump();
    }
  }
}

// What a streaming client assembles from the chunks is what the same greedy request returns in one
// object: content with content, thinking with thinking, on every endpoint and setting.
TEST_F(ThinkingServe, StreamedAndCollectedRepliesSplitTheSame) {
  ASSERT_NE(server_, nullptr);
  for (const std::string model : {"qwen3", "gpt-oss"}) {
    for (const Json& think : {Json(nullptr), Json(true), Json(false)}) {
      const std::string what = model + " think " + think.dump();
      for (const bool chat : {true, false}) {
        Json body = {{"model", model}, {"options", kGreedy}};
        if (chat) {
          body["messages"] = kMessages;
        } else {
          body["prompt"] = "hello";
        }
        if (!think.is_null()) body["think"] = think;
        const std::string path = chat ? "/api/chat" : "/api/generate";
        body["stream"] = false;
        const Json whole = post_ok(path, body);
        const Json& whole_part = chat ? whole["message"] : whole;
        body["stream"] = true;
        auto res = post(path, body);
        ASSERT_TRUE(res && res->status == 200) << what;
        std::string content, thinking;
        for (const Json& line : parse_ndjson(res->body)) {
          const Json& part = chat ? line["message"] : line;
          if (line["done"] == false) {
            content += part[chat ? "content" : "response"].get<std::string>();
            if (part.contains("thinking")) thinking += part["thinking"].get<std::string>();
          } else {
            EXPECT_EQ(part[chat ? "content" : "response"], "") << what;
          }
        }
        EXPECT_EQ(content, whole_part[chat ? "content" : "response"]) << what << " " << path;
        EXPECT_EQ(thinking, whole_part.value("thinking", std::string())) << what << " " << path;
        if (model == "qwen3" && think == false) {
          EXPECT_EQ(thinking, "") << what;
        }
      }
      // OpenAI: reasoning_content deltas beside content deltas.
      Json body = {{"model", model},
                   {"messages", kMessages},
                   {"max_tokens", 6},
                   {"temperature", 0},
                   {"stream", false}};
      if (think == false) body["reasoning_effort"] = "none";
      if (think == true) body["reasoning_effort"] = "medium";
      const Json whole = post_ok("/v1/chat/completions", body);
      body["stream"] = true;
      auto res = post("/v1/chat/completions", body);
      ASSERT_TRUE(res && res->status == 200) << what;
      std::string content, reasoning;
      for (const std::string& event : sse_data(res->body)) {
        if (event == "[DONE]") continue;
        const Json delta = Json::parse(event)["choices"][0]["delta"];
        content += delta.value("content", std::string());
        reasoning += delta.value("reasoning_content", std::string());
      }
      const Json& message = whole["choices"][0]["message"];
      EXPECT_EQ(content, message["content"]) << what;
      EXPECT_EQ(reasoning, message.value("reasoning_content", std::string())) << what;
    }
  }
}

TEST_F(ThinkingServe, AThinkValueThatIsNoneOfTheAllowedIsA400NamingIt) {
  ASSERT_NE(server_, nullptr);
  for (const std::string path : {"/api/chat", "/api/generate"}) {
    for (const Json& bad : {Json("ultra"), Json("True"), Json(1), Json::object()}) {
      Json body = {{"model", "qwen3"}, {"think", bad}, {"stream", false}};
      body[path == "/api/chat" ? "messages" : "prompt"] =
          path == "/api/chat" ? kMessages : Json("hello");
      const std::string message = error_400(path, body);
      EXPECT_NE(message.find("think"), std::string::npos) << message;
      EXPECT_NE(message.find("\"low\", \"medium\" or \"high\""), std::string::npos) << message;
      if (bad.is_string()) {
        EXPECT_NE(message.find(bad.get<std::string>()), std::string::npos) << message;
      }
    }
  }
  for (const auto& [field, bad] :
       std::vector<std::pair<std::string, Json>>{{"reasoning_effort", "extreme"},
                                                 {"reasoning_effort", 5},
                                                 {"reasoning", "low"},
                                                 {"reasoning", {{"effort", "turbo"}}}}) {
    Json body = {{"model", "gpt-oss"}, {"messages", kMessages}, {field, bad}};
    const std::string message = error_400("/v1/chat/completions", body);
    EXPECT_NE(message.find(field), std::string::npos) << message;
    if (field == "reasoning_effort" || bad.is_object()) {
      EXPECT_NE(message.find("\"none\", \"minimal\", \"low\", \"medium\" or \"high\""),
                std::string::npos)
          << message;
    }
  }
}

TEST_F(ThinkingServe, ThinkingAskedOfAModelWithoutItIsA400NamingTheArchitecture) {
  ASSERT_NE(server_, nullptr);
  for (const bool stream : {false, true}) {
    std::string message = error_400(
        "/api/chat",
        {{"model", "gemma3"}, {"messages", kMessages}, {"think", true}, {"stream", stream}});
    EXPECT_NE(message.find("think true"), std::string::npos) << message;
    EXPECT_NE(message.find("architecture gemma3"), std::string::npos) << message;
    message = error_400(
        "/api/generate",
        {{"model", "gemma3"}, {"prompt", "hello"}, {"think", "high"}, {"stream", stream}});
    EXPECT_NE(message.find("think \"high\""), std::string::npos) << message;
    EXPECT_NE(message.find("architecture gemma3"), std::string::npos) << message;
  }
  std::string message =
      error_400("/v1/chat/completions",
                {{"model", "gemma3"}, {"messages", kMessages}, {"reasoning_effort", "low"}});
  EXPECT_NE(message.find("reasoning_effort \"low\""), std::string::npos) << message;
  EXPECT_NE(message.find("architecture gemma3"), std::string::npos) << message;
  // Turning thinking off (or not asking) is fine on any model, as in Ollama.
  post_ok("/api/chat", {{"model", "gemma3"},
                        {"messages", kMessages},
                        {"think", false},
                        {"stream", false},
                        {"options", kGreedy}});
  post_ok("/v1/chat/completions", {{"model", "gemma3"},
                                   {"messages", kMessages},
                                   {"reasoning_effort", "none"},
                                   {"max_tokens", 4}});
}

// Ollama clients (the ollama CLI, Open WebUI) look for "thinking" before they send think.
TEST_F(ThinkingServe, ShowListsTheThinkingCapability) {
  ASSERT_NE(server_, nullptr);
  for (const auto& [model, thinks] : std::vector<std::pair<std::string, bool>>{
           {"qwen3", true}, {"gpt-oss", true}, {"gemma3", false}}) {
    const Json show = post_ok("/api/show", {{"model", model}});
    bool thinking = false;
    for (const Json& c : show["capabilities"]) thinking |= c == "thinking";
    EXPECT_EQ(thinking, thinks) << model << " " << show["capabilities"].dump();
  }
}

Json generate_json(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"generate", "-p",     "hello", "--num-predict",
                                   "4",        "--seed", "1",     "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  CommandResult r = run_chimera(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Json j = Json::parse(r.out, nullptr, false);
  return j.is_discarded() ? Json::object() : j;
}

// chimera generate --think: the same prompts as serve, the same refusals.
TEST(ThinkingGenerate, ThinkFlagRendersThePromptAndRefusesWhatTheModelCannotDo) {
  const std::string qwen3 = synth("qwen3"), gpt_oss = synth("gpt-oss");
  const Json off = generate_json({"-m", qwen3, "--think", "false"});
  EXPECT_EQ(off["prompt_eval_count"], token_ids(qwen3, qwen3_prompt(true)).size());
  EXPECT_FALSE(off.contains("thinking")) << off.dump();  // thinking off: all answer
  const Json thinking = generate_json({"-m", qwen3, "--think", "true"});
  EXPECT_EQ(thinking["prompt_eval_count"], token_ids(qwen3, qwen3_prompt(false)).size());
  EXPECT_TRUE(thinking.contains("thinking")) << thinking.dump();  // the reasoning, apart
  EXPECT_EQ(generate_json({"-m", gpt_oss, "--think", "high"})["prompt_eval_count"],
            token_ids(gpt_oss, harmony_prompt("high")).size());
  EXPECT_EQ(generate_json({"-m", gpt_oss, "--think", "false"})["prompt_eval_count"],
            token_ids(gpt_oss, harmony_prompt("")).size());

  CommandResult r = run_chimera(
      {"generate", "-m", tiny_gemma_path(), "-p", "hi", "--think", "true", "--num-predict", "2"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--think true"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("architecture gemma3"), std::string::npos) << r.err;
  r = run_chimera({"generate", "-m", qwen3, "-p", "hi", "--think", "maybe"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--think maybe: give true, false, low, medium or high"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace chimera::testing
