#include "agent/backend_choice.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/test_support.h"

namespace chimera::agent {
namespace {

using chimera::testing::contains;

using chimera::testing::TempDir;

BackendProbes probes(Result<std::vector<llm::ModelEntry>> server, std::vector<std::string> store,
                     bool dummy = true) {
  BackendProbes p;
  p.list_server_models = [server](const std::string&) { return server; };
  p.list_store_models = [store] { return store; };
  if (dummy)
    p.dummy_model = []() -> Result<std::string> { return std::string("/cache/gemma3-270m.gguf"); };
  return p;
}

std::vector<llm::ModelEntry> entries(std::vector<std::string> names) {
  std::vector<llm::ModelEntry> out;
  for (auto& n : names) out.push_back({n, "", "", "", 0, false});
  return out;
}

class BackendChoiceTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("OLLAMA_HOST", "127.0.0.1:11434", 1); }
  void TearDown() override { unsetenv("OLLAMA_HOST"); }
};

TEST_F(BackendChoiceTest, AnExplicitBackendIsUsedAsGiven) {
  auto c = choose_backend("ollama://10.0.0.5:11434/llama3.1:8b", "", probes(entries({}), {}));
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->spec, "ollama://10.0.0.5:11434/llama3.1:8b");
  EXPECT_EQ(c->model, "llama3.1:8b");
  EXPECT_FALSE(c->synthetic);
  EXPECT_FALSE(choose_backend("nonsense", "", probes(entries({}), {})).ok());
}

TEST_F(BackendChoiceTest, AnOllamaServerWithTheModelComesFirst) {
  auto c = choose_backend(
      "auto", "", probes(entries({"llama3.1:8b", "gemma3:1b", "gemma3:latest"}), {"gemma3:4b"}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->spec, "ollama://127.0.0.1:11434/gemma3:latest");
  EXPECT_EQ(c->model, "gemma3:latest");
  EXPECT_TRUE(
      contains(c->reason, "an Ollama server answers at 127.0.0.1:11434 and has gemma3:latest"));
}

TEST_F(BackendChoiceTest, ThenAStoredGgufGemmaFirst) {
  auto c =
      choose_backend("auto", "", probes(entries({"llama3.1:8b"}), {"llama3.2:1b", "gemma3:1b"}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->spec, "ollama:gemma3:1b");
  EXPECT_EQ(c->model, "");  // the embedded engine has one model
  ASSERT_EQ(c->tried.size(), 1u);
  EXPECT_TRUE(contains(c->tried[0], "answers, but has no gemma3 model (1 models)")) << c->tried[0];
  EXPECT_TRUE(contains(c->reason, "local Ollama store"));
}

TEST_F(BackendChoiceTest, ThenDummyWeightsSaidPlainly) {
  auto c =
      choose_backend("auto", "", probes(Status(ErrorCode::kUnavailable, "connection refused"), {}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->spec, "embedded:/cache/gemma3-270m.gguf");
  EXPECT_TRUE(c->synthetic);
  EXPECT_TRUE(contains(c->reason, "not meaningful"));
  EXPECT_TRUE(contains(c->reason, "timings are real"));
  ASSERT_EQ(c->tried.size(), 2u);
  EXPECT_TRUE(contains(c->tried[0], "not answering (connection refused)"));
}

TEST_F(BackendChoiceTest, ARequestedModelMustBeThere) {
  auto c =
      choose_backend("auto", "llama3.1:8b", probes(entries({"gemma3:latest", "llama3.1:8b"}), {}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->model, "llama3.1:8b");
  // A named model that is nowhere is an error, not a dummy-weight stand-in.
  auto none = choose_backend("auto", "mistral", probes(entries({"gemma3:latest"}), {"gemma3:1b"}));
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(contains(none.status().message(), "no mistral")) << none.status().message();
  EXPECT_TRUE(contains(none.status().message(), "--backend embedded:PATH.gguf"));
}

TEST(PickModel, ImpliesLatestAndPrefersGemma3Latest) {
  EXPECT_EQ(pick_model({"gemma3:latest", "gemma3:1b"}, "gemma3"), "gemma3:latest");
  EXPECT_EQ(pick_model({"gemma3:4b", "gemma3:1b"}, ""), "gemma3:1b");
  EXPECT_EQ(pick_model({"llama3:8b"}, ""), "");
  EXPECT_EQ(pick_model({"llama3:8b"}, "qwen"), "");
}

TEST(OllamaHost, EnvironmentFormsAreNormalized) {
  auto with = [](const char* value) {
    setenv("OLLAMA_HOST", value, 1);
    std::string url = ollama_base_url_from_env();
    unsetenv("OLLAMA_HOST");
    return url;
  };
  EXPECT_EQ(with("0.0.0.0"), "http://127.0.0.1:11434");
  EXPECT_EQ(with("http://gpu-box:11500/"), "http://gpu-box:11500");
  EXPECT_EQ(with("example.org"), "http://example.org:11434");
  unsetenv("OLLAMA_HOST");
  EXPECT_EQ(ollama_base_url_from_env(), "http://127.0.0.1:11434");
}

TEST(OllamaStore, ManifestsListNameAndTag) {
  TempDir dir;
  std::string library = dir.path() + "/manifests/registry.ollama.ai/library";
  std::filesystem::create_directories(library + "/gemma3");
  std::filesystem::create_directories(library + "/llama3.2");
  std::ofstream(library + "/gemma3/latest") << "{}";
  std::ofstream(library + "/gemma3/1b") << "{}";
  std::ofstream(library + "/llama3.2/3b") << "{}";
  EXPECT_EQ(list_ollama_store(dir.path()),
            (std::vector<std::string>{"gemma3:1b", "gemma3:latest", "llama3.2:3b"}));
  EXPECT_TRUE(list_ollama_store(dir.path() + "/missing").empty());
}

}  // namespace
}  // namespace chimera::agent
