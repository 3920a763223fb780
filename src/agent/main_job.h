// `chimera run`, all of it but the flags: ingest the data folder, find what the data says, load the
// baseline and Chimera profiles, choose the backend (agent/backend_choice.h), run both agents in
// interleaved pairs (agent/agent_run.h) while sampling the hardware and storing every call, then
// compare the arms (agent/run_summary.h) and write the reports (agent/run_outputs.h). The command
// line (cli/cmd_run.cpp) fills a MainJob from its flags and prints the MainJobResult; tests can
// call run_main_job() without a shell.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_run.h"
#include "agent/backend_choice.h"
#include "agent/run_outputs.h"
#include "agent/run_summary.h"

namespace chimera::agent {

struct MainJob {
  std::string data = "examples/data";
  std::string backend = "auto";  // auto | embedded:PATH | ollama://... | openai://... | ollama:NAME
  std::string model;
  std::string baseline = "baseline", chimera = "chimera-gemma3";  // profile names or .toml files
  std::string out = "reports";  // each run writes OUT/<timestamp>/
  std::string db;               // "" = the default results database
  bool no_store = false;
  bool no_hwmon = false;
  std::optional<double> equivalence_margin;
  bool show_raw = false;
  RunSettings settings;  // runs, seed, output caps, fact budget, prose calls, timeouts
  std::string command_line;
  BackendProbes probes;  // how the backend is chosen (dummy_model is set by the command line)

  std::function<void(const std::string&)> say;  // one line of news for the person watching
  std::function<void(int64_t done, int64_t total, const std::string& detail)> progress;
  std::function<bool()> cancelled;  // asked between calls (Ctrl-C)
  // Around the agents' calls only (a Ctrl-C before them, during a model's synthesis say, still
  // ends the process at once).
  std::function<void()> calls_starting, calls_finished;
  std::function<void(const std::string&)> store_warning;  // storing failed; the run went on
};

struct MainJobResult {
  RunDescription run;
  AgentRunResult result;
  RunSummary summary;
  RunOutputs outputs;
  std::string database;  // "" when not stored
  int64_t session_id = 0;
  size_t ok_executions = 0;
  size_t validator_findings = 0;  // problems the validator found over every report
  std::string first_error;        // of the first failed execution
};

// Errors: an unreadable data folder, an unknown profile, no backend,
// or reports that could not be written (the store warnings are said first).
Result<MainJobResult> run_main_job(const MainJob& job);

}  // namespace chimera::agent
