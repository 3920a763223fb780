// `cmake --install` as a user (or a packager) runs it: the layout under the prefix, the installed
// binary finding its profiles, roles and example data from any folder, and the man page that the
// build writes from the command line's own definition (every command and option of `--help`).
// The Debian package on a fresh Debian 12 root is scripts/test-deb.sh (ctest:
// package.deb_debian12).
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace chimera {
namespace {

using chimera::testing::contains;

using testing::run_chimera;
using testing::run_program;
using testing::TempDir;
namespace fs = std::filesystem;

// One install for the whole suite: it copies a few MB.
class Installed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    prefix_ = new TempDir();
    auto r = run_program(
        {CHIMERA_CMAKE_COMMAND, "--install", CHIMERA_BINARY_DIR, "--prefix", prefix_->path()});
    install_output_ = r.out + r.err;
    install_ok_ = r.exit_code == 0;
  }
  static void TearDownTestSuite() {
    delete prefix_;
    prefix_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(install_ok_) << install_output_; }
  static std::string at(const std::string& relative) { return prefix_->path() + "/" + relative; }
  static std::string exe() { return at("bin/chimera"); }

  static TempDir* prefix_;
  static std::string install_output_;
  static bool install_ok_;
};
TempDir* Installed::prefix_ = nullptr;
std::string Installed::install_output_;
bool Installed::install_ok_ = false;

TEST_F(Installed, LaysOutBinaryDataDocsAndManPage) {
  for (const char* file :
       {"bin/chimera", "share/chimera/profiles/baseline.toml",
        "share/chimera/profiles/chimera-gemma3.toml", "share/chimera/roles/data-collector.toml",
        "share/chimera/roles/insight.toml", "share/chimera/roles/reporter.toml",
        "share/chimera/examples/data/ollama_sweep/gemma3_latest_param_sweep.csv",
        "share/doc/chimera/README.md", "share/doc/chimera/copyright",
        "share/doc/chimera/docs/README.md", "share/man/man1/chimera.1.gz"}) {
    EXPECT_TRUE(fs::is_regular_file(at(file))) << file;
  }
  // Every guide page of the source tree is installed.
  for (const auto& e : fs::directory_iterator(testing::source_dir() + "/docs")) {
    if (e.path().extension() == ".md") {
      EXPECT_TRUE(fs::exists(at("share/doc/chimera/docs/" + e.path().filename().string())))
          << e.path();
    }
  }
}

// From a folder that has nothing of Chimera's, the installed binary uses the installed files.
TEST_F(Installed, FindsItsFilesFromAnyFolder) {
  TempDir elsewhere;
  auto show = run_program({exe(), "config", "show", "--json"}, elsewhere.path());
  ASSERT_EQ(show.exit_code, 0) << show.err;
  auto j = nlohmann::json::parse(show.out);
  EXPECT_EQ(j["paths"]["share"], at("share/chimera"));
  EXPECT_EQ(j["settings"]["data"]["value"], at("share/chimera/examples/data"));
  bool installed_profiles = false;
  for (const auto& folder : j["paths"]["profiles"]) {
    installed_profiles |= folder == at("share/chimera/profiles");
  }
  EXPECT_TRUE(installed_profiles) << j["paths"]["profiles"];

  auto model = elsewhere.file("tiny.gguf");
  ASSERT_EQ(
      run_chimera({"model", "synth", "--arch", "gemma3", "--size", "tiny", "-o", model}).exit_code,
      0);
  auto run = run_program(
      {exe(), "run", "--backend", "embedded:" + model, "--runs", "2", "--analysis-num-predict", "4",
       "--report-num-predict", "8", "--no-store", "--no-hwmon"},
      elsewhere.path());
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(contains(run.out, "data: " + at("share/chimera/examples/data") + ": 7 of 8 files"))
      << run.out;
  bool wrote_reports = false;
  for (const auto& e : fs::directory_iterator(elsewhere.file("reports"))) {
    wrote_reports |= fs::exists(e.path() / "report.html");
  }
  EXPECT_TRUE(wrote_reports);
}

// The page holds every command and every option that `--help` lists, with the same description.
TEST_F(Installed, ManPageHoldsEveryCommandAndOption) {
  auto unzipped = run_program({"gzip", "-dc", at("share/man/man1/chimera.1.gz")});
  ASSERT_EQ(unzipped.exit_code, 0) << unzipped.err;
  std::string page = std::regex_replace(unzipped.out, std::regex(R"(\\-)"), "-");
  EXPECT_TRUE(contains(page, ".TH CHIMERA 1")) << page.substr(0, 200);
  for (const char* section : {".SH NAME", ".SH SYNOPSIS", ".SH COMMANDS", ".SH CONFIGURATION",
                              ".SH ENVIRONMENT", ".SH FILES", ".SH EXIT STATUS"}) {
    EXPECT_TRUE(contains(page, section)) << section;
  }
  EXPECT_FALSE(contains(page, testing::source_dir()))
      << "a build-machine path leaked into the page";

  int options_checked = 0;
  const std::vector<std::vector<std::string>> commands = {{"run"},
                                                          {"agents"},
                                                          {"generate"},
                                                          {"bench"},
                                                          {"bench", "engine"},
                                                          {"serve"},
                                                          {"model"},
                                                          {"model", "synth"},
                                                          {"model", "info"},
                                                          {"model", "list"},
                                                          {"tokenize"},
                                                          {"results"},
                                                          {"results", "list"},
                                                          {"results", "show"},
                                                          {"results", "export"},
                                                          {"tune"},
                                                          {"config", "show"},
                                                          {"config", "init"}};
  for (const auto& command : commands) {
    std::string path = "chimera";
    for (const auto& c : command) path += " " + c;
    EXPECT_TRUE(contains(page, ".SS \"" + path + "\"")) << path;
    std::vector<std::string> args = command;
    args.push_back("--help");
    auto help = run_chimera(args);
    ASSERT_EQ(help.exit_code, 0) << path << help.err;
    // Options are the lines of the Options: block that start with spaces and a dash.
    std::istringstream lines(help.out);
    std::string line;
    bool in_options = false;
    while (std::getline(lines, line)) {
      if (line == "Options:") in_options = true;
      if (line.empty() || line == "Subcommands:") in_options = line == "Options:";
      std::smatch m;
      if (in_options &&
          std::regex_search(line, m, std::regex(R"(^\s+(-\w,)?(--[a-z][a-z0-9-]*))")) &&
          m[2] != "--help") {
        EXPECT_TRUE(contains(page, "\\fB" + std::string(m[1]) + std::string(m[2])))
            << path << " " << m[2];
        ++options_checked;
      }
    }
  }
  EXPECT_GT(options_checked, 150) << "the --help parsing found too few options";
  // Rendered with every groff warning on, where groff is installed: none.
  auto groff = run_program({"groff", "-man", "-Tutf8", "-ww", "-z", "-"}, "", unzipped.out);
  if (groff.exit_code == 0) {
    EXPECT_TRUE(groff.err.empty()) << groff.err;
  }
}

}  // namespace
}  // namespace chimera
