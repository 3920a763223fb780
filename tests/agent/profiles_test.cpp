#include "agent/profiles.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"

namespace chimera::agent {
namespace {

std::string profile_path(const std::string& name) {
  return chimera::testing::source_dir() + "/profiles/" + name + ".toml";
}

TEST(Profiles, BaselineSendsNoOptions) {
  auto p = load_profile_file(profile_path("baseline"));
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->name, "baseline");
  EXPECT_TRUE(p->options.empty());
  EXPECT_TRUE(p->expected.empty());
}

TEST(Profiles, ChimeraGemma3IsThePriorRankOneConfiguration) {
  auto p = load_profile_file(profile_path("chimera-gemma3"));
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->model_family, "gemma3");
  EXPECT_EQ(p->options.num_gpu, 999);
  EXPECT_EQ(p->options.num_ctx, 4096);
  EXPECT_EQ(p->options.temperature, 0.4);
  EXPECT_EQ(p->options.top_p, 0.9);
  EXPECT_EQ(p->options.top_k, 40);
  EXPECT_EQ(p->options.repeat_penalty, 1.1);
  EXPECT_FALSE(p->options.seed.has_value());  // set per pair by the runner, not by the profile
  ASSERT_EQ(p->expected.size(), 2u);
  EXPECT_EQ(p->expected[0].metric, "decode_tps");
  EXPECT_EQ(p->expected[0].value, 102.31);
  EXPECT_EQ(p->expected[0].decimals, 2);
  EXPECT_EQ(p->expected[0].unit.symbol, "tok/s");
  EXPECT_EQ(p->expected[1].metric, "ttft_s");
  EXPECT_EQ(p->expected[1].value, 0.128);
  EXPECT_EQ(p->expected[1].unit.symbol, "s");
  EXPECT_NE(p->expected_source.find("Technical Report 108"), std::string::npos);
}

TEST(Profiles, BuiltInCopiesMatchTheFiles) {
  for (const char* name : {"baseline", "chimera-gemma3"}) {
    auto file = load_profile_file(profile_path(name));
    auto text = builtin_profile_text(name);
    ASSERT_TRUE(file.ok() && text.has_value()) << name;
    auto builtin = parse_profile(*text, "built-in");
    ASSERT_TRUE(builtin.ok());
    EXPECT_EQ(builtin->name, file->name);
    EXPECT_EQ(builtin->description, file->description);
    EXPECT_EQ(builtin->model_family, file->model_family);
    EXPECT_TRUE(builtin->options == file->options) << name;
    EXPECT_EQ(builtin->expected_source, file->expected_source);
    ASSERT_EQ(builtin->expected.size(), file->expected.size());
    for (size_t i = 0; i < file->expected.size(); ++i) {
      EXPECT_EQ(builtin->expected[i].metric, file->expected[i].metric);
      EXPECT_EQ(builtin->expected[i].value, file->expected[i].value);
    }
  }
}

TEST(Profiles, FindByNameFallsBackToBuiltIns) {
  auto p = find_profile("chimera-gemma3");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->options.num_ctx, 4096);
  auto missing = find_profile("no-such-profile");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("baseline and chimera-gemma3"), std::string::npos);
}

// A user's own profiles live beside the config file, and win over the installed ones; the
// installed ones (the source tree's, for a build-tree binary) win over the built-in copies.
TEST(Profiles, FoundBesideTheConfigFileThenWhereInstalled) {
  chimera::testing::TempDir dir;
  chimera::testing::ScopedEnv no_file("CHIMERA_CONFIG", std::nullopt);
  chimera::testing::ScopedEnv xdg("XDG_CONFIG_HOME", dir.path());
  std::filesystem::create_directories(dir.file("chimera/profiles"));
  std::ofstream(dir.file("chimera/profiles/mine.toml"))
      << "name = \"mine\"\n[options]\nnum_ctx = 2048\n";
  auto mine = find_profile("mine");
  ASSERT_TRUE(mine.ok()) << mine.status().to_string();
  EXPECT_EQ(mine->origin, dir.file("chimera/profiles/mine.toml"));
  EXPECT_EQ(mine->options.num_ctx, 2048);

  auto shipped = find_profile("baseline");
  ASSERT_TRUE(shipped.ok()) << shipped.status().to_string();
  EXPECT_EQ(shipped->origin, chimera::testing::source_dir() + "/profiles/baseline.toml");

  auto missing = find_profile("nobody");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir.file("chimera/profiles/nobody.toml")),
            std::string::npos)
      << missing.status().message();
}

TEST(Profiles, AutoContextIsPromptPlusOutputRoundedUpTo256) {
  EXPECT_EQ(auto_num_ctx(1000, 256), 1280);  // 1256 -> 1280
  EXPECT_EQ(auto_num_ctx(256, 256), 512);
  EXPECT_EQ(auto_num_ctx(0, 0), 256);
  auto p =
      parse_profile("name = \"a\"\n[options]\nnum_ctx = \"auto\"\nnum_predict = 128\n", "a.toml");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_TRUE(p->num_ctx_auto);
  EXPECT_FALSE(p->options.num_ctx.has_value());
  llm::Options sent = p->resolved_options(1900, 128);
  EXPECT_EQ(sent.num_ctx, 2048);
  EXPECT_EQ(sent.num_predict, 128);
}

TEST(Profiles, ErrorsNameTheFileAndTheProblem) {
  auto bad_toml = parse_profile("name = \n", "broken.toml");
  ASSERT_FALSE(bad_toml.ok());
  EXPECT_NE(bad_toml.status().message().find("broken.toml: line 1"), std::string::npos)
      << bad_toml.status().message();

  auto bad_option = parse_profile("[options]\ntop_p = 2.5\n", "p.toml");
  ASSERT_FALSE(bad_option.ok());
  EXPECT_NE(bad_option.status().message().find("top_p"), std::string::npos);

  auto unknown = parse_profile("[options]\nnum_gpus = 1\n", "p.toml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("num_gpus"), std::string::npos);

  auto no_source = parse_profile("[expected]\ndecode_tps = 100\n", "p.toml");
  ASSERT_FALSE(no_source.ok());
  EXPECT_NE(no_source.status().message().find("source"), std::string::npos);
}

}  // namespace
}  // namespace chimera::agent
