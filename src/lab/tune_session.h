// One `chimera tune` study end to end, below the command line: what the backend and model say about
// the space (layer count, CPU only, trained context, options it cannot take), the configurations, the
// hardware monitor, every call committed to the results store as it completes (under the study's
// session id, so `--resume ID` continues after Ctrl-C, a crash or kill -9), and the analysis.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lab/bench_report.h"
#include "lab/hwmon.h"
#include "lab/store.h"
#include "lab/tune_analysis.h"
#include "lab/tune_study.h"
#include "llm/backend.h"

namespace chimera::lab {

// A study as stored: what `--resume` needs before it can even pick the backend.
struct StoredStudy {
  int64_t id = 0;
  std::string status;  // "running" (or killed), "interrupted", "completed"
  StudySpec spec;
  std::vector<Configuration> configs;
  SpaceFacts facts;
  std::vector<MeasuredCall> calls;
};
Result<StoredStudy> load_study(ResultsStore& store, int64_t id);

struct TuneSessionOptions {
  StudySpec spec;                        // a new study (ignored when resuming)
  std::optional<StoredStudy> resume;     // continue this one
  std::string command_line;
  std::optional<std::string> db_path;    // nullopt: do not store (then it cannot be resumed)
  bool monitor_hardware = true;
  MonitorOptions monitor;
  TuneWorkload* workload = nullptr;      // nullptr: the prompt workload
  std::function<bool()> should_stop;     // Ctrl-C
  TuneStudy::OnProgress on_progress;
  // Called once the configurations are known, before any call (the CLI prints the plan).
  std::function<void(const StudySpec&, const std::vector<Configuration>&, int64_t planned,
                     std::optional<int64_t> study_id)>
      on_plan;
};

struct TuneSessionResult {
  StudySpec spec;
  std::vector<Configuration> configs;
  SpaceFacts facts;
  StudyRun run;
  TuneAnalysis analysis;
  BenchHeader machine;        // host, CPU, build
  std::string backend_name, backend_version, model_label;
  bool synthetic = false;
  bool ignore_eos = false;
  std::string workload;       // the workload's description
  int calls_per_sample = 1;
  std::optional<int64_t> study_id;
  std::string db_path;
  int64_t started_unix_ms = 0, ended_unix_ms = 0;
  HwSummary hardware;
  std::vector<std::string> warnings;  // storing failed, options the backend reported not applied, ...
};

// Options of the space this backend cannot apply per request, as one error naming each and why;
// ok when it can apply them all. num_gpu on a CPU-only backend is not refused: it is collapsed.
Status check_backend_takes(llm::Backend& backend, const std::vector<ParamAxis>& axes);

// What the backend says about the model: layer count, CPU only, trained context.
SpaceFacts space_facts(llm::Backend& backend, const std::string& model, bool* synthetic,
                       std::string* model_label);

Result<TuneSessionResult> run_tune_session(llm::Backend& backend, const TuneSessionOptions& options);

// A stored study's results rebuilt from the store alone, without a backend or any call (`chimera
// results show ID` of a tune session); an unfinished study shows what it has.
Result<TuneSessionResult> load_tune_session(ResultsStore& store, int64_t id);

}  // namespace chimera::lab
