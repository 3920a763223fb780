// Ollama API over real HTTP on loopback: field names and types, NDJSON framing, the final
// statistics, "context", the metadata endpoints, and keep_alive.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/engine.h"
#include "server/server_test_support.h"
#include "util/clock.h"

namespace chimera::testing {
namespace {

class OllamaApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = start_server(tiny_config()).release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static server::Server* server_;

  httplib::Result post(const std::string& path, const Json& body) {
    auto client = client_for(*server_);
    return client.Post(path.c_str(), body.dump(), "application/json");
  }
};
server::Server* OllamaApiTest::server_ = nullptr;

const Json kGreedy = {{"temperature", 0}, {"num_predict", 12}, {"ignore_eos", true}};

void expect_final_statistics(const Json& final, int expected_eval_count) {
  for (const char* key : {"total_duration", "load_duration", "prompt_eval_count",
                          "prompt_eval_duration", "eval_count", "eval_duration"}) {
    ASSERT_TRUE(final.contains(key)) << key << " missing in " << final.dump();
    EXPECT_TRUE(final[key].is_number_integer()) << key << " is not an integer: " << final.dump();
    EXPECT_GE(final[key].get<int64_t>(), 0) << key;
  }
  EXPECT_EQ(final["eval_count"].get<int>(), expected_eval_count);
  EXPECT_GT(final["prompt_eval_count"].get<int>(), 0);
  // The phases are parts of the total.
  EXPECT_GE(final["total_duration"].get<int64_t>(),
            final["prompt_eval_duration"].get<int64_t>() + final["eval_duration"].get<int64_t>());
  if (expected_eval_count > 1) {
    EXPECT_GT(final["eval_duration"].get<int64_t>(), 0);
  }
  EXPECT_TRUE(final["created_at"].is_string());
  EXPECT_EQ(final["done"], true);
}

TEST_F(OllamaApiTest, GenerateStreamsNdjsonEndingWithStatistics) {
  ASSERT_NE(server_, nullptr);
  const int64_t start = monotonic_ns();
  auto res =
      post("/api/generate", {{"model", "tiny"}, {"prompt", "hello there"}, {"options", kGreedy}});
  const int64_t wall = monotonic_ns() - start;
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/x-ndjson");
  std::vector<Json> lines = parse_ndjson(res->body);
  ASSERT_GE(lines.size(), 2u);
  std::string text;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["done"], false);
    EXPECT_EQ(lines[i]["model"], "tiny");
    ASSERT_TRUE(lines[i]["response"].is_string()) << lines[i].dump();
    EXPECT_FALSE(lines[i].contains("eval_count"));
    text += lines[i]["response"].get<std::string>();
  }
  const Json& final = lines.back();
  expect_final_statistics(final, 12);
  EXPECT_EQ(final["done_reason"], "length");
  EXPECT_EQ(final["response"], "");
  EXPECT_LE(final["total_duration"].get<int64_t>(), wall);
  // context: the prompt tokens then the 12 generated ones, for the next request.
  ASSERT_TRUE(final["context"].is_array());
  EXPECT_EQ(final["context"].size(), final["prompt_eval_count"].get<size_t>() + 12);

  // The same request unstreamed gives the same text in one object.
  auto whole =
      post("/api/generate",
           {{"model", "tiny"}, {"prompt", "hello there"}, {"options", kGreedy}, {"stream", false}});
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200);
  EXPECT_EQ(whole->get_header_value("Content-Type"), "application/json; charset=utf-8");
  Json object = Json::parse(whole->body);
  EXPECT_EQ(object["response"], text);
  expect_final_statistics(object, 12);
}

