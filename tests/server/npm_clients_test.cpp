// The official npm clients against chimera serve: `ollama` (format: schema / "json", generate and
// chat, streamed too) and `openai` (response_format json_schema / json_object, create, stream and
// the client's parse() helper), pinned in tests/server/npm_clients/package.json and installed into
// the build folder at test time (never committed). The answers come from a model with random
// weights and must validate against the schema (Python's jsonschema judges); both clients must list
// the model under the same name. Skipped only where node or npm is not installed.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "server/server_test_support.h"
#include "support/json_schema_check.h"

namespace chimera::testing {
namespace {

namespace fs = std::filesystem;

struct Shell {
  int exit_code = -1;
  std::string output;
};

Shell shell(const std::string& command) {
  Shell result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool on_path(const std::string& program) { return shell("command -v " + program).exit_code == 0; }

const char* kSchema = R"({"type":"object","properties":{"title":{"type":"string","maxLength":30},
  "rows":{"type":"array","items":{"type":"object","properties":{"metric":{"enum":["ttft_ms","decode_tps"]},
  "value":{"type":"number"}},"required":["metric","value"],"additionalProperties":false},"maxItems":3},
  "ok":{"type":"boolean"}},"required":["title","rows","ok"],"additionalProperties":false})";

TEST(NpmClients, OllamaAndOpenAIStructuredOutputCallsWorkAgainstChimeraServe) {
  if (!on_path("node") || !on_path("npm")) {
    GTEST_SKIP() << "node and npm are not installed, so the official npm clients cannot run "
                    "(apt-get install nodejs npm)";
  }
  // A folder the test owns, in the build tree: package.json with the pinned versions and the
  // script.
  const fs::path source = fs::path(CHIMERA_SOURCE_DIR) / "tests/server/npm_clients";
  const fs::path dir = fs::path(CHIMERA_BINARY_DIR) / "npm-clients";
  fs::create_directories(dir);
  for (const char* file : {"package.json", "structured_outputs.mjs"}) {
    fs::copy_file(source / file, dir / file, fs::copy_options::overwrite_existing);
  }
  Shell install = shell("cd '" + dir.string() +
                        "' && timeout 600 npm install --no-audit --no-fund --no-package-lock "
                        "--loglevel=error");
  ASSERT_EQ(install.exit_code, 0) << "npm install of the pinned clients failed:\n"
                                  << install.output;

  auto server = start_server(tiny_config());
  ASSERT_NE(server, nullptr);
  std::ofstream(dir / "schema.json") << kSchema;
  const std::string host = "http://127.0.0.1:" + std::to_string(server->port());
  Shell run = shell("cd '" + dir.string() + "' && timeout 600 node structured_outputs.mjs " + host +
                    " schema.json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string last_line =
      run.output.substr(run.output.rfind('{', run.output.find("\"versions\"")));
  Json result = Json::parse(last_line, nullptr, false);
  ASSERT_TRUE(result.is_object()) << run.output;
  std::printf("[ info     ] clients: ollama %s, openai %s, node %s\n",
              result["versions"]["ollama"].get<std::string>().c_str(),
              result["versions"]["openai"].get<std::string>().c_str(),
              result["versions"]["node"].get<std::string>().c_str());

  // Both clients list the model under one name (name:tag), which they then call with.
  EXPECT_EQ(result["names"]["ollama"], result["names"]["openai"]);
  EXPECT_EQ(result["names"]["ollama"], Json::array({"tiny:latest"}));

  std::vector<std::string> texts;
  std::vector<std::string> labels;
  for (const char* key : {"ollama_generate", "ollama_chat", "ollama_chat_stream", "openai_create",
                          "openai_stream", "openai_parse"}) {
    ASSERT_TRUE(result[key].is_array()) << key;
    EXPECT_EQ(result[key].size(), 5u) << key;
    for (const Json& text : result[key]) {
      texts.push_back(text.get<std::string>());
      labels.push_back(key);
    }
  }
  SchemaCheck check = check_against_schema(kSchema, texts);
  if (!check.available) GTEST_SKIP() << "no independent validator: " << check.unavailable_reason;
  for (size_t i = 0; i < texts.size(); ++i)
    EXPECT_EQ(check.errors[i], "") << labels[i] << ": " << texts[i];
  for (const char* key : {"ollama_json", "openai_json_object"}) {
    for (const Json& text : result[key]) {
      Json parsed = Json::parse(text.get<std::string>(), nullptr, false);
      EXPECT_TRUE(!parsed.is_discarded() && parsed.is_object()) << key << ": " << text;
    }
  }
}

}  // namespace
}  // namespace chimera::testing
