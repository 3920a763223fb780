// chimera agents: N agents at once over one or many endpoints, each agent's workflow also run
// alone, so the report gives the real speedup (with its CI), efficiency, slowdowns, fairness and
// the prior system's balance ratio named as such. Flags and printing only: the work is
// agent/agents_job.h.

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "agent/agents_job.h"
#include "agent/agents_outputs.h"
#include "agent/agents_report.h"
#include "cli/cli_util.h"
#include "cli/command.h"
#include "cli/configured.h"
#include "cli/run_support.h"
#include "util/json_text.h"
#include "util/paths.h"
#include "util/strings.h"
#include "util/term.h"

namespace chimera::cli {
namespace {

struct AgentsArgs {
  std::string agents = "2";
  std::string scenario = "homogeneous";
  std::vector<std::string> roles, profiles, backends;
  std::string baseline = "baseline", chimera = "chimera-gemma3";
  std::string model;
  std::string assign = "pin";
  int spawn = 0, spawn_parallel = 0, spawn_ctx = 4096, spawn_threads = 0;
  std::string data = "examples/data", out = "reports", db;
  std::string dummy_size = "270m";
  int repetitions = 3;
  uint64_t seed = 42;
  int64_t num_predict = 0;
  size_t fact_budget_chars = 3500;
  bool no_prime = false;
  int scrape_period_ms = 250;
  double timeout_s = 600, retry_budget_s = 120;
  bool no_scrape = false, no_store = false, strict = false, json = false;
};

std::atomic<bool> g_interrupted{false};

// Comma lists and repeated flags alike: --role a,b --role c -> a, b, c.
std::vector<std::string> flatten(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    for (const auto& part : split(v, ',')) {
      if (!trim(part).empty()) out.emplace_back(trim(part));
    }
  }
  return out;
}

void print_summary(const agent::AgentsRun& run) {
  for (const auto& l : run.levels) {
    const lab::ConcurrencyAnalysis& a = l.analysis;
    std::printf("%d agent%s: %s\n", l.agents, l.agents == 1 ? "" : "s",
                agent::speedup_sentence(a).c_str());
    if (a.sequential_wall_s.n > 0) {
      std::printf(
          "  walls: solo (sequential) %.2f s, concurrent %.2f s; aggregate %.1f tok/s "
          "concurrently vs %.1f tok/s solo\n",
          a.sequential_wall_s.mean, a.concurrent_wall_s.mean, a.concurrent_aggregate_tps.mean,
          a.solo_aggregate_tps.mean);
    }
    if (l.agents > 1 && a.fairness.n > 0) {
      std::printf(
          "  fairness (Jain) %.3f; balance ratio %.2f (the prior system's \"concurrency "
          "speedup\": overlap, not speed)\n",
          a.fairness.mean, a.balance_ratio.mean);
      std::printf("  %s\n", a.contention.sentence.c_str());
    }
  }
  size_t failed = agent::failed_calls(run).size();
  if (failed > 0) {
    std::printf("failures: %zu call%s failed; combined_report.md says which and when\n", failed,
                failed == 1 ? "" : "s");
  }
}

int agents_main(const AgentsArgs& a) {
  agent::AgentsJob job;
  auto counts = agent::parse_agent_counts(a.agents);
  if (!counts.ok()) return report_error(counts.status());
  job.agent_counts = *counts;
  auto scenario = agent::parse_scenario(a.scenario);
  if (!scenario.ok()) return report_error(scenario.status());
  job.scenario = *scenario;
  auto assignment = agent::parse_assignment(a.assign);
  if (!assignment.ok()) return report_error(assignment.status());
  job.assignment = *assignment;
  job.roles = flatten(a.roles);
  job.profiles = flatten(a.profiles);
  job.backends = flatten(a.backends);
  if (auto configured = configured_backend(); job.backends.empty() && configured) {
    job.backends = {*configured};
  }
  job.baseline_profile = a.baseline;
  job.chimera_profile = a.chimera;
  job.model = a.model;
  job.spawn = a.spawn;
  job.spawn_parallel = a.spawn_parallel;
  job.spawn_ctx = a.spawn_ctx;
  job.spawn_threads = a.spawn_threads;
  std::error_code ec;
  job.exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  job.data = a.data;
  job.out = a.out;
  job.db = a.db;
  job.no_store = a.no_store;
  job.repetitions = a.repetitions;
  job.seed = a.seed;
  if (a.num_predict > 0) job.num_predict = a.num_predict;
  job.fact_budget_chars = a.fact_budget_chars;
  job.prime = !a.no_prime;
  job.scrape = !a.no_scrape;
  job.scrape_period_ms = a.scrape_period_ms;
  job.read_timeout_ms = static_cast<int64_t>(a.timeout_s * 1000);
  job.retry_budget_ms = static_cast<int64_t>(a.retry_budget_s * 1000);
  job.command_line = command_line("chimera agents");
  job.probes = agent::default_probes();
  std::string dummy_size = a.dummy_size;
  job.probes.dummy_model = [dummy_size] { return dummy_model(dummy_size); };
  job.cancelled = [] { return g_interrupted.load(); };
  std::optional<term::ProgressBar> progress;
  int64_t progress_total = -1;
  job.say = [&](const std::string& line) {
    if (progress) progress->finish(), progress.reset();
    std::fprintf(a.json ? stderr : stdout, "%s\n", line.c_str());
    std::fflush(a.json ? stderr : stdout);
  };
  job.progress = [&](int64_t done, int64_t total, const std::string& detail) {
    if (!progress || total != progress_total) {
      if (progress) progress->finish();
      progress.emplace("agents", total);
      progress_total = total;
    }
    progress->update(done, detail);
  };

  // Ctrl-C and SIGTERM stop the run between calls (calls in flight are cancelled); the spawned
  // servers are stopped and what finished is reported.
  std::optional<InterruptGuard> guard(std::in_place, g_interrupted, /*sigterm=*/true);
  auto run = agent::run_agents_job(job);
  guard.reset();
  if (progress) progress->finish();
  if (!run.ok()) {
    if (g_interrupted) {
      std::fprintf(stderr, "chimera: interrupted: %s\n", run.status().message().c_str());
      return 130;
    }
    return report_error(run.status());
  }
  for (const auto& w : run->warnings) std::fprintf(stderr, "chimera: warning: %s\n", w.c_str());
  if (a.json) {
    std::printf("%s\n", json_text(agent::agents_summary_json(*run), 2).c_str());
  } else {
    print_summary(*run);
    std::printf("\nreports: %s/\n", run->output_dir.c_str());
    for (const auto& f : run->output_files) {
      std::printf("  %s\n", std::filesystem::path(f).filename().c_str());
    }
    if (!run->database.empty()) {
      std::vector<std::string> ids;
      for (int64_t id : run->session_ids) ids.push_back(std::to_string(id));
      std::printf("results database: %s (session%s %s: one per agent count)\n",
                  run->database.c_str(), ids.size() == 1 ? "" : "s", join(ids, ", ").c_str());
    }
    if (run->synthetic) {
      std::printf(
          "note: dummy weights: the agents' text is not meaningful; the timings are real "
          "for this architecture on this machine\n");
    }
  }
  std::fflush(stdout);

  if (run->cancelled) return 130;
  size_t ok = 0, findings = 0;
  for (const auto& l : run->levels) {
    for (const auto& r : l.result.runs) {
      ok += r.execution.ok;
      findings += r.execution.validation.findings.size();
    }
  }
  if (ok == 0) {
    std::string first = "no execution finished";
    auto failed = agent::failed_calls(*run);
    if (!failed.empty()) first = failed.front().error;
    return report_error(
        Status(ErrorCode::kUnavailable, "no agent execution succeeded; the first error: " + first));
  }
  if (!agent::failed_calls(*run).empty()) return kExitPartial;
  if (a.strict && findings > 0) {
    std::fprintf(stderr,
                 "chimera: --strict: the validator found %zu problems in the agents' text\n",
                 findings);
    return kExitFindings;
  }
  return kExitOk;
}

}  // namespace