TEST_F(OllamaApiTest, RawPromptIsTokenizedAsGiven) {
  ASSERT_NE(server_, nullptr);
  // The model's own tokenizer says how many tokens the raw prompt is (BOS included).
  auto model = engine::Model::load(tiny_gemma_path());
  ASSERT_TRUE(model.ok());
  const std::string prompt = "abc def ghi";
  const size_t expected = (*model)->tokenizer().encode(prompt, true, true).size();
  // Without the prompt cache, which would leave out of prompt_eval_count the tokens that other
  // tests' prompts share with this one (at least BOS), as Ollama's does.
  server::ServerConfig config = tiny_config();
  config.cache_ram_bytes = 0;
  auto uncached = start_server(config);
  ASSERT_NE(uncached, nullptr);
  auto client = client_for(*uncached);
  Json body = {{"model", "tiny"}, {"prompt", prompt}, {"raw", true}, {"stream", false}, {"options", kGreedy}};
  auto res = client.Post("/api/generate", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  Json object = Json::parse(res->body);
  EXPECT_EQ(object["prompt_eval_count"].get<size_t>(), expected);
  EXPECT_FALSE(object.contains("context")) << "Ollama sends no context in raw mode";
}

TEST_F(OllamaApiTest, ContextContinuesAConversation) {
  ASSERT_NE(server_, nullptr);
  auto first =
      post("/api/generate",
           {{"model", "tiny"}, {"prompt", "one"}, {"stream", false}, {"options", kGreedy}});
  ASSERT_TRUE(first);
  Json a = Json::parse(first->body);
  auto second = post("/api/generate", {{"model", "tiny"},
                                       {"prompt", "two"},
                                       {"stream", false},
                                       {"options", kGreedy},
                                       {"context", a["context"]}});
  ASSERT_TRUE(second);
  ASSERT_EQ(second->status, 200) << second->body;
  Json b = Json::parse(second->body);
  // The new context starts with the old one.
  std::vector<int> old_context = a["context"].get<std::vector<int>>();
  std::vector<int> new_context = b["context"].get<std::vector<int>>();
  ASSERT_GT(new_context.size(), old_context.size());
  // The conversation so far is in the prompt cache: as Ollama, only what follows it is evaluated
  // (the new turn, and at most the old context's last token, sampled but never decoded, and the
  // tokens of a block not yet whole when the first request ended).
  const size_t new_prompt = new_context.size() - 12;
  EXPECT_GT(b["prompt_eval_count"].get<size_t>(), 0u);
  EXPECT_LT(b["prompt_eval_count"].get<size_t>(), new_prompt - old_context.size() / 2);
  EXPECT_TRUE(std::equal(old_context.begin(), old_context.end(), new_context.begin()));
}

TEST_F(OllamaApiTest, ChatStreamsMessagesWithoutContext) {
  ASSERT_NE(server_, nullptr);
  Json body = {{"model", "tiny:latest"},
               {"messages", Json::array({{{"role", "system"}, {"content", "be brief"}},
                                         {{"role", "user"}, {"content", "hi"}}})},
               {"options", kGreedy}};
  auto res = post("/api/chat", body);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  std::vector<Json> lines = parse_ndjson(res->body);
  ASSERT_GE(lines.size(), 2u);
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["model"], "tiny:latest");
    EXPECT_EQ(lines[i]["message"]["role"], "assistant");
    EXPECT_TRUE(lines[i]["message"]["content"].is_string());
    EXPECT_EQ(lines[i]["done"], false);
  }
  expect_final_statistics(lines.back(), 12);
  EXPECT_EQ(lines.back()["message"]["content"], "");
  EXPECT_FALSE(lines.back().contains("context"));
}

TEST_F(OllamaApiTest, TagsShowPsVersionAndRoot) {
  ASSERT_NE(server_, nullptr);
  auto client = client_for(*server_);
  auto tags = client.Get("/api/tags");
  ASSERT_TRUE(tags);
  ASSERT_EQ(tags->status, 200);
  Json t = Json::parse(tags->body);
  ASSERT_EQ(t["models"].size(), 1u);
  const Json& m = t["models"][0];
  EXPECT_EQ(m["name"], "tiny:latest");
  EXPECT_EQ(m["size"].get<uint64_t>(), std::filesystem::file_size(tiny_gemma_path()));
  EXPECT_EQ(m["details"]["format"], "gguf");
  EXPECT_EQ(m["details"]["family"], "gemma3");
  EXPECT_EQ(m["details"]["quantization_level"], "Q8_0");
  EXPECT_TRUE(m["modified_at"].is_string());

  auto show = post("/api/show", {{"model", "tiny"}});
  ASSERT_TRUE(show);
  ASSERT_EQ(show->status, 200) << show->body;
  Json s = Json::parse(show->body);
  EXPECT_EQ(s["model_info"]["general.architecture"], "gemma3");
  EXPECT_EQ(s["model_info"]["gemma3.context_length"], 4096);  // the synth "tiny" preset
  EXPECT_EQ(s["model_info"]["gemma3.block_count"], 2);
  EXPECT_EQ(s["details"]["family"], "gemma3");
  EXPECT_TRUE(s["parameters"].is_string());
  EXPECT_TRUE(s["modelfile"].get<std::string>().find("FROM " + tiny_gemma_path()) !=
              std::string::npos);

  auto unknown = post("/api/show", {{"model", "nope"}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_TRUE(Json::parse(unknown->body)["error"].is_string());

  auto ps = client.Get("/api/ps");
  ASSERT_TRUE(ps);
  Json p = Json::parse(ps->body);
  ASSERT_EQ(p["models"].size(), 1u);
  EXPECT_EQ(p["models"][0]["name"], "tiny:latest");
  EXPECT_EQ(p["models"][0]["context_length"], 512);
  EXPECT_TRUE(p["models"][0]["expires_at"].is_string());
  EXPECT_EQ(p["models"][0]["size_vram"], 0);

  auto version = client.Get("/api/version");
  ASSERT_TRUE(version);
  EXPECT_FALSE(Json::parse(version->body)["version"].get<std::string>().empty());

  auto root = client.Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 200);
  EXPECT_EQ(root->body, "Ollama is running");
  auto head = client.Head("/");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());

  auto missing = client.Get("/api/nothing-here");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(Json::parse(missing->body)["error"].get<std::string>().find("/api/nothing-here"),
            std::string::npos);
}

