// The configuration as a user meets it: `chimera config show | path | init`, and the precedence
// flag > environment > config file > default on commands that act on it (the results database a
// command opens, the engine threads a generation runs on, the Ollama server and store the automatic
// backend choice looks at), broken files and variables stopping every command with a message.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace chimera {
namespace {

using chimera::testing::contains;

using nlohmann::json;
using testing::run_chimera;
using testing::ScopedEnv;
using testing::TempDir;
namespace fs = std::filesystem;

// A config home with chimera/config.toml holding `text`, used through XDG_CONFIG_HOME.
class ConfigHome {
 public:
  explicit ConfigHome(const std::string& text)
      : no_explicit_file_("CHIMERA_CONFIG", std::nullopt), xdg_("XDG_CONFIG_HOME", dir_.path()) {
    fs::create_directories(dir_.file("chimera"));
    std::ofstream(file()) << text;
  }
  std::string file() const { return dir_.file("chimera/config.toml"); }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  ScopedEnv no_explicit_file_;
  ScopedEnv xdg_;
};

json show() {
  auto r = run_chimera({"config", "show", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

TEST(ConfigCli, ShowNamesWhereEachValueComesFrom) {
  ConfigHome home(
      "backend = \"ollama://gpu-box:11434/gemma3:4b\"\n"
      "threads = 4\n");
  ScopedEnv threads("CHIMERA_THREADS", "2");
  json j = show();
  EXPECT_EQ(j["config_file"]["path"], home.file());
  EXPECT_EQ(j["config_file"]["found"], true);
  const json& s = j["settings"];
  EXPECT_EQ(s["backend"]["value"], "ollama://gpu-box:11434/gemma3:4b");
  EXPECT_EQ(s["backend"]["source"], "config file " + home.file() + ":1");
  EXPECT_EQ(s["threads"]["value"], "2");
  EXPECT_EQ(s["threads"]["source"], "environment CHIMERA_THREADS");
  EXPECT_EQ(s["threads"]["overrides"], home.file() + ":2");
  EXPECT_TRUE(contains(s["out"]["source"].get<std::string>(), "default"));
  EXPECT_EQ(s["out"]["value"], "reports");
  // The default data folder is the shipped example data, wherever the command runs from.
  EXPECT_TRUE(fs::is_directory(s["data"]["value"].get<std::string>())) << s["data"];

  auto text = run_chimera({"config", "show"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "config file " + home.file() + ":1")) << text.out;
  EXPECT_TRUE(contains(text.out, "environment CHIMERA_THREADS")) << text.out;
}

TEST(ConfigCli, PathFollowsXdgConfigHome) {
  ConfigHome home("");
  auto r = run_chimera({"config", "path"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, home.file() + "\n");
}

// The results database a command opens: the flag, else CHIMERA_DB, else the config file's db.
TEST(ConfigCli, FlagBeatsEnvironmentBeatsFile) {
  TempDir dir;
  ConfigHome home("db = \"" + dir.file("from-file.db") + "\"\n");
  auto from_file = run_chimera({"results", "list"});
  EXPECT_EQ(from_file.exit_code, 1);
  EXPECT_TRUE(contains(from_file.err, "from-file.db")) << from_file.err;

  ScopedEnv db("CHIMERA_DB", dir.file("from-env.db"));
  auto from_env = run_chimera({"results", "list"});
  EXPECT_TRUE(contains(from_env.err, "from-env.db")) << from_env.err;

  auto from_flag = run_chimera({"results", "list", "--db", dir.file("from-flag.db")});
  EXPECT_TRUE(contains(from_flag.err, "from-flag.db")) << from_flag.err;

  // --help shows the value in force as the default.
  auto help = run_chimera({"results", "list", "--help"});
  EXPECT_TRUE(contains(help.out, "from-env.db")) << help.out;
}

TEST(ConfigCli, ThreadsReachTheEngine) {
  TempDir dir;
  const std::string model = dir.file("tiny.gguf");
  auto synth = run_chimera({"model", "synth", "--arch", "gemma3", "--size", "tiny", "-o", model});
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  auto threads_of = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate",      "-m", model,   "-p", "hi",
                                     "--num-predict", "2",  "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run_chimera(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? -1 : j["options"]["num_thread"].get<int>();
  };
  ConfigHome home("threads = 1\n");
  EXPECT_EQ(threads_of({}), 1);
  ScopedEnv env("CHIMERA_THREADS", "3");
  EXPECT_EQ(threads_of({}), 3);
  EXPECT_EQ(threads_of({"--num-thread", "2"}), 2);
}

// The automatic backend choice asks the configured Ollama server and store; OLLAMA_HOST wins.
TEST(ConfigCli, OllamaHostAndStoreFromTheFile) {
  TempDir dir;
  fs::create_directories(dir.file("store"));
  ConfigHome home("ollama_host = \"127.0.0.1:9\"\nollama_models = \"" + dir.file("store") +
                  "\"\nmodel = \"nothere:1b\"\n");
  ScopedEnv no_host("OLLAMA_HOST", std::nullopt);
  ScopedEnv no_store("OLLAMA_MODELS", std::nullopt);
  // With a model named (here by the file), a missing model is an error, not dummy weights.
  auto r = run_chimera({"run", "--no-store", "--no-hwmon", "--out", dir.file("out")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, "Ollama at 127.0.0.1:9: not answering")) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, dir.file("store") + ": no nothere:1b")) << r.out << r.err;

  ScopedEnv host("OLLAMA_HOST", "127.0.0.1:7");
  auto env = run_chimera({"run", "--no-store", "--no-hwmon", "--out", dir.file("out")});
  EXPECT_TRUE(contains(env.out + env.err, "Ollama at 127.0.0.1:7: not answering"))
      << env.out << env.err;
}

TEST(ConfigCli, BrokenFileOrVariableStopsEveryCommand) {
  {
    ConfigHome home("threads = \"eight\"\n");
    auto r = run_chimera({"model", "list"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(r.err, home.file() + ":1: threads must be a whole number")) << r.err;
  }
  {
    ConfigHome home("out = [\n");
    auto r = run_chimera({"config", "show"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(contains(r.err, home.file() + ":")) << r.err;
  }
  {
    ConfigHome home("");
    ScopedEnv threads("CHIMERA_THREADS", "all");
    auto r = run_chimera({"config", "show"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(r.err, "CHIMERA_THREADS=all")) << r.err;
  }
  {
    ConfigHome home("treads = 4\n");  // a typo is said, and the command still runs
    auto r = run_chimera({"config", "show"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.err, "unknown key 'treads'")) << r.err;
  }
}

TEST(ConfigCli, InitWritesATemplateThatReads) {
  TempDir dir;
  ScopedEnv no_explicit_file("CHIMERA_CONFIG", std::nullopt);
  ScopedEnv xdg("XDG_CONFIG_HOME", dir.path());
  auto r = run_chimera({"config", "init"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string file = dir.file("chimera/config.toml");
  ASSERT_TRUE(fs::exists(file));
  json j = show();  // every line is a comment: all defaults, no warnings
  EXPECT_EQ(j["config_file"]["found"], true);
  EXPECT_TRUE(j["warnings"].empty()) << j["warnings"];
  for (const auto& [key, setting] : j["settings"].items()) {
    EXPECT_TRUE(contains(setting["source"].get<std::string>(), "default")) << key;
  }
  auto again = run_chimera({"config", "init"});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_TRUE(contains(again.err, "--force")) << again.err;
  EXPECT_EQ(run_chimera({"config", "init", "--force"}).exit_code, 0);
}

}  // namespace
}  // namespace chimera
