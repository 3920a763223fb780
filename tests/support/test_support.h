// Shared test helpers: temporary directories, paths to fixtures and the fetched vocabularies,
// and running the chimera binary as a user would.
#pragma once

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

std::string source_dir();
std::string chimera_exe();
// Directory of the real vocabularies (scripts/fetch-vocab.sh); empty when they are absent.
std::string vocab_dir_if_present();

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the chimera binary with args (no shell), capturing stdout and stderr.
CommandResult run_chimera(const std::vector<std::string>& args, const std::string& stdin_text = "");

}  // namespace chimera::testing
