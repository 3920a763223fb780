// One `chimera bench` session end to end, below the command line: the self-describing header, the
// hardware monitor around the run, every call committed to the results store as it completes (with
// the hardware samples taken so far), the analysis, and the summary stored at the end. Also the
// reverse: a stored session read back into the same report (`chimera results show/export`).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lab/bench_report.h"
#include "lab/bench_runner.h"
#include "lab/hwmon.h"
#include "lab/store.h"
#include "llm/backend.h"

namespace chimera::lab {

struct BenchSessionOptions {
  std::string backend_spec;   // as the user wrote it
  std::string command_line;
  BenchPlan plan;
  std::optional<double> equivalence_margin;  // --equivalence: relative margin for TOST verdicts
  std::optional<std::string> db_path;  // nullopt: do not store
  MonitorOptions monitor;
  bool monitor_hardware = true;
  std::function<bool()> should_stop;                      // Ctrl-C
  std::function<void(int64_t done, int64_t total, const MeasuredCall&)> on_progress;
};

struct BenchSessionResult {
  BenchReport report;
  std::vector<MeasuredCall> calls;
  std::vector<HwSample> samples;
  std::vector<std::string> store_warnings;  // the run went on, but storing failed
};

// The header's machine and build lines, filled from this process (host, CPU, build).
BenchHeader machine_header();

// A results-store session of `command` on the machine `machine` describes (host, CPU, build).
SessionInfo session_info(const BenchHeader& machine, std::string command, std::string args,
                         std::string backend, std::string model, int64_t started_unix_ms);

Result<BenchSessionResult> run_bench_session(llm::Backend& backend,
                                             const BenchSessionOptions& options);

// A stored session rebuilt into its report, from its header, calls and hardware samples.
Result<BenchSessionResult> load_bench_session(ResultsStore& store, int64_t session_id);

}  // namespace chimera::lab
