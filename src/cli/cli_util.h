// Small pieces more than one subcommand needs: the command line as typed (for self-describing
// results), prompt files, and Ctrl-C handling that lets a run stop between calls.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace chimera::cli {

// argv of this process, quoted where a shell would need it.
std::string command_line_of_this_process(const std::string& fallback);

// Prompts, one per line, or JSONL {"prompt": "..."}; blank lines skipped.
Result<std::vector<std::string>> read_prompt_file(const std::string& path);

// While alive, the first Ctrl-C sets `flag` (the run stops between calls and writes what it has);
// a second one ends the process at once. With `sigterm`, SIGTERM stops the run the same way (a
// command that must stop its child servers before it exits).
class InterruptGuard {
 public:
  explicit InterruptGuard(std::atomic<bool>& flag, bool sigterm = false);
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  bool sigterm_;
};

}  // namespace chimera::cli
