#include "cli/cli_util.h"

#include <signal.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "llm/backend.h"
#include "util/mapped_file.h"
#include "util/strings.h"

namespace chimera::cli {
namespace {

std::atomic<bool>* g_flag = nullptr;
struct sigaction g_previous {}, g_previous_term {};

void on_sigint(int) {
  if (g_flag != nullptr) g_flag->store(true);
}

}  // namespace

std::string command_line_of_this_process(const std::string& fallback) {
  auto text = read_text_file("/proc/self/cmdline");
  if (!text.ok()) return fallback;
  std::vector<std::string> parts = split(*text, '\0');
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  for (std::string& p : parts) {
    if (p.find_first_of(" \t\"'") != std::string::npos) p = "'" + replace_all(p, "'", "'\\''") + "'";
  }
  return join(parts, " ");
}

Result<std::vector<std::string>> read_prompt_file(const std::string& path) {
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  std::vector<std::string> prompts;
  int line_number = 0;
  for (const std::string& raw : split(text, '\n')) {
    ++line_number;
    std::string_view line = trim(raw);
    if (line.empty()) continue;
    if (line.front() != '{') {
      prompts.emplace_back(line);
      continue;
    }
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("prompt") || !j["prompt"].is_string()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{}:{}: a line starting with '{{' must be JSON with a \"prompt\" string "
                        "(JSONL), or write the prompt as plain text",
                        path, line_number);
    }
    prompts.push_back(j["prompt"].get<std::string>());
  }
  if (prompts.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: no prompts (one per line, or JSONL)", path);
  }
  return prompts;
}

InterruptGuard::InterruptGuard(std::atomic<bool>& flag, bool sigterm) : sigterm_(sigterm) {
  flag = false;
  g_flag = &flag;
  struct sigaction action {};
  action.sa_handler = on_sigint;
  action.sa_flags = SA_RESETHAND;  // a second Ctrl-C ends the process at once
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &g_previous);
  if (sigterm_) sigaction(SIGTERM, &action, &g_previous_term);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &g_previous, nullptr);
  if (sigterm_) sigaction(SIGTERM, &g_previous_term, nullptr);
  g_flag = nullptr;
}

}  // namespace chimera::cli
