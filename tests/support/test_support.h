// Shared test helpers: temporary directories, paths to fixtures and the fetched vocabularies,
// and running the chimera binary as a user would.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace chimera::testing {

// A fresh directory under $TMPDIR, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Sets (or, with nullopt, unsets) an environment variable for the lifetime of the object; the
// children run_chimera starts inherit it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::string source_dir();
std::string chimera_exe();

bool contains(const std::string& text, const std::string& part);
// A whole file's text ("" when it cannot be read).
std::string read_file(const std::string& path);
// The one OUT/<timestamp>/ folder a run of chimera run or chimera agents wrote ("" when none).
std::string run_folder(const std::string& out);
// Directory of the real vocabularies (scripts/fetch-vocab.sh); empty when they are absent.
std::string vocab_dir_if_present();

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the chimera binary with args (no shell), capturing stdout and stderr.
CommandResult run_chimera(const std::vector<std::string>& args, const std::string& stdin_text = "");
// Runs any program (argv[0] looked up in PATH), in `cwd` when not empty.
CommandResult run_program(const std::vector<std::string>& argv, const std::string& cwd = "",
                          const std::string& stdin_text = "");

}  // namespace chimera::testing