TEST_F(OllamaApiTest, EmptyPromptLoadsAndKeepAliveZeroUnloads) {
  ASSERT_NE(server_, nullptr);
  auto client = client_for(*server_);
  auto loaded = post("/api/generate", {{"model", "tiny"}});
  ASSERT_TRUE(loaded);
  Json l = Json::parse(loaded->body);
  EXPECT_EQ(l["done"], true);
  EXPECT_EQ(l["done_reason"], "load");

  auto unload =
      post("/api/chat", {{"model", "tiny"}, {"messages", Json::array()}, {"keep_alive", 0}});
  ASSERT_TRUE(unload);
  Json u = Json::parse(unload->body);
  EXPECT_EQ(u["done_reason"], "unload");
  EXPECT_EQ(u["message"]["content"], "");
  EXPECT_TRUE(wait_until(
      [&] {
        auto ps = client.Get("/api/ps");
        return ps && Json::parse(ps->body)["models"].empty();
      },
      std::chrono::seconds(10)))
      << "the model stayed loaded after keep_alive 0";

  // The next request loads it again and says so in load_duration; a warm one pays nothing.
  auto cold = post("/api/generate",
                   {{"model", "tiny"}, {"prompt", "x"}, {"stream", false}, {"options", kGreedy}});
  ASSERT_TRUE(cold);
  ASSERT_EQ(cold->status, 200) << cold->body;
  EXPECT_GT(Json::parse(cold->body)["load_duration"].get<int64_t>(), 0);
  auto warm = post("/api/generate", {{"model", "tiny"},
                                     {"prompt", "x"},
                                     {"stream", false},
                                     {"options", kGreedy},
                                     {"keep_alive", "5m"}});
  ASSERT_TRUE(warm);
  EXPECT_EQ(Json::parse(warm->body)["load_duration"].get<int64_t>(), 0);
  auto ps = client.Get("/api/ps");
  ASSERT_TRUE(ps);
  EXPECT_EQ(Json::parse(ps->body)["models"].size(), 1u);
}

TEST_F(OllamaApiTest, IgnoredOptionsAreNamedInAHeader) {
  ASSERT_NE(server_, nullptr);
  Json options = kGreedy;
  options["mirostat"] = 2;
  options["num_keep"] = 4;          // no effect on output: not reported
  options["made_up_option"] = "x";  // unknown: ignored, as Ollama does
  auto res = post("/api/generate",
                  {{"model", "tiny"}, {"prompt", "x"}, {"stream", false}, {"options", options}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("X-Chimera-Ignored-Options"), "mirostat");
}

}  // namespace
}  // namespace chimera::testing

