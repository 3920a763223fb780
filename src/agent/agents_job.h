// `chimera agents`, all of it but the flags: choose the model as `chimera run` does (or take the
// --backend endpoints, or spawn `chimera serve` children), build the agents of the scenario, run
// the solo-vs-concurrent protocol (agent/multi_agent.h) for each agent count of the sweep while
// scraping the servers' Prometheus /metrics, store every call, compute the concurrency statistics
// (lab/concurrency.h) and write the reports. Tests call run_agents_job() without a shell.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/backend_choice.h"
#include "agent/endpoints.h"
#include "agent/multi_agent.h"
#include "lab/bench_report.h"
#include "lab/concurrency.h"
#include "lab/prometheus.h"

namespace chimera::agent {

enum class Scenario {
  kHomogeneous,        // one profile for every agent
  kHeterogeneous,      // a profile per agent, --profile values in turn
  kBaselineVsChimera,  // even agents baseline, odd agents Chimera
};
std::string_view scenario_name(Scenario scenario);
Result<Scenario> parse_scenario(std::string_view text);

// Agent counts: "1,2,4,8" (each 1 to 64, no repeats, kept in the order given).
Result<std::vector<int>> parse_agent_counts(std::string_view text);

struct AgentsJob {
  std::vector<int> agent_counts = {2};
  Scenario scenario = Scenario::kHomogeneous;
  std::vector<std::string> roles;     // cycled over agents; empty: data-collector, insight
  std::vector<std::string> profiles;  // homogeneous: the first (default chimera-gemma3);
                                      // heterogeneous: cycled (at least two)
  std::string baseline_profile = "baseline", chimera_profile = "chimera-gemma3";
  std::vector<std::string> backends;  // --backend, once or many times; empty: chosen
  std::string model;                  // --model
  Assignment assignment = Assignment::kPin;
  int spawn = 0;           // --spawn K
  int spawn_parallel = 0;  // --parallel of each spawned server (0: enough slots)
  int spawn_ctx = 4096;
  int spawn_threads = 0;
  std::string exe;  // the chimera binary, for --spawn
  std::string data = "examples/data";
  std::string out = "reports";
  std::string db;  // "" = the default results database
  bool no_store = false;
  int repetitions = 3;
  uint64_t seed = 42;
  std::optional<int64_t> num_predict;  // caps every call (each role's caps otherwise)
  size_t fact_budget_chars = 3500;
  bool prime = true;  // MultiAgentSettings::prime
  bool scrape = true;
  int scrape_period_ms = 250;
  int64_t read_timeout_ms = 600'000;  // --timeout
  int64_t retry_budget_ms = 120'000;  // --retry-budget
  std::string command_line;
  BackendProbes probes;             // how `chimera run` chooses a model (dummy_model set by cli)
  std::function<bool()> cancelled;  // Ctrl-C
  std::function<void(const std::string&)> say;  // one line of news for the person watching
  MultiAgentRunner::OnProgress progress;
};

struct EndpointInfo {
  std::string spec;       // as the agents call it: "ollama://127.0.0.1:41234/gemma3-270m"
  std::string base_url;   // "" for the embedded engine
  int pid = 0;            // spawned servers only
  std::string end_state;  // spawned servers: "running" at the end, or how it ended
  EndpointStats stats;
  lab::EndpointScrapes scrapes;
};

struct AgentsLevel {
  int agents = 0;
  MultiAgentResult result;
  lab::ConcurrencyAnalysis analysis;
};

struct AgentsRun {
  std::string started_utc, today_iso, command_line, output_dir, data_dir;
  BackendChoice choice;
  std::string model;        // what requests name
  std::string model_label;  // what reports call it
  bool synthetic = false;
  Scenario scenario = Scenario::kHomogeneous;
  Assignment assignment = Assignment::kPin;
  int spawn = 0;
  int repetitions = 0;
  uint64_t seed = 0;
  std::optional<int64_t> num_predict;
  std::vector<EndpointInfo> endpoints;
  std::vector<AgentsLevel> levels;
  lab::BenchHeader machine;
  int64_t start_ns = 0;
  int64_t start_unix_ms = 0;
  bool cancelled = false;
  std::string database;              // path, "" when not stored
  std::vector<int64_t> session_ids;  // one session per agent count
  std::vector<std::string> warnings;
  std::vector<std::string> output_files;
};

Result<AgentsRun> run_agents_job(const AgentsJob& job);

}  // namespace chimera::agent
