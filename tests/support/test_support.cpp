#include "support/test_support.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "util/mapped_file.h"
#include "util/paths.h"

extern char** environ;

namespace chimera::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/chimera-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ScopedEnv::ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
  if (const char* old = std::getenv(name)) old_ = old;
  if (value) {
    setenv(name, value->c_str(), 1);
  } else {
    unsetenv(name);
  }
}

ScopedEnv::~ScopedEnv() {
  if (old_) {
    setenv(name_, old_->c_str(), 1);
  } else {
    unsetenv(name_);
  }
}

namespace {

// Every suite starts without the user's configuration (util/config.h): a config file or a
// CHIMERA_* variable on the machine that runs the tests would change what the commands do. Tests of
// the configuration set their own.
const bool kConfigIsolated = [] {
  setenv("CHIMERA_CONFIG", "/nonexistent/chimera-tests/config.toml", 1);
  for (const char* name : {"CHIMERA_BACKEND", "CHIMERA_MODEL", "CHIMERA_OUT", "CHIMERA_DATA",
                           "CHIMERA_DB", "CHIMERA_THREADS"}) {
    unsetenv(name);
  }
  return true;
}();

}  // namespace

std::string source_dir() { return CHIMERA_SOURCE_DIR; }

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string run_folder(const std::string& out) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(out, ec)) {
    if (e.is_directory()) return e.path().string();
  }
  return "";
}
std::string chimera_exe() { return CHIMERA_EXE; }

std::string vocab_dir_if_present() {
  std::string dir = chimera::vocab_dir();
  std::error_code ec;
  if (std::filesystem::exists(dir + "/gemma3/tokenizer.json", ec)) return dir;
  return "";
}

CommandResult run_chimera(const std::vector<std::string>& args, const std::string& stdin_text) {
  std::vector<std::string> argv = {chimera_exe()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, "", stdin_text);
}

CommandResult run_program(const std::vector<std::string>& argv_in, const std::string& cwd,
                          const std::string& stdin_text) {
  TempDir tmp;
  std::string out_path = tmp.file("stdout"), err_path = tmp.file("stderr"),
              in_path = tmp.file("stdin");
  {
    FILE* f = std::fopen(in_path.c_str(), "wb");
    std::fwrite(stdin_text.data(), 1, stdin_text.size(), f);
    std::fclose(f);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  std::vector<std::string> argv_storage = argv_in;
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  CommandResult result;
  if (posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    result.err = "posix_spawn failed";
    return result;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_text_file(out_path).value_or("");
  result.err = read_text_file(err_path).value_or("");
  return result;
}

}  // namespace chimera::testing
