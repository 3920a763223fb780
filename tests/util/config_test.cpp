// The config file as util/config reads it: keys with their lines, types checked with messages that
// name the file, the line and the key; unknown keys said and ignored; the environment checked; the
// file's place from CHIMERA_CONFIG, XDG_CONFIG_HOME or HOME.
#include <gtest/gtest.h>

#include <fstream>

#include "support/test_support.h"
#include "util/config.h"
#include "util/paths.h"

namespace chimera {
namespace {

using chimera::testing::contains;

using testing::ScopedEnv;
using testing::TempDir;

std::string write(const TempDir& dir, const std::string& text) {
  const std::string path = dir.file("config.toml");
  std::ofstream(path) << text;
  return path;
}

TEST(Config, ReadsEveryKeyWithItsLine) {
  TempDir dir;
  ScopedEnv home("HOME", dir.path());
  const std::string path = write(dir,
                                 "# defaults\n"
                                 "backend = \"ollama://gpu-box:11434/gemma3:4b\"\n"
                                 "threads = 6\n"
                                 "out = \"~/reports\"\n"
                                 "db = \"/srv/chimera/results.db\"\n");
  auto file = read_config_file(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_TRUE(file->found);
  EXPECT_TRUE(file->warnings.empty());
  ASSERT_EQ(file->values.size(), 4u);
  EXPECT_EQ(file->values.at("backend").value, "ollama://gpu-box:11434/gemma3:4b");
  EXPECT_EQ(file->values.at("backend").origin, path + ":2");
  EXPECT_EQ(file->values.at("threads").value, "6");
  EXPECT_EQ(file->values.at("threads").origin, path + ":3");
  EXPECT_EQ(file->values.at("out").value, dir.path() + "/reports");  // ~ is the home folder
  EXPECT_EQ(file->values.at("db").value, "/srv/chimera/results.db");
}

TEST(Config, MissingFileIsAnEmptyConfiguration) {
  TempDir dir;
  auto file = read_config_file(dir.file("nothing.toml"));
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(file->found);
  EXPECT_TRUE(file->values.empty());
}

TEST(Config, WrongTypesNameTheFileLineAndKey) {
  TempDir dir;
  auto quoted_count = read_config_file(write(dir, "\nthreads = \"8\"\n"));
  ASSERT_FALSE(quoted_count.ok());
  EXPECT_TRUE(contains(quoted_count.status().message(), dir.file("config.toml") + ":2: threads"))
      << quoted_count.status().message();
  EXPECT_TRUE(contains(quoted_count.status().message(), "whole number"));

  auto negative = read_config_file(write(dir, "threads = -1\n"));
  ASSERT_FALSE(negative.ok());
  EXPECT_TRUE(contains(negative.status().message(), ">= 0")) << negative.status().message();

  auto number_backend = read_config_file(write(dir, "backend = 3\n"));
  ASSERT_FALSE(number_backend.ok());
  EXPECT_TRUE(contains(number_backend.status().message(), "backend must be a string"))
      << number_backend.status().message();

  auto syntax = read_config_file(write(dir, "model = \"gemma3\"\nout = [\n"));
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.status().code(), ErrorCode::kParseError);
  EXPECT_TRUE(contains(syntax.status().message(), dir.file("config.toml") + ":"))
      << syntax.status().message();
}

TEST(Config, UnknownKeysAreSaidAndIgnored) {
  TempDir dir;
  auto file = read_config_file(write(dir, "thread = 4\nmodel = \"gemma3:1b\"\n"));
  ASSERT_TRUE(file.ok()) << file.status().message();
  ASSERT_EQ(file->warnings.size(), 1u);
  EXPECT_TRUE(contains(file->warnings[0], ":1: unknown key 'thread'")) << file->warnings[0];
  EXPECT_TRUE(contains(file->warnings[0], "threads")) << "the known keys are listed";
  EXPECT_EQ(file->values.size(), 1u);
  EXPECT_EQ(file->values.at("model").value, "gemma3:1b");
}

TEST(Config, FileIsFoundThroughConfigXdgOrHome) {
  ScopedEnv no_config("CHIMERA_CONFIG", std::nullopt);
  ScopedEnv home("HOME", "/home/someone");
  {
    ScopedEnv xdg("XDG_CONFIG_HOME", std::nullopt);
    EXPECT_EQ(config_file_path(), "/home/someone/.config/chimera/config.toml");
  }
  {
    ScopedEnv xdg("XDG_CONFIG_HOME", "/cfg");
    EXPECT_EQ(config_file_path(), "/cfg/chimera/config.toml");
    EXPECT_EQ(config_dir(), "/cfg/chimera");
    ScopedEnv explicit_file("CHIMERA_CONFIG", "/etc/chimera.toml");
    EXPECT_EQ(config_file_path(), "/etc/chimera.toml");
  }
}

TEST(Config, EnvironmentWinsAndIsChecked) {
  {
    ScopedEnv threads("CHIMERA_THREADS", "3");
    auto v = lookup_setting("threads");
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->value, "3");
    EXPECT_EQ(v->source, SettingSource::kEnvironment);
    EXPECT_EQ(describe_source(*v), "environment CHIMERA_THREADS");
    EXPECT_TRUE(check_user_config().is_ok());
  }
  {
    ScopedEnv threads("CHIMERA_THREADS", "many");
    Status s = check_user_config();
    ASSERT_FALSE(s.is_ok());
    EXPECT_TRUE(contains(s.message(), "CHIMERA_THREADS=many")) << s.message();
    EXPECT_FALSE(lookup_setting("threads").has_value());
  }
  {
    // Empty means unset, so one command can drop a variable: CHIMERA_BACKEND= chimera run.
    ScopedEnv backend("CHIMERA_BACKEND", "");
    EXPECT_FALSE(configured("backend").has_value());
  }
  {
    ScopedEnv host("OLLAMA_HOST", "10.0.0.5:11434");
    EXPECT_EQ(configured("ollama_host"), "10.0.0.5:11434");
  }
}

TEST(Config, EveryKeyHasAVariableAndAMeaning) {
  for (const SettingSpec& spec : setting_specs()) {
    EXPECT_FALSE(spec.env_var.empty()) << spec.key;
    EXPECT_FALSE(spec.meaning.empty()) << spec.key;
    EXPECT_FALSE(spec.used_by.empty()) << spec.key;
    EXPECT_EQ(find_setting_spec(spec.key), &spec);
  }
  EXPECT_EQ(find_setting_spec("nothing"), nullptr);
}

}  // namespace
}  // namespace chimera
