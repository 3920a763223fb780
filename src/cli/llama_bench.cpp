#include "cli/llama_bench.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/child_process.h"
#include "util/strings.h"

namespace chimera::cli {
Status check_llama_bench(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "--llama-bench: '{}' is not an executable file; give the path of the llama-bench "
        "binary of a llama.cpp build (for example build/bin/llama-bench)",
        path);
  }
  return Status::ok();
}

Result<LlamaBenchSample> parse_llama_bench_json(const std::string& text) {
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_array() || doc.empty() || !doc[0].is_object()) {
    return make_error(
        ErrorCode::kParseError,
        "llama-bench printed no JSON result (expected an array of test objects from -o json; "
        "got '{}')",
        text.substr(0, 120));
  }
  const nlohmann::json& row = doc[0];
  const auto ns = row.find("samples_ns");
  const auto ts = row.find("samples_ts");
  if (ns == row.end() || ts == row.end() || !ns->is_array() || !ts->is_array() || ns->empty() ||
      ts->empty() || !(*ns)[0].is_number() || !(*ts)[0].is_number()) {
    return make_error(
        ErrorCode::kParseError,
        "llama-bench's JSON has no samples_ns / samples_ts numbers (is it a llama-bench "
        "from 2024 or later?)");
  }
  LlamaBenchSample sample;
  sample.ns = (*ns)[0].get<int64_t>();
  sample.tokens_per_s = (*ts)[0].get<double>();
  if (sample.ns <= 0 || !(sample.tokens_per_s > 0)) {
    return make_error(ErrorCode::kParseError,
                      "llama-bench reported a sample of {} ns, {} t/s: not a measurement",
                      sample.ns, sample.tokens_per_s);
  }
  if (auto c = row.find("build_commit"); c != row.end() && c->is_string())
    sample.build_commit = c->get<std::string>();
  if (auto n = row.find("build_number"); n != row.end() && n->is_number_integer())
    sample.build_number = n->get<int64_t>();
  return sample;
}

Result<LlamaBenchSample> run_llama_bench(const std::string& path, const LlamaBenchTest& test) {
  const std::vector<std::string> argv = {path,
                                         "-m",
                                         test.model,
                                         "-p",
                                         std::to_string(test.n_prompt),
                                         "-n",
                                         std::to_string(test.n_gen),
                                         "-t",
                                         std::to_string(test.threads),
                                         "-b",
                                         std::to_string(test.n_batch),
                                         "-ub",
                                         std::to_string(test.n_batch),
                                         "-r",
                                         "1",
                                         "-o",
                                         "json"};
  const char* tmp = std::getenv("TMPDIR");
  std::string out_path =
      fmt::format("{}/chimera-llama-bench-{}.json", tmp && *tmp ? tmp : "/tmp", ::getpid());
  auto child = ChildProcess::start(argv, out_path);
  if (!child.ok()) return child.status();
  const bool ok = (*child)->wait_succeeded();
  std::ifstream in(out_path);
  std::stringstream text;
  text << in.rdbuf();
  ::unlink(out_path.c_str());
  const std::string command = fmt::format("{} -m {} -p {} -n {} -t {}", path, test.model,
                                          test.n_prompt, test.n_gen, test.threads);
  if (!ok) {
    return make_error(ErrorCode::kRemoteError, "llama-bench failed ({}): {} {}", command,
                      (*child)->exit_status(), last_lines((*child)->output(), 3));
  }
  auto sample = parse_llama_bench_json(text.str());
  if (!sample.ok()) {
    return make_error(sample.status().code(), "{} ({})", sample.status().message(), command);
  }
  return sample;
}

}  // namespace chimera::cli