namespace chimera::testing {
namespace {

TEST(KeepAliveServerTest, IdleModelUnloadsAfterKeepAliveAndReloadsOnDemand) {
  server::ServerConfig config = tiny_config();
  config.keep_alive_ns = 300'000'000;  // 300 ms
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  auto client = client_for(*server);
  auto loaded_models = [&] {
    auto ps = client.Get("/api/ps");
    return ps ? Json::parse(ps->body)["models"].size() : size_t{99};
  };
  EXPECT_TRUE(wait_until([&] { return loaded_models() == 0; }, std::chrono::seconds(10)))
      << "the model stayed loaded past its keep_alive";
  // A request naming keep_alive -1 keeps it loaded for good.
  Json body = {{"model", "tiny"},
               {"prompt", "x"},
               {"stream", false},
               {"keep_alive", -1},
               {"options", {{"num_predict", 2}}}};
  auto res = client.Post("/api/generate", body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_GT(Json::parse(res->body)["load_duration"].get<int64_t>(), 0);
  auto ps = client.Get("/api/ps");
  ASSERT_TRUE(ps);
  Json models = Json::parse(ps->body)["models"];
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["expires_at"].get<std::string>().substr(0, 4), "2318") << "never expires";
  // Still loaded well after the server's own keep_alive would have run out.
  EXPECT_FALSE(wait_until([&] { return loaded_models() == 0; }, std::chrono::milliseconds(900)));
}

TEST(ContextSizeServerTest, LargerNumCtxRebuildsTheContextAndSmallerOneTruncates) {
  server::ServerConfig config = tiny_config();
  config.ctx = 256;
  auto server = start_server(config);
  ASSERT_NE(server, nullptr);
  auto client = client_for(*server);
  // A prompt of several hundred tokens does not fit the default 256: Ollama semantics keep its end.
  std::string prompt;
  for (int i = 0; i < 300; ++i) prompt += "ab cd ";
  Json small = {{"model", "tiny"},
                {"prompt", prompt},
                {"raw", true},
                {"stream", false},
                {"options", {{"num_predict", 4}, {"ignore_eos", true}}}};
  auto truncated = client.Post("/api/generate", small.dump(), "application/json");
  ASSERT_TRUE(truncated);
  ASSERT_EQ(truncated->status, 200) << truncated->body;
  const int kept = Json::parse(truncated->body)["prompt_eval_count"].get<int>();
  EXPECT_LT(kept, 256);
  // With num_ctx 1024 the whole prompt is evaluated: the context was rebuilt for it.
  Json large = small;
  large["options"]["num_ctx"] = 1024;
  auto whole = client.Post("/api/generate", large.dump(), "application/json");
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  Json w = Json::parse(whole->body);
  EXPECT_GT(w["prompt_eval_count"].get<int>(), 256);
  EXPECT_GT(w["load_duration"].get<int64_t>(), 0) << "the rebuild is reported as load time";
  auto ps = client.Get("/api/ps");
  ASSERT_TRUE(ps);
  EXPECT_EQ(Json::parse(ps->body)["models"][0]["context_length"], 1024);
  // num_thread other than the server's also rebuilds (and still answers).
  Json threads = {{"model", "tiny"},
                  {"prompt", "x"},
                  {"stream", false},
                  {"options", {{"num_thread", 1}, {"num_predict", 2}}}};
  auto t = client.Post("/api/generate", threads.dump(), "application/json");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->status, 200) << t->body;
}

TEST(OptionsServerTest, SamplingOptionsChangeTheOutputAsTheyShould) {
  auto server = start_server(tiny_config());
  ASSERT_NE(server, nullptr);
  auto client = client_for(*server);
  auto text = [&](const Json& options) {
    Json body = {{"model", "tiny"}, {"prompt", "opts"}, {"stream", false}, {"options", options}};
    auto res = client.Post("/api/generate", body.dump(), "application/json");
    EXPECT_TRUE(res && res->status == 200);
    return res ? Json::parse(res->body) : Json();
  };
  Json greedy = text({{"temperature", 0}, {"num_predict", 20}, {"ignore_eos", true}});
  // top_k 1 at any temperature is greedy.
  Json top1 = text(
      {{"temperature", 1.5}, {"top_k", 1}, {"seed", 9}, {"num_predict", 20}, {"ignore_eos", true}});
  EXPECT_EQ(top1["response"], greedy["response"]);
  // The same seed gives the same draw; the output is a pure function of the options.
  Json a = text({{"temperature", 1.0}, {"seed", 42}, {"num_predict", 20}, {"ignore_eos", true}});
  Json b = text({{"temperature", 1.0}, {"seed", 42}, {"num_predict", 20}, {"ignore_eos", true}});
  EXPECT_EQ(a["response"], b["response"]);
  // num_predict is the number of tokens generated.
  EXPECT_EQ(greedy["eval_count"], 20);
  // A stop string cuts the text before it, with done_reason "stop".
  const std::string g = greedy["response"].get<std::string>();
  // One ASCII byte from the middle of the text is a complete character, so a valid stop string.
  size_t at = g.size() / 3;
  while (at < g.size() && static_cast<unsigned char>(g[at]) >= 0x80) ++at;
  ASSERT_LT(at, g.size()) << "no ASCII byte in the greedy text: " << g;
  const std::string stop = g.substr(at, 1);
  Json stopped =
      text({{"temperature", 0}, {"num_predict", 20}, {"ignore_eos", true}, {"stop", {stop}}});
  EXPECT_EQ(stopped["done_reason"], "stop");
  EXPECT_EQ(stopped["response"], g.substr(0, g.find(stop)));
}

}  // namespace
}  // namespace chimera::testing