void register_agents(CLI::App& app) {
  auto args = std::make_shared<AgentsArgs>();
  auto* sub = app.add_subcommand(
      "agents",
      "Several agents at once over one or more endpoints: solo vs concurrent, the true speedup");
  sub->add_option("--agents", args->agents, "agents at once (1 to 64), or a sweep such as 1,2,4,8")
      ->capture_default_str();
  sub->add_option("--scenario", args->scenario,
                  "homogeneous (one --profile for all) | heterogeneous (a --profile per agent, in "
                  "turn) | baseline_vs_chimera (even agents --baseline, odd agents --chimera)")
      ->capture_default_str();
  sub->add_option("--role", args->roles,
                  "role of each agent, in turn (name or .toml; repeat or comma-separate; default "
                  "data-collector,insight; built in: data-collector, insight, reporter)");
  sub->add_option("--profile", args->profiles,
                  "profile(s) for homogeneous/heterogeneous (default chimera-gemma3)");
  sub->add_option("--baseline", args->baseline, "baseline_vs_chimera: the baseline profile")
      ->capture_default_str();
  sub->add_option("--chimera", args->chimera, "baseline_vs_chimera: the Chimera profile")
      ->capture_default_str();
  sub->add_option("--backend", args->backends,
                  "an endpoint (repeat for several): ollama://host:port/MODEL, "
                  "openai://host:port/MODEL, embedded:PATH.gguf; default: chosen as chimera run "
                  "chooses");
  default_from_config(
      sub->add_option("--model", args->model, "model name (fills endpoints that name none)"),
      args->model, "model");
  sub->add_option("--assign", args->assign,
                  "pin (agent i -> endpoint i) | round-robin | least-outstanding (per call)")
      ->capture_default_str();
  sub->add_option("--spawn", args->spawn,
                  "start K chimera serve instances on free loopback ports with the model, stop "
                  "them at the end")
      ->capture_default_str();
  sub->add_option("--spawn-parallel", args->spawn_parallel,
                  "--parallel of each spawned server (0: enough slots for the agents)")
      ->capture_default_str();
  sub->add_option("--spawn-ctx", args->spawn_ctx, "--ctx of each spawned server")
      ->capture_default_str();
  default_from_config(sub->add_option("--spawn-threads", args->spawn_threads,
                                      "--threads of each spawned server (0: its default)")
                          ->capture_default_str(),
                      args->spawn_threads, "threads");
  sub->add_option("--repetitions", args->repetitions,
                  "repetitions of solo + concurrent per agent count")
      ->capture_default_str();
  sub->add_option("--num-predict", args->num_predict,
                  "output cap of every call, tokens (0: each role's own)")
      ->capture_default_str();
  sub->add_option("--seed", args->seed, "derives the per-repetition seeds")->capture_default_str();
  args->data = default_data_folder();
  default_from_config(sub->add_option("--data", args->data, "benchmark-data folder the agents read")
                          ->capture_default_str(),
                      args->data, "data");
  default_from_config(
      sub->add_option("--out", args->out, "output folder; each run writes OUT/<timestamp>/")
          ->capture_default_str(),
      args->out, "out");
  sub->add_flag(
      "--no-prime", args->no_prime,
      "skip the unmeasured priming pass that starts each repetition (it puts the "
      "repetition's prompts in the servers' prompt caches, so the solo and the concurrent "
      "phase find the same ones there)");
  sub->add_option("--fact-budget", args->fact_budget_chars, "characters of facts per prompt")
      ->capture_default_str();
  sub->add_option("--dummy-size", args->dummy_size,
                  "gemma3 size of the dummy-weight fallback model (270m, 1b, 4b)")
      ->capture_default_str();
  sub->add_option("--timeout", args->timeout_s, "seconds of silence before a call fails")
      ->capture_default_str();
  sub->add_option(
         "--retry-budget", args->retry_budget_s,
         "seconds a call may wait for a server answering 429/503 (loading) before it fails")
      ->capture_default_str();
  sub->add_option("--scrape-period-ms", args->scrape_period_ms,
                  "how often the endpoints' Prometheus /metrics are read")
      ->capture_default_str();
  sub->add_flag("--no-scrape", args->no_scrape, "do not read the endpoints' /metrics");
  default_from_config(
      sub->add_option("--db", args->db, "results database (default: data_dir()/results.db)"),
      args->db, "db");
  sub->add_flag("--no-store", args->no_store, "do not write the results database");
  sub->add_flag("--strict", args->strict,
                "exit with code 3 when the validator finds any problem in the agents' text");
  sub->add_flag("--json", args->json, "print the statistics as JSON on stdout");
  sub->footer(
      "Exit codes: 0 done; 1 failed (no agent execution succeeded, or setup failed); 2 bad flags; "
      "3 --strict and the validator found problems; 4 done, but some calls failed (see Failures "
      "in combined_report.md); 130 interrupted.");
  sub->callback([args] { set_exit_code(agents_main(*args)); });
}

}  // namespace chimera::cli
